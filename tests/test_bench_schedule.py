"""bench.schedule: one job per device at a time, on real loky worker processes."""

from __future__ import annotations

import os
import sys
import time

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
    first_start = min(r["start"] for r in results)
    last_end = max(r["end"] for r in results)
    assert last_end - first_start < 6 * JOB_S  # the two devices worked in parallel


def test_a_dead_worker_becomes_an_error_not_a_hang():
    pool = LocalPool(workers=1, devices=["cpu"], threads=1)
    outcomes = dict(pool.run([0, 1, 2, 3], _failing_job))
    assert outcomes[0] == {"job": 0}
    assert isinstance(outcomes[1], Exception)
    assert outcomes[2] == {"job": 2} and outcomes[3] == {"job": 3}  # new workers took over
