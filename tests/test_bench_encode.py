"""The bench's encode path: smoke preset on two 64x48 Kodak crops at two lambdas.

Covers two local workers, resume after kill -9, and a Dask LocalCluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from coolchic_core import decode_bitstream
from tests.conftest import local_dask_cluster

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "datasets" / "kodak"
LAMBDAS = "0.004,0.02"
JOB_IDS = ["kodim03-lambda004", "kodim03-lambda02", "kodim14-lambda004", "kodim14-lambda02"]

pytestmark = pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")


def _argv(crops: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--dataset",
        str(crops),
        "--preset",
        "smoke",
        "--lambdas",
        LAMBDAS,
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def _row_texts(out: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((out / "rows").glob("*.json"))}


def test_smoke_bench_with_two_workers(crops, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv(crops, out, "--workers", "2", "--save-decoded")) == 0
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert list(raw.columns[:4]) == ["seq_name", "lmbda", "rate_bpp", "psnr_db"]
    assert raw.job_id.tolist() == JOB_IDS
    assert set(raw.threads) == {1} and set(raw.preset) == {"smoke"} and set(raw.status) == {"ok"}
    for row in raw.itertuples():
        data = (out / "bitstreams" / f"{row.job_id}.bin").read_bytes()
        assert row.n_bytes == len(data) and row.n_pixels == 64 * 48
        assert row.rate_bpp == pytest.approx(8 * len(data) / (64 * 48), abs=5e-5)
        assert decode_bitstream(data).header.width == 64
        assert row.enc_time_s > 0 and row.dec_time_s > 0 and row.n_iterations > 0
        assert row.enc_psnr_db == pytest.approx(row.psnr_db, abs=0.5)  # estimate vs real
        assert (out / "decoded" / f"{row.job_id}.png").is_file()
        assert (out / "logs" / f"{row.job_id}.log").read_text().strip()
    average = pd.read_csv(out / "average_results.tsv", sep="\t")
    assert average.lmbda.tolist() == [0.004, 0.02]
    means = raw.groupby("lmbda").psnr_db.mean()
    assert average.psnr_db.tolist() == pytest.approx(means.tolist(), abs=1e-4)

    before = _row_texts(out)
    capsys.readouterr()
    assert main(_argv(crops, out, "--workers", "2")) == 0
    assert "done 0, skipped 4, failed 0" in capsys.readouterr().err
    assert _row_texts(out) == before


def _start_bench(crops: Path, out: Path, stderr) -> subprocess.Popen:
    """The bench in its own process group (1 worker, 1 thread), as a user would start it."""
    command = [sys.executable, "-m", "coolchic_cli", "bench"]
    command += _argv(crops, out, "--workers", "1", "--threads", "1")
    return subprocess.Popen(
        command,
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def test_resume_after_kill_runs_only_missing_jobs(crops, tmp_path, capsys):
    out = tmp_path / "out"
    process = _start_bench(crops, out, stderr=subprocess.DEVNULL)
    try:
        _wait_for_first_row(out, process, timeout_s=120)
        os.kill(process.pid, signal.SIGKILL)  # the bench only: its workers must follow
        process.wait()
        assert _group_ends(process.pid, timeout_s=10), "workers outlived the killed bench"
    finally:
        _kill_group(process.pid)
        process.wait()
    before = _row_texts(out)
    assert 1 <= len(before) < 4, "the kill came too late to test resuming"
    assert not (out / "raw_results.tsv").exists()
    damaged = sorted(before)[0]  # one byte flipped in the middle, same size
    bitstream = out / "bitstreams" / f"{damaged}.bin"
    data = bytearray(bitstream.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bitstream.write_bytes(bytes(data))
    (out / "bitstreams" / f".{JOB_IDS[3]}.bin.x1y2.tmp").write_bytes(b"half")  # as kill -9 leaves
    (out / "rows" / f".{JOB_IDS[3]}.json.x1y2.tmp").write_text("{")

    capsys.readouterr()
    assert main(_argv(crops, out, "--workers", "2")) == 0
    err = capsys.readouterr().err
    assert f"done {5 - len(before)}, skipped {len(before) - 1}, failed 0" in err
    assert f"{damaged}: bitstream changed since its row was written; rerunning" in err
    after = _row_texts(out)
    assert sorted(after) == JOB_IDS
    assert {k: after[k] for k in before if k != damaged} == {
        k: v for k, v in before.items() if k != damaged
    }  # finished jobs were not redone
    assert json.loads(after[damaged])["status"] == "ok"
    assert pd.read_csv(out / "raw_results.tsv", sep="\t").job_id.tolist() == JOB_IDS
    assert list(out.rglob("*.tmp")) == []
    assert main(["--verify", "--out", str(out)]) == 0


def test_ctrl_c_keeps_finished_jobs_and_stops_workers(crops, tmp_path):
    out = tmp_path / "out"
    process = _start_bench(crops, out, stderr=subprocess.PIPE)
    try:
        _wait_for_first_row(out, process, timeout_s=120)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130 and "interrupted" in err
        assert "Traceback" not in err
        assert _group_ends(process.pid, timeout_s=10), "workers outlived the interrupted bench"
    finally:
        _kill_group(process.pid)
        process.wait()
    finished = _row_texts(out)
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert 1 <= len(finished) < 4 and sorted(raw.job_id) == sorted(finished)


def _group_ends(group: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _wait_for_first_row(out: Path, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if list((out / "rows").glob("*.json")) if (out / "rows").is_dir() else []:
            return
        if process.poll() is not None:
            pytest.fail(f"bench exited early with status {process.returncode}")
        time.sleep(0.05)
    pytest.fail("no result row appeared")


def test_dask_local_cluster(crops, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    with local_dask_cluster(distributed) as cluster:
        argv = _argv(
            crops,
            out,
            "--scheduler-address",
            cluster.scheduler_address,
            "--images",
            "kodim14",
            "--devices",
            "cpu",
        )
        assert main(argv) == 0
    assert "Dask scheduler tcp://127.0.0.1" in capsys.readouterr().err
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert raw.job_id.tolist() == JOB_IDS[2:]
    assert set(raw.status) == {"ok"} and set(raw.threads) == {1}
    row = json.loads((out / "rows" / "kodim14-lambda02.json").read_text())
    assert row["n_bytes"] == (out / "bitstreams" / "kodim14-lambda02.bin").stat().st_size


def test_unreachable_dask_scheduler_is_a_clear_error(crops, tmp_path, monkeypatch):
    from bench import schedule
    from coolchic_core.errors import InputError

    pytest.importorskip("distributed")
    monkeypatch.setattr(schedule, "DASK_CONNECT_TIMEOUT_S", 1)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        main(
            _argv(
                crops,
                tmp_path / "out",
                "--scheduler-address",
                "tcp://127.0.0.1:9",
                "--devices",
                "cpu",
            )
        )


def test_editing_a_preset_changes_the_job_configuration(crops, tmp_path, monkeypatch):
    import dataclasses

    from bench import runner
    from coolchic_core import presets

    settings = runner.BenchSettings(
        dataset=str(crops), lambdas=[0.01], preset="smoke", out=tmp_path
    )

    def config_hashes() -> set[str]:
        dataset = runner._open(settings, None)
        return {job.config_hash for job in runner._encode_plan(settings, dataset, {})}

    before = config_hashes()
    assert config_hashes() == before
    edited = dataclasses.replace(presets.PRESETS["smoke"], n_itr=presets.PRESETS["smoke"].n_itr + 1)
    monkeypatch.setitem(presets.PRESETS, "smoke", edited)
    assert config_hashes().isdisjoint(before)


def test_format_v2_bench_writes_v2_bitstreams_and_names_the_format(crops, tmp_path):
    out = tmp_path / "out"
    assert main(_argv(crops, out, "--format", "v2", "--images", "kodim03")) == 0
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert set(raw.format) == {"v2"} and set(raw.status) == {"ok"}
    for row in raw.itertuples():
        data = (out / "bitstreams" / f"{row.job_id}.bin").read_bytes()
        decoded = decode_bitstream(data)
        assert data[:4] == b"CCv2" and decoded.format_name == "v2"
        assert abs(decoded.rate_bpp - row.rate_bpp) < 1e-3
    # the same folder at v1: other configurations, so every job runs again
    assert main(_argv(crops, out, "--images", "kodim03")) == 0
    raw = pd.read_csv(out / "raw_results.tsv", sep="\t")
    assert set(raw.format) == {"v1"}
