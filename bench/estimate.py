"""How long a bench plan will take on this machine, before it runs.

A COOL-CHIC encode costs `iterations x ms per iteration + q-step search +
decoding`. The iterations come from the preset (`TrainingConfig.n_itr_planned`);
the `paper` preset's plateau schedule stops early, so there the count is a
typical one (the median `n_iterations` of finished rows of the same preset in
`--out` when there are some, else `TYPICAL_PLATEAU_MAIN_ITERATIONS`). The
per-iteration time and the fixed costs are measured: a few training steps of
the job's image size, run by the pool's own workers (all at once, so the
measure includes their contention for the memory bus), then one q-step search
and one decode of a model with random latents of that size. Measures are
cached per machine in `$XDG_CACHE_HOME/coolchic/bench-speed.json` (or the file
named by `$COOLCHIC_SPEED_CACHE`), keyed by
CPU model, torch version, device, threads, workers, image size, preset,
architecture and project commit. Classical codecs and decode-only jobs are
timed on the first image of each size (one encode and decode in memory, or
one decode of the job's bitstream).

Nothing is written under `--out`. Not counted: the evaluation every 100
iterations (about 1 %), the fused kernels' one-time build, the runner's start.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import rows
from bench.jobs import DEFAULT_FORMAT, KIND_CLASSICAL, KIND_DECODE, KIND_ENCODE, Job
from bench.schedule import DaskPool
from coolchic_core.atomic_io import atomic_write_text
from coolchic_core.errors import InputError
from coolchic_core.presets import TrainingConfig, get_preset, recipe

LOGGER = logging.getLogger(__name__)

# The paper preset's main phase runs until the plateau schedule's learning rate
# falls below 4e-4 (at most 1e6 iterations). The original's published results
# carry no iteration counts; this typical count comes from this encoder with
# `coolchic encode --preset paper --threads 1` on 192x128 (Lanczos) reductions
# of Kodak images, 1,000 warm-up iterations included: kodim23 at lambda 0.004
# stopped after 21,400, kodim01 at lambda 0.0001 after 14,900 (mean 18,150);
# docs/bench.md gives the commands.
TYPICAL_PLATEAU_MAIN_ITERATIONS = 17_000
PROBE_STEPS = 12  # training steps timed per probe
PROBE_SKIPPED_STEPS = 3  # first steps left out of the median (allocation, caches)
PROBE_LAMBDA = 1e-3
PROBE_LATENT_SCALE = 1.0  # Laplace scale of the probe's random latents
PROBE_LATENT_BOUND = 16
DECODES_PER_ENCODE = 2  # the encoder checks its bytes, then the bench measures them
CACHE_FILE = "bench-speed.json"
CACHE_ENV = "COOLCHIC_SPEED_CACHE"
CACHE_VERSION = 1


@dataclass(frozen=True)
class Iterations:
    """Training iterations of one encode: `count` to plan with, `exact` or typical."""

    count: int
    exact: bool
    maximum: int
    source: str


@dataclass(frozen=True)
class Speed:
    """Measured costs of one encode on one kind of slot, at one image size."""

    ms_per_iteration: float
    quantize_s: float  # q-step search and writing the bitstream
    decode_s: float


@dataclass(frozen=True)
class SpeedProbe:
    """What a worker measures: a few training steps, then one q-step search and decode."""

    job_id: str
    preset: str
    height: int
    width: int
    exhaustive: bool
    bitstream_format: str = DEFAULT_FORMAT
    n_steps: int = PROBE_STEPS

    def model_config(self):
        """The architecture the probe trains: its format's default."""
        from coolchic_core import formats

        return formats.get(self.bitstream_format).default_model_config()


@dataclass(frozen=True)
class JobEstimate:
    job_id: str
    seconds: float
    detail: str


