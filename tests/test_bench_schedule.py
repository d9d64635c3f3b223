"""bench.schedule: one job per device at a time, on real loky worker processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bench.schedule import LocalPool

cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

JOB_S = 0.3


def _timed_job(job, device, threads):
    start = time.time()
    time.sleep(JOB_S)
    return {
        "job": job,
        "device": device,
        "threads": threads,
        "pid": os.getpid(),
        "start": start,
        "end": time.time(),
    }


def _failing_job(job, device, threads):
    if job == 1:
        os._exit(3)  # the worker dies, as on an out-of-memory kill
    return {"job": job}


def test_gpu_slots_pin_one_job_per_device():
    pool = LocalPool(workers=1, devices=["cuda:0", "cuda:1"], threads=1)
    results = [outcome for _, outcome in pool.run(list(range(6)), _timed_job)]
    assert sorted(r["job"] for r in results) == list(range(6))
    by_device: dict[str, list] = {}
    for result in results:
        by_device.setdefault(result["device"], []).append((result["start"], result["end"]))
    assert sorted(by_device) == ["cuda:0", "cuda:1"]
    for spans in by_device.values():
        spans.sort()
        for (_, previous_end), (start, _) in zip(spans, spans[1:], strict=False):
            assert previous_end <= start


def _meeting_job(job, device, threads):
    """Mark this device as started, then wait for the other device to start too."""
    index, folder = job
    Path(folder, f"started-{device}").touch()
    other = "cuda:1" if device == "cuda:0" else "cuda:0"
    deadline = time.monotonic() + 60.0  # only reached if the devices do not run together
    while time.monotonic() < deadline:
        if Path(folder, f"started-{other}").exists():
            return {"job": index, "met": True}
        time.sleep(0.01)
    return {"job": index, "met": False}


def test_gpu_slots_run_in_parallel(tmp_path):
    pool = LocalPool(workers=1, devices=["cuda:0", "cuda:1"], threads=1)
    jobs = [(index, str(tmp_path)) for index in range(4)]
    results = [outcome for _, outcome in pool.run(jobs, _meeting_job)]
    assert sorted(r["job"] for r in results) == list(range(4))
    assert all(r["met"] for r in results)  # each device's first job saw the other one start


def test_a_dead_worker_becomes_an_error_not_a_hang():
    pool = LocalPool(workers=1, devices=["cpu"], threads=1)
    outcomes = dict(pool.run([0, 1, 2, 3], _failing_job))
    assert outcomes[0] == {"job": 0}
    assert isinstance(outcomes[1], Exception)
    assert outcomes[2] == {"job": 2} and outcomes[3] == {"job": 3}  # new workers took over


def test_after_an_interruption_only_lokys_manager_thread_is_quieted(monkeypatch):
    import threading

    from bench import schedule

    reported = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.thread.name))
    schedule._quiet_manager_thread()

    def boom():
        raise RuntimeError("worker killed")

    for name in (schedule.LOKY_MANAGER_THREAD, "other-thread"):
        thread = threading.Thread(target=boom, name=name)
        thread.start()
        thread.join()
    assert reported == ["other-thread"]
