"""The bench as a library: settings -> jobs -> run (skipping finished ones) -> collected TSVs.

`prepare(settings)` finds the dataset, checks its images and lists the jobs,
takes the output folder's lock (bench.lock: one bench per folder), removes the
temporary files an interrupted run left, and splits the jobs into those to run
and those already done (bench.plan, with the reason of each rerun); with
`take_lock=False` (a dry run) it writes nothing. `execute(plan, on_result)`
runs them on a local pool or a Dask cluster, calling `on_result(row)` as each
finishes, then rebuilds raw_results.tsv and average_results.tsv from the rows
and releases the lock.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import jobs as jobs_mod
from bench import naming, rows
from bench.collect import Collected, collect
from bench.execute import error_message, failed_row, run_job, store_row
from bench.inputs import check_images, check_memory, check_points
from bench.jobs import COOLCHIC, Job
from bench.lock import FolderLock, remove_stale_temp_files
from bench.plan import split_done
from bench.provenance import project_provenance
from bench.schedule import DEFAULT_JOBS_PER_GPU, DaskPool, LocalPool
from coolchic_core import formats
from coolchic_core.errors import InputError
from coolchic_core.limits import seed_problem, threads_problem
from coolchic_core.presets import get_preset, recipe
from datasets import Dataset, open_dataset
from datasets.checksum import sha256_file

LOGGER = logging.getLogger(__name__)

PAPER_LAMBDAS = (0.0001, 0.0005, 0.004, 0.02)


@dataclass
class BenchSettings:
    """Everything `coolchic bench` can be told (see bench.cli for the options)."""

    dataset: str = "kodak"
    data_dir: str | None = None
    images: list[str] | None = None
    codec: str = COOLCHIC
    lambdas: list[float] | None = None  # None: the paper's four (encode) or all (decode-only)
    qualities: list[int | float] | None = None
    preset: str = "paper"
    bitstream_format: str = jobs_mod.DEFAULT_FORMAT  # what COOL-CHIC encodes write
    seed: int = 0
    out: Path = Path("results/kodak")
    workers: int = 1
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    jobs_per_gpu: int = DEFAULT_JOBS_PER_GPU
    threads: int | None = None
    scheduler_address: str | None = None
    force: bool = False
    decode_only: Path | None = None
    save_decoded: bool = False
    download: bool = True
    wait: bool = False  # wait for another bench using `out` instead of refusing


@dataclass
class Plan:
    settings: BenchSettings
    dataset: Dataset
    jobs: list[Job]
    to_run: list[Job]
    skipped: list[Job]
    pool: LocalPool | DaskPool
    rerun_reasons: dict[str, str] = field(default_factory=dict)  # job id -> why it runs again
    lock: FolderLock | None = None
    removed_temp_files: int = 0


@dataclass
class Summary:
    total: int
    done: int
    skipped: int
    failed: list[tuple[str, str]]
    wall_time_s: float
    collected: Collected | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def prepare(settings: BenchSettings, take_lock: bool = True, on_wait=None) -> Plan:
    """Check the settings and images, list the jobs and which are already done.

    With `take_lock` (a real run) the plan holds `--out`'s lock until `execute`
    ends; `on_wait(holder)` is called if it has to wait for another bench.
    """
    _check(settings)
    # Absolute paths: jobs may run on other machines (sharing the file system).
    settings = dataclasses.replace(settings, out=settings.out.resolve())
    pool = make_pool(settings)
    provenance = project_provenance()
    if settings.decode_only is not None:
        dataset, job_list = _decode_plan(settings, provenance)
    else:
        dataset = _open(settings, settings.images)
        job_list = _encode_plan(settings, dataset, provenance)
    check_images(dataset)
    cpu_encoders = _local_cpu_encoders(settings, pool)
    if cpu_encoders:
        check_memory(dataset, cpu_encoders)
    lock = _lock_out(settings, on_wait) if take_lock else None
    try:
        removed = remove_stale_temp_files(settings.out) if lock is not None else []
        reasons: dict[str, str] = {}
        to_run, skipped = split_done(job_list, settings.force, reasons)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return Plan(settings, dataset, job_list, to_run, skipped, pool, reasons, lock, len(removed))


def _local_cpu_encoders(settings: BenchSettings, pool) -> int:
    """How many COOL-CHIC encodes run at once on this machine's CPUs (GPUs have their own
    memory; a cluster's nodes are their own business)."""
    if not isinstance(pool, LocalPool) or settings.codec != COOLCHIC or settings.decode_only:
        return 0
    return pool.slots.count("cpu")


def _lock_out(settings: BenchSettings, on_wait) -> FolderLock:
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {settings.out}: {exc.strerror}") from None
    lock = FolderLock(settings.out)
    lock.acquire(wait=settings.wait, on_wait=on_wait)
    return lock


def execute(plan: Plan, on_result: Callable[[dict], None] | None = None) -> Summary:
    """Run the plan's jobs, then rebuild the collected TSVs from all rows of `--out`."""
    try:
        return _execute(plan, on_result)
    finally:
        if plan.lock is not None:
            plan.lock.release()


def _execute(plan: Plan, on_result: Callable[[dict], None] | None) -> Summary:
    start = time.perf_counter()
    try:  # here, not in prepare: a dry run writes nothing
        plan.settings.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {plan.settings.out}: {exc.strerror}") from None
    failed, done = [], 0
    try:
        for job, outcome in plan.pool.run(plan.to_run, run_job):
            row = _row_of(job, outcome)
            if row["status"] == rows.STATUS_OK:
                done += 1
            else:
                failed.append((job.job_id, row["error"]))
            if on_result is not None:
                on_result(row)
    except KeyboardInterrupt:
        collect(plan.settings.out, codec=plan.settings.codec)  # keep what finished
        raise
    collected = collect(plan.settings.out, codec=plan.settings.codec)
    return Summary(
        total=len(plan.jobs),
        done=done,
        skipped=len(plan.skipped),
        failed=failed,
        wall_time_s=time.perf_counter() - start,
        collected=collected,
    )