@dataclass
class PlanEstimate:
    """Estimated seconds of each job to run, the skipped jobs, totals for the pool."""

    to_run: list[JobEstimate]
    skipped: list[str]
    n_slots: int | None  # None: a cluster, its parallelism is unknown here
    speeds: dict[tuple[int, int], Speed]
    speed_source: str

    @property
    def job_time_s(self) -> float:
        return sum(job.seconds for job in self.to_run)

    @property
    def wall_time_s(self) -> float | None:
        if self.n_slots is None:
            return None
        return makespan_s([job.seconds for job in self.to_run], self.n_slots)


def makespan_s(durations_s: list[float], n_slots: int) -> float:
    """Wall time of jobs given in order to `n_slots` slots, each to the first free one."""
    return max(finish_times_s(durations_s, n_slots), default=0.0)


def finish_times_s(durations_s: list[float], n_slots: int) -> list[float]:
    """When each job ends if every job goes, in order, to the slot that frees first."""
    slots = [0.0] * max(1, n_slots)
    finishes = []
    for duration in durations_s:
        start = heapq.heappop(slots)
        finishes.append(start + duration)
        heapq.heappush(slots, start + duration)
    return finishes


def planned_iterations(cfg: TrainingConfig, recorded: list[int] | None = None) -> Iterations:
    """Iterations of one encode with `cfg`; `recorded` counts of finished runs refine a plateau."""
    maximum = cfg.n_itr_planned
    if cfg.schedule != "plateau":
        return Iterations(maximum, True, maximum, "the preset's iteration count")
    if recorded:
        count = int(statistics.median(recorded))
        return Iterations(count, False, maximum, f"median of {len(recorded)} finished run(s)")
    warmup = cfg.n_trial_warmup * cfg.n_itr_warmup
    count = warmup + min(cfg.n_itr, TYPICAL_PLATEAU_MAIN_ITERATIONS) + cfg.n_itr_final_ste
    return Iterations(count, False, maximum, "typical count, the schedule stops early")


def recorded_iterations(out_dir: Path, preset: str) -> dict[float | None, list[int]]:
    """n_iterations of the ok rows of `preset` in `out_dir`, by lambda (None: all lambdas)."""
    found: dict[float | None, list[int]] = {None: []}
    for row in rows.load_rows(out_dir):
        count = row.get("n_iterations")
        if row.get("status") != rows.STATUS_OK or row.get("preset") != preset:
            continue
        if isinstance(count, int) and count > 0:
            found[None].append(count)
            found.setdefault(row.get("lmbda"), []).append(count)
    return found


def encode_seconds(iterations: Iterations, speed: Speed) -> float:
    return (
        iterations.count * speed.ms_per_iteration / 1000.0
        + speed.quantize_s
        + DECODES_PER_ENCODE * speed.decode_s
    )


def estimate_plan(plan, measure: Callable[[SpeedProbe], Speed] | None = None) -> PlanEstimate:
    """Estimate every job of `plan` (bench.runner.Plan) that would run.

    `measure(probe) -> Speed` times COOL-CHIC training on the plan's pool
    (default: `PoolMeasure`, cached per machine); tests inject their own.
    """
    to_run = plan.to_run
    measure = measure or PoolMeasure(plan.pool)
    estimates: list[JobEstimate] = []
    speeds: dict[tuple[int, int], Speed] = {}
    encode_jobs = [job for job in to_run if job.kind == KIND_ENCODE]
    if encode_jobs:
        estimates_by_id = _encode_estimates(plan, encode_jobs, measure, speeds)
    else:
        estimates_by_id = {}
    other = [job for job in to_run if job.kind != KIND_ENCODE]
    estimates_by_id.update(_timed_estimates(other))
    estimates = [estimates_by_id[job.job_id] for job in to_run]
    n_slots = None if isinstance(plan.pool, DaskPool) else len(plan.pool.slots)
    return PlanEstimate(
        to_run=estimates,
        skipped=[job.job_id for job in plan.skipped],
        n_slots=n_slots,
        speeds=speeds,
        speed_source=getattr(measure, "source", "measured"),
    )


