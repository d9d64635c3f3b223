"""bench: names, job hashes, resume rules, rows and collected tables (no encoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench import naming, rows
from bench.cli import main
from bench.collect import collect
from bench.execute import ProgressLog, failed_row, make_row
from bench.jobs import encode_jobs
from bench.plan import split_done
from bench.provenance import git_commit, project_provenance
from bench.schedule import LocalPool, parse_devices, threads_per_worker
from coolchic_core.errors import InputError
from datasets import open_dataset
from datasets.checksum import sha256_bytes

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KODAK = SHARED / "datasets" / "kodak"


@pytest.mark.parametrize(
    ("lmbda", "digits"),
    [(0.0001, "0001"), (0.0005, "0005"), (0.004, "004"), (0.02, "02"), (1e-5, "00001")],
)
def test_lambda_digits_follow_the_original_names(lmbda, digits):
    assert naming.lambda_digits(lmbda) == digits
    assert naming.lambda_from_digits(digits) == lmbda
    assert naming.parse_bitstream_name(f"kodim07-lambda{digits}.bin") == ("kodim07", lmbda)


def test_names_refuse_what_they_cannot_represent():
    for bad in (0.0, 1.0, 2.5, -0.1):
        with pytest.raises(InputError):
            naming.lambda_digits(bad)
    with pytest.raises(InputError, match="not a lambda"):
        naming.parse_lambda("fast")
    assert naming.parse_lambda("4e-3") == 0.004
    assert naming.parse_bitstream_name("kodim01-lambda0.bin") is None
    assert naming.parse_bitstream_name("notes.txt") is None
    assert naming.parse_quality("30") == 30 and naming.parse_quality("0.5") == 0.5
    assert naming.classical_job_id("kodim01", "jpeg", 30) == "kodim01-jpeg-q30"


def test_devices_and_threads():
    assert parse_devices("cpu") == ["cpu"]
    for bad in ("gpu0", "auto,cpu", ""):
        with pytest.raises(InputError):
            parse_devices(bad)
    assert threads_per_worker(2, cores=8) == 4
    assert threads_per_worker(3, cores=2) == 1
    assert LocalPool(3, ["cpu"]).slots == ["cpu", "cpu", "cpu"]
    gpus = LocalPool(1, ["cuda:0", "cuda:1"], threads=2)
    assert gpus.slots == ["cuda:0", "cuda:1"] and gpus.threads == 2


def test_git_commit_is_read_from_dot_git(tmp_path):
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    assert git_commit(tmp_path) is None
    (git / "packed-refs").write_text("# pack\n" + "a" * 40 + " refs/heads/main\n")
    assert git_commit(tmp_path) == "a" * 40
    (git / "refs" / "heads" / "main").write_text("b" * 40 + "\n")
    assert git_commit(tmp_path) == "b" * 40
    (git / "HEAD").write_text("c" * 40)
    assert git_commit(tmp_path) == "c" * 40
    assert project_provenance()["coolchic_version"]


def _jobs(tmp_path, images=("kodim03", "kodim14"), preset="smoke", seed=0, fmt="v1"):
    dataset = open_dataset("kodak", data_dir=KODAK, images=list(images), env={})
    return encode_jobs(dataset, [0.004, 0.02], preset, seed, tmp_path / "out", bitstream_format=fmt)


def _ok_row(job, rate, psnr, n_bytes=10):
    measures = {
        "rate_bpp": rate,
        "psnr_db": psnr,
        "n_bytes": n_bytes,
        "n_pixels": 64 * 48,
        "mse": 10 ** (-psnr / 10),
        "bitstream_sha256": sha256_bytes(b"x" * n_bytes),
    }
    return make_row(job, "cpu", 1, measures, rows.STATUS_OK)


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")
def test_config_hash_and_resume_rules(tmp_path):
    jobs = _jobs(tmp_path)
    assert [j.job_id for j in jobs] == [
        "kodim03-lambda004",
        "kodim03-lambda02",
        "kodim14-lambda004",
        "kodim14-lambda02",
    ]
    assert len({j.config_hash for j in jobs}) == 4
    assert jobs[0].config_hash == _jobs(tmp_path)[0].config_hash
    assert jobs[0].config_hash != _jobs(tmp_path, preset="fast")[0].config_hash
    assert jobs[0].config_hash != _jobs(tmp_path, seed=1)[0].config_hash
    v2_jobs = _jobs(tmp_path, fmt="v2")
    assert jobs[0].config_hash != v2_jobs[0].config_hash
    # v1 configurations name no format, so tables written before --format existed resume
    assert "format" not in jobs[0].configuration()
    assert v2_jobs[0].configuration()["format"] == "v2"
    out = Path(jobs[0].out_dir)
    (out / "bitstreams").mkdir(parents=True)
    for job in jobs[:3]:
        Path(job.bitstream).write_bytes(b"x" * 10)
    rows.write_row(out, _ok_row(jobs[0], 1.0, 30.0))  # done
    rows.write_row(out, failed_row(jobs[1], "RuntimeError: boom", "cpu", 1))  # retried
    rows.write_row(out, _ok_row(jobs[2], 1.0, 30.0, n_bytes=11))  # bitstream does not match
    to_run, skipped = split_done(jobs)
    assert [j.job_id for j in skipped] == ["kodim03-lambda004"]
    assert [j.job_id for j in to_run] == [j.job_id for j in jobs[1:]]
    assert split_done(jobs, force=True) == (jobs, [])
    other_preset = _jobs(tmp_path, preset="fast")
    assert split_done(other_preset)[1] == []


@pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")
def test_collect_sorts_rounds_and_averages(tmp_path):
    jobs = _jobs(tmp_path)
    out = Path(jobs[0].out_dir)
    values = {0: (0.123456, 30.00004), 1: (0.0512349, 28.123449), 2: (0.2, 31.5), 3: (0.1, 29.0)}
    for index in (3, 1, 2, 0):
        rows.write_row(out, _ok_row(jobs[index], *values[index]))
    rows.write_row(
        out,
        {**failed_row(jobs[3], "x", "cpu", 1), "job_id": "kodim15-lambda02", "seq_name": "kodim15"},
    )
    (out / "rows" / ".kodim15-lambda004.json.abc.tmp").write_text("{half")
    collected = collect(out, codec="coolchic")
    raw_text = (out / "raw_results.tsv").read_text().splitlines()
    assert raw_text[0].split("\t")[:4] == ["seq_name", "lmbda", "rate_bpp", "psnr_db"]
    assert [line.split("\t")[:4] for line in raw_text[1:]] == [
        ["kodim03", "0.004", "0.1235", "30.0"],
        ["kodim03", "0.02", "0.0512", "28.1234"],
        ["kodim14", "0.004", "0.2", "31.5"],
        ["kodim14", "0.02", "0.1", "29.0"],
    ]
    average = pd.read_csv(out / "average_results.tsv", sep="\t")
    assert list(average.columns[:3]) == ["lmbda", "rate_bpp", "psnr_db"]
    expected = (values[0][1] + values[2][1]) / 2
    measured = average.loc[average.lmbda == 0.004, "psnr_db"].item()
    assert measured == pytest.approx(expected, abs=1e-4)
    assert list(collected.failed.job_id) == ["kodim15-lambda02"]
    assert "kodim15-lambda02" in (out / "failed_jobs.tsv").read_text()


def test_rows_are_json_and_unreadable_ones_are_ignored(tmp_path):
    row = {"job_id": "a-lambda02", "seq_name": "a", "lmbda": 0.02, "psnr_db": float("inf")}
    path = rows.write_row(tmp_path, row)
    assert json.loads(path.read_text().replace("Infinity", "1e999"))["job_id"] == "a-lambda02"
    (tmp_path / "rows" / "b-lambda02.json").write_text("[1, 2]")
    (tmp_path / "rows" / "c-lambda02.json").write_text("{not json")
    assert [r["job_id"] for r in rows.load_rows(tmp_path)] == ["a-lambda02"]


def test_progress_log_is_throttled(caplog):
    log = ProgressLog(interval_s=3600)
    with caplog.at_level("INFO", logger="bench.execute"):
        for iteration in range(5):
            log(iteration, loss=0.5)
    assert [r.getMessage() for r in caplog.records] == ["progress: 0, loss=0.5"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "no-such-set"], "unknown dataset"),
        (["--lambdas", "0.004,2"], "lambda must be between 0 and 1"),
        (["--preset", "turbo"], "unknown preset 'turbo'"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--devices", "tpu"], "unknown device tpu"),
        (["--scheduler-address", "head:8786", "--devices", "cpu"], "tcp://HOST:PORT"),
        (["--qualities", "30"], "--qualities goes with a classical --codec"),
        (["--decode-only", "/nonexistent-folder"], "is not a folder"),
        (["--codec", "jpeg", "--format", "v2"], "--format is for COOL-CHIC encodes"),
        (["--decode-only", "/tmp", "--format", "v2"], "decoding finds it from the bytes"),
        (["--seed", str(2**63)], "--seed must be between 0 and 2\\*\\*63 - 1"),
        (["--threads", "100000"], "--threads must be between 1 and 1024"),
        (["--codec", "jpeg", "--preset", "fast"], "--preset: options of COOL-CHIC training"),
        (["--decode-only", "/tmp", "--seed", "3"], "--seed: .*--decode-only trains nothing"),
        (["--verify", "--devices", "cpu"], "--verify runs alone, .*\\(--devices\\)"),
        (["--verify", "--threads", "0"], "--threads must be between 1 and 1024"),
        (["--merge-from", "/tmp", "--threads", "2"], "--merge-from runs alone, .*--threads"),
        (["--devices", "cpu", "--jobs-per-gpu", "2"], "--jobs-per-gpu: no GPU among"),
        (["--scheduler-address", "tcp://h:1", "--workers", "2"], "the cluster's workers run"),
        (["--dry-run", "--wait"], "a dry run does not take --out"),
        (["--dataset", "/tmp"], "--dataset /tmp is a folder"),
    ],
)
def test_cli_refuses_bad_options(tmp_path, argv, message):
    with pytest.raises(InputError, match=message):
        main([*argv, "--out", str(tmp_path / "out"), "--data-dir", str(KODAK)])


def test_cli_errors_are_one_line_through_the_dispatcher(tmp_path, capsys):
    from coolchic_cli import main as coolchic_main

    status = coolchic_main(["bench", "--dataset", "nowhere", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("coolchic bench: error:")


def test_coolchic_without_a_command_prints_its_usage_on_stderr(capsys):
    from coolchic_cli import main as coolchic_main

    assert coolchic_main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: coolchic <command>")
    assert coolchic_main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: coolchic <command>")
