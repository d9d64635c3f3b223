"""bench --merge-from: the folders of a split run gathered into one, verified, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import plan, rows
from bench.cli import main
from bench.collect import RAW_RESULTS
from bench.jobs import encode_jobs
from coolchic_core.errors import InputError
from datasets import open_dataset
from tests.bench_rows import finish_job

LAMBDAS = [0.004, 0.02]


def _jobs(images: Path, out: Path, image_ids: list[str]):
    dataset = open_dataset(str(images), images=image_ids)
    return encode_jobs(dataset, LAMBDAS, "smoke", 0, out)


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


def _raw_ids(out: Path) -> list[str]:
    lines = (out / RAW_RESULTS).read_text().splitlines()
    job_column = lines[0].split("\t").index("job_id")
    return sorted(line.split("\t")[job_column] for line in lines[1:])


def test_two_halves_of_a_run_merge_into_one_folder_that_a_resumed_run_skips(
    tmp_path, images, capsys
):
    for half, ids in (("A", ["a"]), ("B", ["b", "c"])):
        for job in _jobs(images, tmp_path / half, ids):
            finish_job(job, data=job.job_id.encode())
    out = tmp_path / "all"
    sources = f"{tmp_path / 'A'},{tmp_path / 'B'}"

    assert main(["--merge-from", sources, "--out", str(out)]) == 0

    jobs = _jobs(images, out, ["a", "b", "c"])
    to_run, skipped = plan.split_done(jobs)
    assert to_run == [] and len(skipped) == 6
    for job in jobs:
        row = json.loads(rows.row_path(out, job.job_id).read_text())
        assert row["bitstream"] == job.bitstream
        assert Path(job.bitstream).read_bytes() == job.job_id.encode()
    assert _raw_ids(out) == sorted(job.job_id for job in jobs)
    assert "6 row(s) copied" in capsys.readouterr().err

    assert main(["--merge-from", sources, "--out", str(out)]) == 0  # again: nothing to do
    assert "0 row(s) copied into" in capsys.readouterr().err.splitlines()[0]


def test_a_different_result_already_in_out_is_kept_and_reported(tmp_path, images, capsys):
    source, out = tmp_path / "src", tmp_path / "out"
    theirs = _jobs(images, source, ["a"])
    ours = _jobs(images, out, ["a"])
    for job in theirs:
        finish_job(job, data=b"theirs")
    finish_job(ours[0], data=b"ours")  # a conflict
    finish_job(ours[1], data=b"theirs")  # the same result

    assert main(["--merge-from", str(source), "--out", str(out)]) == 1

    err = capsys.readouterr().err.splitlines()
    assert "0 row(s) copied" in err[0] and "1 already there, 1 refused" in err[0]
    assert err[1].endswith(
        f"{ours[0].job_id}: {out} already has another result for it (another bitstream)"
    )
    assert Path(ours[0].bitstream).read_bytes() == b"ours"


def test_damaged_or_failed_rows_are_not_copied_and_damaged_ones_in_out_are_replaced(
    tmp_path, images, capsys
):
    source, out = tmp_path / "src", tmp_path / "out"
    theirs = _jobs(images, source, ["a", "b"])
    for job in theirs:
        finish_job(job, data=b"good")
    Path(theirs[0].bitstream).write_bytes(b"evil")  # changed since its row
    failed = json.loads(rows.row_path(source, theirs[1].job_id).read_text())
    rows.write_row(source, {**failed, "status": rows.STATUS_FAILED})
    ours = _jobs(images, out, ["b"])
    finish_job(ours[0], data=b"old")
    Path(ours[0].bitstream).write_bytes(b"rot")  # out's own copy no longer matches

    assert main(["--merge-from", str(source), "--out", str(out)]) == 1

    err = capsys.readouterr().err.splitlines()
    assert "2 row(s) copied" in err[0] and "1 refused, 1 failed row(s) left out" in err[0]
    assert err[1].endswith(f"{theirs[0].job_id}: bitstream changed since its row was written")
    assert not rows.row_path(out, theirs[0].job_id).exists()
    assert not rows.row_path(out, theirs[1].job_id).exists()
    assert Path(ours[0].bitstream).read_bytes() == b"good"
    assert plan.split_done(ours)[0] == []


def test_merge_refuses_what_it_cannot_do(tmp_path, images):
    source = tmp_path / "src"
    finish_job(_jobs(images, source, ["a"])[0])
    with pytest.raises(InputError, match="holds no result rows"):
        main(["--merge-from", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match="is --out itself"):
        main(["--merge-from", str(source), "--out", str(source)])
    with pytest.raises(InputError, match="runs alone"):
        main(["--merge-from", str(source), "--verify", "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match="runs alone"):
        main(["--merge-from", str(source), "--dry-run", "--out", str(tmp_path / "o")])
    with pytest.raises(InputError, match=r"the options of a run \(--images, --force\)"):
        main(
            ["--merge-from", str(source), "--images", "a", "--force", "--out", str(tmp_path / "o")]
        )
    assert not (tmp_path / "o").exists()


def test_a_row_that_cannot_be_written_is_refused_and_the_others_merge(
    tmp_path, images, capsys, monkeypatch
):
    from bench import merge

    source, out = tmp_path / "src", tmp_path / "out"
    jobs = _jobs(images, source, ["a"])
    for job in jobs:
        finish_job(job, data=job.job_id.encode())
    real_write = merge.atomic_write_bytes

    def full_disk_for_the_first(path, data):
        if Path(path).name == Path(jobs[0].bitstream).name:
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(merge, "atomic_write_bytes", full_disk_for_the_first)
    assert main(["--merge-from", str(source), "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "1 row(s) copied" in err[0] and "1 refused" in err[0]
    assert err[1].endswith(
        f"{jobs[0].job_id}: cannot be copied into {out}: No space left on device"
    )
    assert not rows.row_path(out, jobs[0].job_id).exists()
    assert plan.split_done(_jobs(images, out, ["a"]))[0] == _jobs(images, out, ["a"])[:1]


def test_decoded_pngs_come_along_and_a_source_that_lost_a_file_out_has_is_fine(
    tmp_path, images, capsys
):
    source, out = tmp_path / "src", tmp_path / "out"
    jobs = _jobs(images, source, ["a"])
    for job in jobs:
        row = finish_job(job, data=job.job_id.encode())
        png = source / "decoded" / f"{job.job_id}.png"
        png.parent.mkdir(exist_ok=True)
        png.write_bytes(b"png of " + job.job_id.encode())
        rows.write_row(source, {**row, "decoded_png": str(png)})
    assert main(["--merge-from", str(source), "--out", str(out)]) == 0
    for job in jobs:
        merged = json.loads(rows.row_path(out, job.job_id).read_text())
        assert merged["decoded_png"] == str(out / "decoded" / f"{job.job_id}.png")
        assert Path(merged["decoded_png"]).read_bytes() == b"png of " + job.job_id.encode()

    Path(jobs[0].bitstream).unlink()  # the source lost it; out has it intact
    capsys.readouterr()
    assert main(["--merge-from", str(source), "--out", str(out)]) == 0
    summary = capsys.readouterr().err.splitlines()[0]
    assert "0 row(s) copied into" in summary and "2 already there, 0 refused" in summary


def test_a_row_whose_job_id_is_a_path_is_refused(tmp_path, images, capsys):
    source, out = tmp_path / "src", tmp_path / "out"
    job = _jobs(images, source, ["a"])[0]
    row = finish_job(job)
    rows.row_path(source, job.job_id).unlink()
    (source / "rows" / "evil.json").write_text(json.dumps({**row, "job_id": "../../evil"}))
    assert main(["--merge-from", str(source), "--out", str(out)]) == 1
    assert "'../../evil' is not a job id" in capsys.readouterr().err
    assert not (tmp_path / "evil.json").exists()