def make_pool(settings: BenchSettings) -> LocalPool | DaskPool:
    if settings.scheduler_address:
        if len(settings.devices) > 1:
            raise InputError(
                "with --scheduler-address give one device (cpu or cuda): start one Dask worker "
                "per GPU with CUDA_VISIBLE_DEVICES set instead of listing GPUs"
            )
        return DaskPool(settings.scheduler_address, settings.devices[0], settings.threads)
    return LocalPool(settings.workers, settings.devices, settings.threads, settings.jobs_per_gpu)


def _row_of(job: Job, outcome) -> dict:
    """The worker's row, or a failed row written here if the worker itself died."""
    if isinstance(outcome, dict):
        return outcome
    return store_row(job, failed_row(job, f"worker lost: {error_message(outcome)}", None, None))


def _check(settings: BenchSettings) -> None:
    problem = seed_problem(settings.seed) or threads_problem(settings.threads)
    if problem:
        raise InputError(problem)
    if settings.workers < 1:
        raise InputError(f"--workers must be at least 1, got {settings.workers}")
    if settings.jobs_per_gpu < 1:
        raise InputError(f"--jobs-per-gpu must be at least 1, got {settings.jobs_per_gpu}")
    if settings.out.exists() and not settings.out.is_dir():
        raise InputError(f"--out {settings.out} exists and is not a folder")
    check_points(settings.lambdas, "--lambdas")
    check_points(settings.qualities, "--qualities")
    if settings.decode_only is not None and settings.codec != COOLCHIC:
        raise InputError("--decode-only reads COOL-CHIC bitstreams; it cannot go with --codec")
    if settings.codec == COOLCHIC and settings.decode_only is None:
        get_preset(settings.preset)
        formats.get(settings.bitstream_format)
    elif settings.bitstream_format != jobs_mod.DEFAULT_FORMAT:
        raise InputError(
            "--format chooses what COOL-CHIC encodes write; decoding finds it from the bytes"
            if settings.decode_only is not None
            else f"--format is for COOL-CHIC encodes, not --codec {settings.codec}"
        )
    if not settings.scheduler_address:  # cluster GPUs are the workers' business
        _check_gpus(settings.devices)


def _check_gpus(devices: list[str]) -> None:
    from coolchic_core.devices import check_devices

    try:
        check_devices(devices)
    except InputError as exc:
        raise InputError(f"--devices: {exc}") from None


def _open(settings: BenchSettings, images: list[str] | None) -> Dataset:
    return open_dataset(settings.dataset, settings.data_dir, images, download=settings.download)


def _encode_plan(settings: BenchSettings, dataset: Dataset, provenance: dict) -> list[Job]:
    if settings.codec == COOLCHIC:
        lambdas = settings.lambdas or list(PAPER_LAMBDAS)
        jobs = jobs_mod.encode_jobs(
            dataset,
            lambdas,
            settings.preset,
            settings.seed,
            settings.out,
            settings.save_decoded,
            provenance,
            settings.bitstream_format,
        )
        # The preset's whole recipe is part of the configuration: editing a preset reruns.
        recipe_text = json.dumps(recipe(get_preset(settings.preset)), sort_keys=True)
        return [dataclasses.replace(job, codec_settings=recipe_text) for job in jobs]
    from bench.classical import get_codec

    codec = get_codec(settings.codec)
    qualities = settings.qualities or list(codec.default_qualities)
    if hasattr(codec, "check_quality"):
        qualities = [codec.check_quality(quality) for quality in qualities]
    codec_settings = json.dumps(getattr(codec, "settings", None), sort_keys=True, default=str)
    return jobs_mod.classical_jobs(
        dataset,
        codec.name,
        qualities,
        settings.seed,
        settings.out,
        settings.save_decoded,
        provenance,
        codec_settings,
    )


def _decode_plan(settings: BenchSettings, provenance: dict) -> tuple[Dataset, list[Job]]:
    found = find_bitstreams(settings.decode_only)
    wanted = set(settings.images) if settings.images else None
    if wanted is not None:
        found = {k: v for k, v in found.items() if k[0] in wanted}
    if settings.lambdas:
        found = {k: v for k, v in found.items() if k[1] in settings.lambdas}
    if not found:
        raise InputError(
            f"no bitstream named <image>-lambda<digits>.bin selected in {settings.decode_only}"
        )
    image_ids = sorted({image_id for image_id, _ in found})
    dataset = _open(settings, image_ids)
    with_sums = {key: (path, sha256_file(path)) for key, path in found.items()}
    return dataset, jobs_mod.decode_jobs(
        dataset, with_sums, settings.out, settings.save_decoded, provenance
    )


def find_bitstreams(folder: Path) -> dict[tuple[str, float], Path]:
    """(image id, lambda) -> path of each `<image>-lambda<digits>.bin` in `folder`."""
    if not folder.is_dir():
        raise InputError(f"--decode-only {folder} is not a folder")
    found = {}
    for path in sorted(folder.iterdir()):
        parsed = naming.parse_bitstream_name(path.name)
        if parsed is not None and path.is_file():
            found[parsed] = path.resolve()
    return found
