"""Where jobs run: local worker processes (joblib's loky) or a Dask cluster.

Both pools take a job function `fn(job, device, threads) -> row` and yield
`(job, row_or_exception)` as jobs finish.

- `LocalPool`: one loky process per slot. On CPU, `workers` slots, each job
  with max(1, cores // workers) torch threads. With GPUs, one slot per
  device: a job is submitted only when a device is free and runs on it.
- `DaskPool`: every job is submitted to a dask.distributed scheduler; the
  cluster's workers decide the parallelism (one job per worker thread).
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

_DEVICE = re.compile(r"^(cpu|cuda(:[0-9]+)?|mps)$")
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


def parse_devices(text: str) -> list[str]:
    """`cpu` or a comma list of accelerators (`cuda:0,cuda:1`)."""
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise InputError("--devices is empty")
    bad = [d for d in devices if not _DEVICE.match(d)]
    if bad:
        raise InputError(f"unknown device {', '.join(bad)}: use cpu, cuda, cuda:N or mps")
    if "cpu" in devices and len(devices) > 1:
        raise InputError("--devices: give either cpu or a list of GPUs, not both")
    return devices


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or available_cores()) // max(1, workers))


def check_scheduler_address(address: str) -> str:
    if not _SCHEDULER_ADDRESS.match(address):
        raise InputError(f"--scheduler-address must look like tcp://HOST:PORT, got {address!r}")
    return address


class LocalPool:
    """Worker processes on this machine, one per slot (CPU worker or GPU)."""

    def __init__(self, workers: int, devices: list[str], threads: int | None = None):
        if workers < 1:
            raise InputError(f"--workers must be at least 1, got {workers}")
        gpus = devices != ["cpu"]
        self.slots = list(devices) if gpus else ["cpu"] * workers
        self.threads = threads or threads_per_worker(len(self.slots))

    def describe(self) -> str:
        return (
            f"{len(self.slots)} local worker(s) on {','.join(sorted(set(self.slots)))}, "
            f"{self.threads} thread(s) each"
        )

    def run(self, jobs: Iterable, fn: JobFn) -> Iterator[Outcome]:
        executor = self._executor()
        pending, free, running = deque(jobs), list(self.slots), {}
        finished = False
        try:
            while pending or running:
                while pending and free:
                    job, device = pending.popleft(), free.pop(0)
                    executor, future = self._submit(executor, fn, job, device)
                    running[future] = (job, device)
                done, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in done:
                    job, device = running.pop(future)
                    free.append(device)
                    yield job, _outcome(future)
            finished = True
        finally:
            if not finished:  # interrupted: do not leave workers computing
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
        return f"Dask scheduler {self.address}, {self.threads} thread(s) per job on {self.device}"

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
                future = client.submit(fn, job, self.device, self.threads, key=key, pure=False)
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
