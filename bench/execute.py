"""Running one job inside a worker: encode (or decode), measure, write the row.

`run_job` never raises for a failing job: the error becomes a row with
status "failed" and its message, so the next run retries it. Each job logs to
`<out>/logs/<job_id>.log`; its bitstream, decoded PNG and row are written
atomically.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import threading
import time
from pathlib import Path

from bench import rows
from bench.jobs import KIND_CLASSICAL, KIND_DECODE, KIND_ENCODE, Job
from bench.measure import measure_classical, measure_coolchic
from bench.provenance import host_name, recipe_sha256, runtime_provenance
from coolchic_core.atomic_io import atomic_write_bytes
from coolchic_core.errors import CoolChicError
from coolchic_core.image_io import read_image

LOGGER = logging.getLogger(__name__)

LOGS_DIR = "logs"
DECODED_DIR = "decoded"
_LOGGED_PACKAGES = ("coolchic_core", "bench")
PROGRESS_LOG_INTERVAL_S = 10.0

# Encoder metrics (the original's encoder_results.txt fields) -> row columns.
ENCODER_METRICS = {
    "psnr": "enc_psnr_db",
    "rate_latent_bpp": "enc_rate_latent_bpp",
    "rate_mlp_bpp": "enc_rate_mlp_bpp",
    "rate_all_bpp": "enc_rate_all_bpp",
    "training_time_second": "enc_training_time_s",
    "n_iteration": "n_iterations",
    "device_name": "device_name",
    "backend": "backend",
}


def run_job(job: Job, device: str = "cpu", threads: int | None = None) -> dict:
    """Run `job` on `device` with `threads` torch threads; write and return its row."""
    log_path = Path(job.out_dir) / LOGS_DIR / f"{job.job_id}.log"
    with job_log(log_path):
        LOGGER.info(
            "job %s on %s, %s threads: %s", job.job_id, device, threads, job.configuration()
        )
        try:
            if job.kind != KIND_CLASSICAL:
                set_torch_threads(threads)
            measures = _RUNNERS[job.kind](job, device, threads)
            row = make_row(job, device, threads, measures, rows.STATUS_OK)
            LOGGER.info("done: %.4f bpp, %.4f dB", row["rate_bpp"], row["psnr_db"])
        except Exception as exc:  # noqa: BLE001 - any failure becomes a failed row
            LOGGER.exception("job %s failed", job.job_id)
            row = failed_row(job, error_message(exc), device, threads)
    return store_row(job, row)


def store_row(job: Job, row: dict) -> dict:
    """Write `row`; if it cannot be written (disk full...), return a failed row instead.

    The row file is replaced atomically or not at all, so a job whose row could not
    be written keeps its previous row, which no longer matches a replaced bitstream:
    the next run redoes it.
    """
    try:
        rows.write_row(job.out_dir, row)
    except CoolChicError as exc:
        LOGGER.error("job %s: %s", job.job_id, exc)
        return {**row, "status": rows.STATUS_FAILED, "error": f"row not written: {exc}"}
    return row


def failed_row(job: Job, message: str, device: str | None, threads: int | None) -> dict:
    """The row of a job that did not produce a result."""
    return make_row(job, device, threads, {}, rows.STATUS_FAILED, message)


def make_row(job: Job, device, threads, measures: dict, status: str, error: str = "") -> dict:
    row = {
        "seq_name": job.image_id,
        job.point_key: job.point,
        "rate_bpp": None,
        "psnr_db": None,
        **measures,
        "codec": job.codec,
        "dataset": job.dataset,
        "preset": job.preset,
        "seed": job.seed,
        "device": device,
        "device_name": measures.get("device_name") or _device_name(device),
        "job_id": job.job_id,
        "kind": job.kind,
        "config_hash": job.config_hash,
        "bitstream": job.bitstream,
        "image_path": job.image_path,
        "image_sha256": job.image_sha256,
        **job.provenance,
        "recipe_sha256": recipe_sha256(job.codec_settings),
        **runtime_provenance(device, threads),
        "hostname": host_name(),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "status": status,
        "error": error,
    }
    return row


def error_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def set_torch_threads(threads: int | None) -> None:
    """Give this worker's torch `threads` intra-op threads (no-op if None)."""
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _encode(job: Job, device: str, threads: int | None) -> dict:
    import coolchic_core

    original = read_image(job.image_path)
    start = time.perf_counter()
    result = coolchic_core.encode(
        original,
        job.point,
        preset=job.preset,
        seed=job.seed,
        device=device,
        threads=threads,
        progress=ProgressLog(),
        format=job.bitstream_format,
    )
    enc_time_s = time.perf_counter() - start
    bitstream = _write_bitstream(job, result.bitstream)
    measures = measure_coolchic(bitstream, original, _png_path(job))
    measures["enc_time_s"] = enc_time_s
    for key, column in ENCODER_METRICS.items():
        if key in result.metrics:
            measures[column] = _plain(result.metrics[key])
    return measures


def _classical(job: Job, device: str, threads: int | None) -> dict:
    from bench.classical import get_codec

    codec = get_codec(job.codec)
    original = read_image(job.image_path)
    start = time.perf_counter()
    data = codec.encode(original, job.point)
    enc_time_s = time.perf_counter() - start
    bitstream = _write_bitstream(job, data)
    measures = measure_classical(codec, bitstream, original, _png_path(job))
    measures["enc_time_s"] = enc_time_s
    if hasattr(codec, "version"):
        measures["codec_version"] = codec.version()
    return measures


def _decode(job: Job, device: str, threads: int | None) -> dict:
    original = read_image(job.image_path)
    return measure_coolchic(Path(job.bitstream), original, _png_path(job))


_RUNNERS = {KIND_ENCODE: _encode, KIND_CLASSICAL: _classical, KIND_DECODE: _decode}


def _write_bitstream(job: Job, data: bytes) -> Path:
    path = Path(job.bitstream)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, bytes(data))
    return path


def _png_path(job: Job) -> Path | None:
    if not job.save_decoded:
        return None
    return Path(job.out_dir) / DECODED_DIR / f"{job.job_id}.png"


def _plain(value):
    """Numbers from numpy/torch as plain Python numbers (JSON-able)."""
    if hasattr(value, "item"):
        return value.item()
    return value


def _device_name(device: str | None) -> str | None:
    """The CPU's model or the GPU's name; None when no device ran the job."""
    if device is None:
        return None
    from coolchic_core.devices import device_name

    try:
        return device_name(device)
    except Exception:  # noqa: BLE001 - a name is detail, never a reason to lose a row
        return None


class ProgressLog:
    """An encoder progress callback that logs what it is given, at most every 10 s."""

    def __init__(self, interval_s: float = PROGRESS_LOG_INTERVAL_S):
        self.interval_s = interval_s
        self.last = -float("inf")

    def __call__(self, *args, **kwargs) -> None:
        now = time.monotonic()
        if now - self.last < self.interval_s:
            return
        self.last = now
        details = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        LOGGER.info("progress: %s", ", ".join(details))


@contextlib.contextmanager
def job_log(path: Path):
    """Send this thread's log records of the project's packages to `path` meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _JobLogHandler(path, mode="w", encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    thread_id = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread_id)
    loggers = [logging.getLogger(name) for name in _LOGGED_PACKAGES]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


class _JobLogHandler(logging.FileHandler):
    """A job's log file; a failing write (disk full) drops the record instead of a traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        return
