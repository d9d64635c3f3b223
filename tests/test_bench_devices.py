"""bench --devices, --jobs-per-gpu: slots per (simulated) GPU, CPU-only jobs, Dask GPU resource."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import pytest
import torch

from bench.jobs import KIND_DECODE, KIND_ENCODE
from bench.schedule import DASK_GPU_RESOURCE, DaskPool, LocalPool, device_for, parse_devices
from coolchic_core.errors import InputError
from tests.conftest import local_dask_cluster

cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


@dataclass(frozen=True)
class FakeJob:
    job_id: str
    kind: str


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_devices_option_with_two_gpus(two_gpus):
    assert parse_devices("auto") == ["cuda:0", "cuda:1"]
    assert parse_devices("all") == ["cuda:0", "cuda:1", "cpu"]
    assert parse_devices("cuda:1,cpu") == ["cuda:1", "cpu"]
    with pytest.raises(InputError, match="no CUDA device cuda:2: this machine has 2 GPUs"):
        parse_devices("cuda:0,cuda:2")


def test_devices_option_for_a_dask_cluster_is_cpu_or_cuda():
    assert parse_devices("cpu", local=False) == parse_devices("auto", local=False) == ["cpu"]
    assert parse_devices("cuda:0", local=False) == parse_devices("cuda", local=False) == ["cuda"]
    for bad in ("cuda:0,cuda:1", "cpu,cuda"):
        with pytest.raises(InputError, match="cpu or cuda"):
            parse_devices(bad, local=False)


def test_slots_per_gpu_and_cpu_workers_beside():
    assert LocalPool(1, ["cuda:0", "cuda:1"], jobs_per_gpu=2).slots == [
        "cuda:0",
        "cuda:0",
        "cuda:1",
        "cuda:1",
    ]
    mixed = LocalPool(2, ["cuda:0", "cpu"], threads=1)
    assert mixed.slots == ["cuda:0", "cpu", "cpu"]
    assert "1 on cuda:0, 2 on cpu" in mixed.describe()
    with pytest.raises(InputError, match="--jobs-per-gpu"):
        LocalPool(1, ["cuda:0"], jobs_per_gpu=0)


def test_jobs_without_training_run_on_the_cpu():
    assert device_for(FakeJob("a", KIND_ENCODE), "cuda:1") == "cuda:1"
    assert device_for(FakeJob("b", KIND_DECODE), "cuda:1") == "cpu"


def _recording_job(job, device, threads):
    start = time.time()
    time.sleep(0.2)
    return {"job": job.job_id, "device": device, "start": start, "end": time.time()}


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_k_jobs_at_once_per_gpu_and_decode_jobs_get_the_cpu():
    pool = LocalPool(1, ["cuda:0", "cuda:1"], threads=1, jobs_per_gpu=2)
    jobs = [FakeJob(f"e{i}", KIND_ENCODE) for i in range(8)] + [FakeJob("d0", KIND_DECODE)]
    rows = [outcome for _, outcome in pool.run(jobs, _recording_job)]
    assert sorted(r["job"] for r in rows) == sorted(j.job_id for j in jobs)
    assert next(r["device"] for r in rows if r["job"] == "d0") == "cpu"
    for device in ("cuda:0", "cuda:1"):
        spans = [(r["start"], r["end"]) for r in rows if r["device"] == device]
        assert spans and _most_at_once(spans) <= 2


def _where(job, device, threads):
    import distributed

    return {"job": job.job_id, "device": device, "worker": distributed.get_worker().address}


def test_dask_encodes_ask_for_the_gpu_resource():
    distributed = pytest.importorskip("distributed")
    assert DaskPool("tcp://h:1", "cuda").placement(FakeJob("a", KIND_ENCODE)) == (
        "cuda",
        {DASK_GPU_RESOURCE: 1},
    )
    assert DaskPool("tcp://h:1", "cuda").placement(FakeJob("b", KIND_DECODE)) == ("cpu", None)
    assert DaskPool("tcp://h:1", "cpu").placement(FakeJob("c", KIND_ENCODE)) == ("cpu", None)
    with local_dask_cluster(distributed, resources={DASK_GPU_RESOURCE: 1}) as cluster:
        pool = DaskPool(cluster.scheduler_address, "cuda", threads=1)
        jobs = [FakeJob("e0", KIND_ENCODE), FakeJob("e1", KIND_ENCODE), FakeJob("d0", KIND_DECODE)]
        rows = {job.job_id: row for job, row in pool.run(jobs, _where)}
    assert {rows["e0"]["device"], rows["e1"]["device"], rows["d0"]["device"]} == {"cuda", "cpu"}
    assert rows["e0"]["device"] == "cuda" and rows["d0"]["device"] == "cpu"