def _encode_estimates(plan, jobs: list[Job], measure, speeds: dict) -> dict[str, JobEstimate]:
    preset = jobs[0].preset
    cfg = get_preset(preset)
    recorded = recorded_iterations(plan.settings.out, preset)
    sizes = _sizes(plan.dataset)
    estimates = {}
    for job in jobs:
        size = sizes[job.image_id]
        speed = _same_pixels(speeds, size)
        if speed is None:
            probe = SpeedProbe(
                f"speed-probe-{size[1]}x{size[0]}",
                preset,
                *size,
                preset == "paper",
                job.bitstream_format,
            )
            speed = speeds[size] = measure(probe)
        counts = recorded.get(job.point) or recorded[None]
        iterations = planned_iterations(cfg, counts)
        detail = f"{iterations.count} iterations"
        if not iterations.exact:
            detail = f"about {detail} ({iterations.source}; at most {iterations.maximum})"
        estimates[job.job_id] = JobEstimate(job.job_id, encode_seconds(iterations, speed), detail)
    return estimates


def _same_pixels(speeds: dict, size: tuple[int, int]) -> Speed | None:
    """The speed measured at `size` or at its transpose (portrait and landscape cost the same)."""
    return speeds.get(size) or speeds.get(size[::-1])


def _sizes(dataset) -> dict[str, tuple[int, int]]:
    """(height, width) of each image of the dataset, read from the file headers."""
    from PIL import Image

    sizes = {}
    for entry in dataset.images:
        with Image.open(entry.path) as image:
            sizes[entry.id] = (image.height, image.width)
    return sizes


def _timed_estimates(jobs: list[Job]) -> dict[str, JobEstimate]:
    """Classical and decode jobs: the first job of each (kind, codec, size) timed in memory."""
    timed: dict[tuple, float] = {}
    estimates = {}
    for job in jobs:
        original = _read(job.image_path)
        key = (job.kind, job.codec, original.shape)
        what = "decode" if job.kind == KIND_DECODE else f"{job.codec} encode and decode"
        if key not in timed:
            try:
                timed[key] = _time_job(job, original)
            except Exception as exc:  # noqa: BLE001 - the job itself will fail the same way
                estimates[job.job_id] = JobEstimate(job.job_id, 0.0, f"will fail: {_message(exc)}")
                continue
        estimates[job.job_id] = JobEstimate(job.job_id, timed[key], f"{what} (timed once)")
    return estimates


def _read(path: str) -> np.ndarray:
    from coolchic_core.image_io import read_image

    return read_image(path)


def _time_job(job: Job, original: np.ndarray) -> float:
    start = time.perf_counter()
    if job.kind == KIND_DECODE:
        from bench.measure import measure_coolchic

        measure_coolchic(Path(job.bitstream), original, None)
    elif job.kind == KIND_CLASSICAL:
        from bench.classical import get_codec

        codec = get_codec(job.codec)
        codec.decode(codec.encode(original, job.point))
    return time.perf_counter() - start


def probe_encode_speed(probe: SpeedProbe, device: str = "cpu", threads: int | None = None) -> dict:
    """Time training steps, a q-step search and a decode at the probe's size (in a worker)."""
    from bench.execute import set_torch_threads
    from coolchic_core import formats
    from coolchic_core.decoder import decode_bitstream
    from coolchic_core.training import fit

    set_torch_threads(threads)
    cfg = dataclasses.replace(
        get_preset(probe.preset),
        n_trial_warmup=0,
        n_itr=probe.n_steps,
        n_itr_final_ste=0,
        schedule="cosine",
        eval_every=probe.n_steps,
    )
    rng = np.random.default_rng(0)
    image = rng.random((probe.height, probe.width, 3), dtype=np.float32)
    stamps: list[float] = []

    def stamp(_progress) -> None:
        stamps.append(time.perf_counter())

    model_config = probe.model_config()
    fitted = fit(image, PROBE_LAMBDA, model_config, cfg, progress=stamp, device=device)
    steps_s = np.diff(stamps)[PROBE_SKIPPED_STEPS:]
    fitted.latents_int = [_random_latents(rng, grid.shape) for grid in fitted.latents_int]
    start = time.perf_counter()
    bitstream, _ = formats.get(probe.bitstream_format).write(
        fitted, image, PROBE_LAMBDA, model_config, probe.exhaustive
    )
    quantize_s = time.perf_counter() - start
    start = time.perf_counter()
    decode_bitstream(bitstream)
    decode_s = time.perf_counter() - start
    return {
        "ms_per_iteration": float(np.median(steps_s)) * 1000.0,
        "quantize_s": quantize_s,
        "decode_s": decode_s,
    }


