"""bench --dry-run, time estimates and the run-wide progress (smoke preset, 64x48 crops)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import estimate
from bench.cli import build_parser, main, settings_from_args
from bench.defaults import machine_preset, resolve_preset
from bench.estimate import (
    PlanEstimate,
    Speed,
    SpeedCache,
    SpeedProbe,
    estimate_plan,
    makespan_s,
    planned_iterations,
    probe_encode_speed,
)
from bench.progress import RunProgress, describe_duration, finished_job_line
from bench.runner import BenchSettings, prepare
from bench.schedule import available_cores
from coolchic_core.presets import get_preset

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak"
CROPS = ("kodim03", "kodim14")  # the `crops` fixture of conftest.py

needs_kodak = pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")


def _argv(crops: Path, out: Path, lambdas: str, *extra: str) -> list[str]:
    return ["--dataset", str(crops), "--preset", "smoke", "--lambdas", lambdas] + [
        "--out",
        str(out),
        "--workers",
        "1",
        "--threads",
        "1",
        *extra,
    ]


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _fixed_speed(ms_per_iteration: float):
    probes = []

    def measure(probe: SpeedProbe) -> Speed:
        probes.append(probe)
        return Speed(ms_per_iteration=ms_per_iteration, quantize_s=1.0, decode_s=0.25)

    return measure, probes


@needs_kodak
def test_dry_run_writes_nothing_and_lists_every_job(crops, tmp_path, capsys):
    out = tmp_path / "out"
    before = _tree(tmp_path), _tree(crops)
    assert main(_argv(crops, out, "0.004,0.02", "--dry-run")) == 0
    listing = capsys.readouterr().out
    assert not out.exists()
    assert (_tree(tmp_path), _tree(crops)) == before
    for image in CROPS:
        for digits in ("004", "02"):
            assert f"  run   {image}-lambda{digits} " in listing
    assert "4 coolchic (preset smoke) job(s) to run, 0 skipped" in listing
    assert "ms/iteration" in listing and "estimates" in listing


@needs_kodak
def test_real_run_progress_then_dry_run_skips_done_jobs(crops, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    speed_cache = tmp_path / "speed.json"
    monkeypatch.setenv("COOLCHIC_SPEED_CACHE", str(speed_cache))
    assert main(_argv(crops, out, "0.02", "--no-progress")) == 0
    err = capsys.readouterr().err
    assert "estimated wall time about" in err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in lines] == ["[1/2", "[2/2"]
    for line in lines:
        assert " lambda 0.02: " in line and " bpp, " in line and " dB" in line
    assert lines[0].endswith(("left", "; finishing")) and lines[1].endswith("; done")
    cached = json.loads(speed_cache.read_text())["speeds"]
    assert len(cached) == 1  # measured once by the worker, for the 64x48 size

    before = _tree(out)
    assert main(_argv(crops, out, "0.004,0.02", "--dry-run")) == 0
    listing = capsys.readouterr().out
    assert _tree(out) == before
    assert "  skip  kodim03-lambda02 " in listing and "  skip  kodim14-lambda02 " in listing
    assert "  run   kodim03-lambda004 " in listing and "  run   kodim14-lambda004 " in listing
    assert "2 coolchic (preset smoke) job(s) to run, 2 skipped" in listing


@needs_kodak
def test_progress_bar_counts_jobs(crops, tmp_path, capsys):
    assert main(_argv(crops, tmp_path / "out", "0.02")) == 0
    err = capsys.readouterr().err
    assert "2/2 jobs" in err and "[1/2] kodim" in err and "[2/2] kodim" in err


@needs_kodak
def test_estimate_uses_the_measured_time_per_iteration(crops, tmp_path):
    settings = BenchSettings(
        dataset=str(crops), lambdas=[0.004, 0.02], preset="smoke", out=tmp_path / "out", workers=2
    )
    plan = prepare(settings)
    n_itr = get_preset("smoke").n_itr_planned
    slow, probes = _fixed_speed(20.0)
    fast, _ = _fixed_speed(10.0)
    slow_estimate, fast_estimate = estimate_plan(plan, slow), estimate_plan(plan, fast)
    assert [(p.height, p.width) for p in probes] == [(48, 64)]  # one size, measured once
    assert not probes[0].exhaustive  # only the paper preset searches every q-step pair
    for job in slow_estimate.to_run:
        assert job.seconds == pytest.approx(n_itr * 0.020 + 1.0 + 2 * 0.25)
        assert f"{n_itr} iterations" in job.detail
    difference = slow_estimate.job_time_s - fast_estimate.job_time_s
    assert difference == pytest.approx(4 * n_itr * 0.010)
    assert slow_estimate.n_slots == 2
    assert slow_estimate.wall_time_s == pytest.approx(slow_estimate.job_time_s / 2)


def test_paper_iterations_are_a_typical_count_or_the_recorded_median():
    paper = get_preset("paper")
    typical = planned_iterations(paper)
    warmup = paper.n_trial_warmup * paper.n_itr_warmup
    assert not typical.exact and typical.maximum == paper.n_itr_planned
    assert typical.count == warmup + estimate.TYPICAL_PLATEAU_MAIN_ITERATIONS
    assert planned_iterations(paper, [30_000, 50_000, 40_000]).count == 40_000
    fast = planned_iterations(get_preset("fast"))
    assert fast.exact and fast.count == get_preset("fast").n_itr_planned


def test_recorded_iterations_come_from_ok_rows_of_the_preset(tmp_path):
    rows_dir = tmp_path / "rows"
    rows_dir.mkdir()
    table = [("a", "paper", "ok", 0.02, 30_000), ("b", "paper", "ok", 0.004, 50_000)]
    table += [("c", "paper", "failed", 0.02, 99), ("d", "fast", "ok", 0.02, 7300)]
    for job_id, preset, status, lmbda, n_itr in table:
        row = {"job_id": job_id, "preset": preset, "status": status, "lmbda": lmbda}
        (rows_dir / f"{job_id}.json").write_text(json.dumps({**row, "n_iterations": n_itr}))
    found = estimate.recorded_iterations(tmp_path, "paper")
    assert found == {None: [30_000, 50_000], 0.02: [30_000], 0.004: [50_000]}


def test_makespan_hands_jobs_in_order_to_the_first_free_slot():
    assert makespan_s([10, 10, 10, 10], 2) == 20
    assert makespan_s([30, 10, 10, 10], 2) == 30
    assert makespan_s([5, 5], 4) == 5
    assert makespan_s([], 2) == 0


def test_speed_cache_round_trip_and_bad_files(tmp_path):
    path = tmp_path / "sub" / "speed.json"
    cache = SpeedCache(path)
    assert cache.get("k") is None
    cache.put("k", Speed(12.5, 3.0, 0.5))
    assert SpeedCache(path).get("k") == Speed(12.5, 3.0, 0.5)
    path.write_text("{not json")
    assert SpeedCache(path).get("k") is None
    assert estimate.cache_path({"XDG_CACHE_HOME": "/x"}) == Path("/x/coolchic/bench-speed.json")
    assert estimate.cache_path({"COOLCHIC_SPEED_CACHE": "/y.json"}) == Path("/y.json")


def test_probe_times_real_training_steps():
    measured = probe_encode_speed(SpeedProbe("p", "smoke", 48, 64, False, n_steps=6), "cpu", 1)
    assert measured["ms_per_iteration"] > 0
    assert measured["quantize_s"] > 0 and measured["decode_s"] > 0


def test_time_left_follows_the_jobs_as_they_end():
    now = [0.0]
    progress = RunProgress(4, [10.0, 10.0, 10.0, 10.0], n_slots=2, clock=lambda: now[0])
    assert progress.time_left_s() == 20.0
    now[0] = 5.0
    assert progress.time_left_s() == 15.0
    now[0] = 20.0  # the first job ends twice as late as predicted: the run is slower
    progress.job_finished({"status": "ok"})
    assert progress.time_left_s() == pytest.approx(20.0)
    now[0] = 20.0
    progress.job_finished({"status": "failed"})
    for _ in range(2):
        progress.job_finished({"status": "ok"})
    assert progress.done == 4 and progress.failed == 1 and progress.time_left_s() == 0.0


def test_time_left_without_estimates_uses_the_mean_job_time():
    now = [0.0]
    progress = RunProgress(3, clock=lambda: now[0])
    assert progress.time_left_s() is None
    now[0] = 6.0
    progress.job_finished({"status": "ok"})
    assert progress.time_left_s() == pytest.approx(12.0)


def test_finished_job_lines_and_durations():
    row = {"seq_name": "kodim01", "lmbda": 0.0001, "rate_bpp": 2.27671, "psnr_db": 38.5824}
    row.update(status="ok", enc_time_s=391.0)
    assert finished_job_line(row) == "kodim01 lambda 0.0001: 2.2767 bpp, 38.58 dB (7 min)"
    failed = {"seq_name": "kodim01", "codec": "jpeg", "quality": 30, "status": "failed"}
    assert finished_job_line({**failed, "error": "boom"}) == "failed kodim01 jpeg q30: boom"
    assert describe_duration(42) == "42 s" and describe_duration(3 * 3600 + 300) == "3 h 05 min"
    assert describe_duration(3 * 86400) == "3 d 0 h" and describe_duration(None) == "unknown"


def test_auto_preset_and_workers_come_from_the_machine(tmp_path):
    assert machine_preset(["cpu"]) == "fast" and machine_preset(["cuda:0", "cuda:1"]) == "paper"
    assert resolve_preset("smoke", ["cuda:0"]) == ("smoke", "")
    settings = settings_from_args(build_parser().parse_args(["--out", str(tmp_path)]))
    assert settings.preset == "fast" and settings.workers == available_cores()
    assert settings.threads is None  # the pool gives each of the workers cores / workers = 1


def test_cluster_estimates_have_no_wall_time():
    job = estimate.JobEstimate("a", 10.0, "x")
    cluster = PlanEstimate([job, job], [], n_slots=None, speeds={}, speed_source="measured")
    assert cluster.job_time_s == 20.0 and cluster.wall_time_s is None


def test_time_left_grows_while_the_next_job_is_late():
    now = [0.0]
    progress = RunProgress(2, [10.0, 10.0], n_slots=1, clock=lambda: now[0])
    now[0] = 15.0  # the first job was predicted to end at 10 s: the run is 1.5x slower
    assert progress.time_left_s() == pytest.approx(1.5 * 20.0 - 15.0)


REFERENCE = KODAK.parents[1] / "reference" / "coolchic-v1"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference/coolchic-v1")
def test_decode_only_dry_run_times_a_decode(tmp_path, capsys):
    bitstreams = tmp_path / "bitstreams"
    bitstreams.mkdir()
    for name in ("kodim19-lambda02.bin", "kodim19-lambda004.bin"):
        (bitstreams / name).write_bytes((REFERENCE / "bitstreams" / name).read_bytes())
    (bitstreams / "kodim19-lambda0005.bin").write_bytes(b"not a bitstream")
    out = tmp_path / "out"
    argv = ["--decode-only", str(bitstreams), "--data-dir", str(KODAK), "--out", str(out)]
    before = _tree(tmp_path)
    assert main([*argv, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert not out.exists() and _tree(tmp_path) == before
    assert "3 decode job(s) to run, 0 skipped" in listing
    runs = [line for line in listing.splitlines() if line.startswith("  run   ")]
    assert len(runs) == 3
    assert "kodim19-lambda0005" in runs[0] and "will fail: BitstreamError" in runs[0]
    assert all("decode (timed once)" in line for line in runs[1:])


@needs_kodak
def test_classical_dry_run_times_an_encode(crops, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--dataset", str(crops), "--codec", "jpeg", "--qualities", "30,70", "--out", str(out)]
    assert main([*argv, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert not out.exists()
    assert listing.count("jpeg encode and decode (timed once)") == 4


@needs_kodak
def test_paper_estimate_uses_finished_rows_and_the_exhaustive_search(crops, tmp_path):
    out = tmp_path / "out"
    (out / "rows").mkdir(parents=True)
    for job_id, n_itr in (("old-a", 30_000), ("old-b", 50_000)):
        row = {"job_id": job_id, "preset": "paper", "status": "ok", "lmbda": 0.02}
        (out / "rows" / f"{job_id}.json").write_text(json.dumps({**row, "n_iterations": n_itr}))
    settings = BenchSettings(dataset=str(crops), lambdas=[0.02], preset="paper", out=out)
    measure, probes = _fixed_speed(10.0)
    result = estimate_plan(prepare(settings), measure)
    assert probes[0].exhaustive
    for job in result.to_run:
        assert "about 40000 iterations (median of 2 finished run(s)" in job.detail
        assert job.seconds == pytest.approx(40_000 * 0.010 + 1.0 + 2 * 0.25)
