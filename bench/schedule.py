"""Where jobs run: local worker processes (joblib's loky) or a Dask cluster.

Both pools take a job function `fn(job, device, threads) -> row` and yield
`(job, row_or_exception)` as jobs finish.

- `LocalPool`: one loky process per slot. On CPU, `workers` slots, each job
  with max(1, cores // slots) torch threads. With GPUs, `jobs_per_gpu` slots
  per GPU (and `workers` CPU slots beside them when `cpu` is listed too): a
  job is submitted only when a slot is free and runs on its device. Jobs that
  need no GPU (classical codecs, decode-only) run on the CPU in any slot.
- `DaskPool`: every job is submitted to a dask.distributed scheduler; the
  cluster's workers decide the parallelism (one job per worker thread). With
  `--devices cuda`, COOL-CHIC encodes ask for one unit of the `GPU` resource,
  which GPU workers declare (`dask worker --resources GPU=1`, one worker per
  GPU with CUDA_VISIBLE_DEVICES set); jobs that need no GPU ask for nothing.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from coolchic_core.errors import InputError

LOGGER = logging.getLogger(__name__)

_SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/]+:[0-9]+$")
DASK_CONNECT_TIMEOUT_S = 30
PARENT_POLL_S = 1.0

JobFn = Callable[..., dict]
Outcome = tuple[object, object]


def available_cores() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# The resource GPU workers of a Dask cluster declare; a COOL-CHIC encode asks for one unit.
DASK_GPU_RESOURCE = "GPU"
# Encodes at once per GPU. Not measured yet: K = 1, 2, 4, 8 on an H200 are to be timed.
DEFAULT_JOBS_PER_GPU = 1


def parse_devices(text: str, local: bool = True) -> list[str]:
    """`--devices`: auto, all, cpu or a list such as cuda:0,cuda:1[,cpu] (coolchic_core.devices).

    Locally the GPUs are checked to exist. For a Dask cluster (`local=False`)
    the workers own the GPUs: `cpu` (also what `auto` means there) or `cuda`
    (jobs go to GPU workers).
    """
    from coolchic_core import devices

    if local:
        return devices.parse_device_list(text)
    if str(text).strip() == "auto":  # the head node cannot see the workers' GPUs
        return ["cpu"]
    spec = [devices.parse_device(item) for item in str(text).split(",") if item.strip()]
    if spec == ["cpu"]:
        return spec
    if len(spec) == 1 and devices.is_cuda(spec[0]):
        return ["cuda"]
    raise InputError(
        "with --scheduler-address, --devices is cpu or cuda: start one Dask worker per GPU "
        f"with --resources {DASK_GPU_RESOURCE}=1 and CUDA_VISIBLE_DEVICES set"
    )


def needs_gpu(job) -> bool:
    """Whether `job` trains a model (a COOL-CHIC encode); classical and decode-only jobs do not."""
    from bench.jobs import KIND_ENCODE

    return getattr(job, "kind", KIND_ENCODE) == KIND_ENCODE


def device_for(job, slot: str) -> str:
    """The device `job` runs on in `slot`: the slot's, or the CPU for a job without training."""
    return slot if needs_gpu(job) else "cpu"


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or available_cores()) // max(1, workers))


def check_scheduler_address(address: str) -> str:
    if not _SCHEDULER_ADDRESS.match(address):
        raise InputError(f"--scheduler-address must look like tcp://HOST:PORT, got {address!r}")
    return address