def _random_latents(rng: np.random.Generator, shape) -> np.ndarray:
    """Integer latents of a trained model's spread, so that coding them costs what it will."""
    values = np.round(rng.laplace(0.0, PROBE_LATENT_SCALE, shape))
    return np.clip(values, -PROBE_LATENT_BOUND, PROBE_LATENT_BOUND).astype(np.int32)


class PoolMeasure:
    """`measure` for `estimate_plan`: probes run by the pool's workers, cached per machine."""

    def __init__(self, pool, cache: Path | None = None):
        self.pool = pool
        self.cache = SpeedCache(cache or cache_path())
        self.source = f"measured on the workers, cached in {self.cache.path}"

    def __call__(self, probe: SpeedProbe) -> Speed:
        key = self.key(probe)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        speed = self._probe(probe)
        self.cache.put(key, speed)
        return speed

    def key(self, probe: SpeedProbe) -> str:
        import torch

        from bench.provenance import project_provenance

        fields = {
            "cpu": cpu_model(),
            "torch": torch.__version__,
            "pool": self.pool.describe(),
            "size": [probe.height, probe.width],
            "preset": recipe(get_preset(probe.preset)),
            "exhaustive": probe.exhaustive,
            "format": probe.bitstream_format,
            "model": dataclasses.asdict(probe.model_config()),
            "commit": project_provenance().get("git_commit"),
        }
        return json.dumps(fields, sort_keys=True)

    def _probe(self, probe: SpeedProbe) -> Speed:
        n_probes = 1 if isinstance(self.pool, DaskPool) else len(self.pool.slots)
        probes = [dataclasses.replace(probe, job_id=f"{probe.job_id}-{i}") for i in range(n_probes)]
        LOGGER.info(
            "measuring the %s %s encode speed at %dx%d on %d worker(s) (once per machine)",
            probe.bitstream_format,
            probe.preset,
            probe.width,
            probe.height,
            n_probes,
        )
        results = [outcome for _, outcome in self.pool.run(probes, probe_encode_speed)]
        failures = [r for r in results if not isinstance(r, dict)]
        if failures:
            raise InputError(f"cannot measure the encode speed: {_message(failures[0])}")
        return Speed(**{name: statistics.mean(r[name] for r in results) for name in results[0]})


def _message(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class SpeedCache:
    """A small JSON file of measured speeds, keyed by `PoolMeasure.key`, written atomically."""

    def __init__(self, path: Path):
        self.path = path

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        return data.get("speeds", {}) if isinstance(data.get("speeds"), dict) else {}

    def get(self, key: str) -> Speed | None:
        entry = self._load().get(key)
        try:
            return Speed(**entry) if isinstance(entry, dict) else None
        except TypeError:
            return None

    def put(self, key: str, speed: Speed) -> None:
        speeds = self._load()
        speeds[key] = dataclasses.asdict(speed)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"version": CACHE_VERSION, "speeds": speeds}, indent=1)
            atomic_write_text(self.path, text + "\n")
        except OSError as exc:
            LOGGER.warning("cannot write the speed cache %s: %s", self.path, exc)


def cache_path(env: dict | None = None) -> Path:
    """$COOLCHIC_SPEED_CACHE, else $XDG_CACHE_HOME/coolchic/bench-speed.json (~/.cache/...)."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "coolchic" / CACHE_FILE


def cpu_model() -> str:
    """The CPU's model name (`coolchic_core.devices.cpu_name`)."""
    from coolchic_core.devices import cpu_name

    return cpu_name()