class LocalPool:
    """Worker processes on this machine, one per slot (a CPU worker or one of a GPU's)."""

    def __init__(
        self,
        workers: int,
        devices: list[str],
        threads: int | None = None,
        jobs_per_gpu: int = DEFAULT_JOBS_PER_GPU,
    ):
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        if jobs_per_gpu < 1:
            raise InputError(f"--jobs-per-gpu must be at least 1, got {jobs_per_gpu}")
        gpus = [device for device in devices if device != "cpu"]
        self.slots = [gpu for gpu in gpus for _ in range(jobs_per_gpu)]
        if "cpu" in devices:
            self.slots += ["cpu"] * workers
        self.threads = threads or threads_per_worker(len(self.slots))

    def describe(self) -> str:
        counts = {slot: self.slots.count(slot) for slot in dict.fromkeys(self.slots)}
        where = ", ".join(f"{n} on {slot}" for slot, n in counts.items())
        return f"{len(self.slots)} local worker(s) ({where}), {self.threads} thread(s) each"

    def run(self, jobs: Iterable, fn: JobFn) -> Iterator[Outcome]:
        executor = self._executor()
        pending, free, running = deque(jobs), list(self.slots), {}
        finished = False
        try:
            while pending or running:
                while pending and free:
                    job, slot = pending.popleft(), free.pop(0)
                    executor, future = self._submit(executor, fn, job, device_for(job, slot))
                    running[future] = (job, slot)
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    job, slot = running.pop(future)
                    free.append(slot)
                    yield job, _outcome(future)
            finished = True
        finally:
            if not finished:  # interrupted: do not leave workers computing
                _quiet_manager_thread()
                executor.shutdown(wait=False, kill_workers=True)

    def _executor(self):
        """loky's reusable executor (a new one if a worker died and broke the last one)."""
        from joblib.externals.loky import get_reusable_executor

        env = {name: str(self.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        return get_reusable_executor(
            max_workers=len(self.slots), env=env, initializer=init_worker, initargs=(os.getpid(),)
        )

    def _submit(self, executor, fn: JobFn, job, device: str):
        from joblib.externals.loky.process_executor import BrokenProcessPool

        try:
            return executor, executor.submit(fn, job, device, self.threads)
        except (BrokenProcessPool, RuntimeError):
            LOGGER.warning("a worker died; starting new workers")
            executor = self._executor()
            return executor, executor.submit(fn, job, device, self.threads)


LOKY_MANAGER_THREAD = "ExecutorManagerThread"


def _quiet_manager_thread() -> None:
    """After an interruption, log (debug) instead of printing what loky's manager thread
    raises while its workers are killed: the user asked for the stop, not for a traceback."""
    previous = threading.excepthook

    def hook(args) -> None:
        if args.thread is not None and args.thread.name.startswith(LOKY_MANAGER_THREAD):
            LOGGER.debug("loky manager thread after the interruption: %r", args.exc_value)
            return
        previous(args)

    threading.excepthook = hook


def init_worker(parent_pid: int) -> None:
    """Worker initializer: leave Ctrl-C to the bench, end with it if it is killed.

    The bench process handles SIGINT (it stops its workers and keeps the rows
    written so far). Without the watch, `kill -9` of the bench would leave its
    loky workers running, adopted by init; their current jobs are lost either way.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="bench-parent-watch", daemon=True).start()


class DaskPool:
    """Jobs sent to a dask.distributed scheduler at `address` (tcp://HOST:PORT)."""

    def __init__(self, address: str, device: str = "cpu", threads: int | None = None):
        self.address = check_scheduler_address(address)
        self.device = device
        self.threads = threads or 1

    def describe(self) -> str:
        where = (
            f"COOL-CHIC encodes on workers with the {DASK_GPU_RESOURCE} resource"
            if self.device != "cpu"
            else "cpu"
        )
        return f"Dask scheduler {self.address}, {self.threads} thread(s) per job, {where}"

    def placement(self, job) -> tuple[str, dict | None]:
        """(device, Dask resources) of `job`: a GPU unit for an encode when GPUs are asked for."""
        if self.device != "cpu" and needs_gpu(job):
            return self.device, {DASK_GPU_RESOURCE: 1}
        return "cpu", None

    def run(self, jobs: Iterable, fn: JobFn) -> Iterator[Outcome]:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise InputError(
                "--scheduler-address needs dask.distributed: pip install 'dask[distributed]'"
            ) from None
        client = self._connect(Client)
        run_tag = uuid.uuid4().hex[:8]
        try:
            futures = {}
            for job in jobs:
                key = f"coolchic-bench-{job.job_id}-{run_tag}"
                device, resources = self.placement(job)
                future = client.submit(
                    fn, job, device, self.threads, key=key, pure=False, resources=resources
                )
                futures[future] = job
            for future in as_completed(futures):
                yield futures[future], _outcome(future)
        finally:
            client.close()

    def _connect(self, client_class):
        try:
            return client_class(self.address, timeout=DASK_CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None


def _outcome(future):
    """The job function's row, or the exception that prevented it (worker died, ...)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - reported as a failed job
        return exc
