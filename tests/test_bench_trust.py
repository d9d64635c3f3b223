"""bench: verified resume, the --out lock, temporary files, --verify, bad input, provenance."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import lock as lock_mod
from bench import plan, rows
from bench.cli import main
from bench.execute import make_row, run_job, store_row
from bench.inputs import (
    ENCODE_BYTES_PER_PIXEL,
    available_memory_bytes,
    check_images,
    check_memory,
)
from bench.jobs import decode_jobs, encode_jobs
from bench.provenance import git_dirty, recipe_sha256, runtime_provenance
from coolchic_core import atomic_io
from coolchic_core.errors import InputError
from datasets import open_dataset
from datasets.checksum import sha256_file
from tests.bench_rows import finish_job

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KODAK = SHARED / "datasets" / "kodak"
REFERENCE = SHARED / "reference" / "coolchic-v1"
needs_kodak = pytest.mark.skipif(not KODAK.is_dir(), reason="needs ../shared/datasets/kodak")


def _jobs(tmp_path, images=("kodim03",), lambdas=(0.004, 0.02)):
    dataset = open_dataset("kodak", data_dir=KODAK, images=list(images), env={})
    return encode_jobs(dataset, list(lambdas), "smoke", 0, tmp_path / "out")


@needs_kodak
def test_resume_reruns_a_job_whose_bitstream_or_row_does_not_match(tmp_path):
    jobs = _jobs(tmp_path, images=("kodim03", "kodim14"), lambdas=(0.004, 0.02, 0.0005))
    for job in jobs:
        finish_job(job)
    flipped, shorter, missing, stripped, failed, unreadable = (Path(j.bitstream) for j in jobs[:6])
    flipped.write_bytes(b"0123456780")  # same size, one byte changed
    shorter.write_bytes(b"012345678")
    missing.unlink()
    row = json.loads(rows.row_path(jobs[3].out_dir, jobs[3].job_id).read_text())
    rows.write_row(jobs[3].out_dir, {**row, "bitstream_sha256": None})
    rows.write_row(jobs[4].out_dir, {**row, "job_id": jobs[4].job_id, "status": "failed"})
    rows.row_path(jobs[5].out_dir, jobs[5].job_id).write_text("{")
    reasons: dict[str, str] = {}
    to_run, skipped = plan.split_done(jobs, reasons=reasons)
    assert skipped == [] and to_run == jobs
    assert reasons == {
        jobs[0].job_id: "bitstream changed since its row was written",
        jobs[1].job_id: "bitstream size changed since its row was written (9 != 10)",
        jobs[2].job_id: "its bitstream is missing",
        jobs[3].job_id: "its row lacks bitstream_sha256",
        jobs[4].job_id: "its last run failed",
        jobs[5].job_id: "its row is unreadable",
    }
    finish_job(jobs[0])
    assert plan.split_done(jobs[:1]) == ([], jobs[:1])
    other = _jobs(tmp_path, images=("kodim03",), lambdas=(0.004,))[0]
    other = other.__class__(**{**other.__dict__, "seed": 1})
    assert plan.rerun_reason(other) == "its configuration changed"
    assert plan.rerun_reason(_jobs(tmp_path, lambdas=(0.01,))[0]) == plan.NO_ROW


def _hold_in_child(folder: Path):
    """Fork a process that takes `folder`'s lock; returns (pid, write end to release it)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            held = lock_mod.FolderLock(folder)
            held.acquire()
            os.write(ready_w, b"1")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    assert os.read(ready_r, 1) == b"1"
    os.close(ready_r)
    return pid, go_w


def _end_child(pid: int, release_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(release_fd, b"1")
    os.close(release_fd)
    os.waitpid(pid, 0)


@needs_kodak
def test_a_second_bench_on_the_same_out_is_refused_in_one_line(tmp_path, capsys):
    from coolchic_cli import main as coolchic_main

    out = tmp_path / "out"
    out.mkdir()
    pid, release = _hold_in_child(out)
    try:
        argv = ["bench", "--data-dir", str(KODAK), "--images", "kodim03", "--lambdas", "0.02"]
        status = coolchic_main([*argv, "--preset", "smoke", "--out", str(out)])
    finally:
        _end_child(pid, release)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert f"is in use by another bench (pid {pid} on " in err[0]
    assert not (out / "rows").exists()


def test_the_lock_of_a_killed_holder_is_free_and_waiting_works(tmp_path):
    pid, release = _hold_in_child(tmp_path)
    os.kill(pid, signal.SIGKILL)
    _end_child(pid, release)
    mine = lock_mod.FolderLock(tmp_path)
    mine.acquire()  # kill -9 dropped the child's lock
    assert json.loads((tmp_path / lock_mod.LOCK_NAME).read_text())["pid"] == os.getpid()
    mine.release()

    pid, release = _hold_in_child(tmp_path)
    waited = []

    def on_wait(holder: str) -> None:
        waited.append(holder)
        os.write(release, b"1")  # the holder ends while we wait

    try:
        with pytest.raises(InputError, match="in use by another bench"):
            lock_mod.FolderLock(tmp_path).acquire()
        waiter = lock_mod.FolderLock(tmp_path)
        waiter.acquire(wait=True, on_wait=on_wait)
        assert waiter.held and len(waited) == 1 and f"pid {pid} " in waited[0]
        waiter.release()
    finally:
        _end_child(pid, release)


def test_stale_temporary_files_are_removed_and_others_kept(tmp_path):
    for folder in ("rows", "bitstreams", "decoded", "logs"):
        (tmp_path / folder).mkdir()
    stale = [
        tmp_path / ".raw_results.tsv.ab12.tmp",
        tmp_path / "rows" / ".a-lambda02.json.cd34.tmp",
        tmp_path / "bitstreams" / ".a-lambda02.bin.ef56.tmp",
        tmp_path / "decoded" / ".a-lambda02.png.gh78.tmp",
    ]
    kept = [tmp_path / "rows" / "a-lambda02.json", tmp_path / "logs" / "a-lambda02.log"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(lock_mod.remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def test_a_full_disk_leaves_no_partial_file_and_fails_the_job(tmp_path, monkeypatch):
    target = tmp_path / "row.json"
    target.write_text("old")

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_io.os, "fsync", full)
    with pytest.raises(InputError, match="No space left on device"):
        atomic_io.atomic_write_text(target, "new row")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["row.json"]


@needs_kodak
def test_a_row_that_cannot_be_written_becomes_a_failed_job(tmp_path, monkeypatch):
    job = _jobs(tmp_path, lambdas=(0.02,))[0]

    def full(*_args):
        raise InputError("cannot write x: No space left on device")

    monkeypatch.setattr(rows, "write_row", full)
    row = store_row(job, make_row(job, "cpu", 1, {"rate_bpp": 1.0}, rows.STATUS_OK))
    assert row["status"] == rows.STATUS_FAILED
    assert row["error"] == "row not written: cannot write x: No space left on device"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared reference data")
def test_verify_refuses_the_options_of_a_run_it_would_ignore(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"--verify runs alone, .* \(--images, --lambdas\)"):
        main(["--verify", "--images", "kodim01", "--lambdas", "0.02", "--out", str(out)])
    assert not out.exists()


@needs_kodak
def test_verify_decodes_every_bitstream_and_lists_mismatches(tmp_path, capsys):
    bitstream = tmp_path / "kodim23-lambda02.bin"
    bitstream.write_bytes((REFERENCE / "bitstreams" / bitstream.name).read_bytes())
    out = tmp_path / "out"
    dataset = open_dataset("kodak", data_dir=KODAK, images=["kodim23"], env={})
    sums = {("kodim23", 0.02): (bitstream, sha256_file(bitstream))}
    row = run_job(decode_jobs(dataset, sums, out)[0])  # in this process: no worker to start
    assert row["status"] == rows.STATUS_OK
    assert main(["--verify", "--out", str(out)]) == 0
    assert "1 row(s) checked, 0 mismatch(es)" in capsys.readouterr().err

    rows.write_row(out, {**row, "psnr_db": row["psnr_db"] + 0.01})
    assert main(["--verify", "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "1 row(s) checked, 1 mismatch(es), 0 failed row(s) not checked" in err[0]
    assert err[1].startswith(f"  kodim23-lambda02: psnr_db {row['psnr_db'] + 0.01} in its row, ")

    rows.write_row(out, {**row, "rate_bpp": row["rate_bpp"] + 1e-6})
    data = bytearray(bitstream.read_bytes())
    data[len(data) // 2] ^= 0x01
    bitstream.write_bytes(bytes(data))
    assert main(["--verify", "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1] == "  kodim23-lambda02: bitstream changed since its row was written"

    # An encode row of a folder moved since: its bitstream is found in <out>/bitstreams.
    (out / "bitstreams").mkdir()
    bitstream.write_bytes((REFERENCE / "bitstreams" / bitstream.name).read_bytes())
    bitstream.rename(out / "bitstreams" / bitstream.name)
    rows.write_row(out, {**row, "kind": "encode", "bitstream": str(tmp_path / "old" / "x.bin")})
    assert main(["--verify", "--out", str(out)]) == 1  # x.bin is not there either
    moved = {**row, "kind": "encode", "bitstream": str(tmp_path / "old" / bitstream.name)}
    rows.write_row(out, moved)
    assert main(["--verify", "--out", str(out)]) == 0

    # On another machine: the original image is found under --data-dir by its name.
    rows.write_row(out, {**moved, "image_path": str(tmp_path / "gone" / "kodim23.png")})
    capsys.readouterr()
    assert main(["--verify", "--out", str(out)]) == 1
    assert "kodim23.png is missing (give its folder with --data-dir)" in capsys.readouterr().err
    assert main(["--verify", "--out", str(out), "--data-dir", str(KODAK)]) == 0

    with pytest.raises(InputError, match="holds no result rows"):
        main(["--verify", "--out", str(tmp_path / "nothing")])


def _save(folder: Path, name: str, array: np.ndarray, mode: str | None = None) -> None:
    Image.fromarray(array, mode=mode).save(folder / name)


@pytest.fixture
def bad_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rgb = np.full((8, 8, 3), 128, dtype=np.uint8)
    _save(folder, "good.png", rgb)
    (folder / "notes.txt").write_text("not an image, not an image suffix: ignored")
    (folder / "text.png").write_text("not a PNG")
    data = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    rgba = np.dstack([rgb, np.full((8, 8), 10, dtype=np.uint8)])
    _save(folder, "alpha.png", rgba)
    return folder


def test_bad_images_stop_the_bench_before_any_job(bad_folder, tmp_path):
    with pytest.raises(InputError) as caught:
        main(["--dataset", str(bad_folder), "--preset", "smoke", "--out", str(tmp_path / "o")])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("3 of 4 image(s) of images cannot be used")
    for name in ("alpha.png", "text.png", "truncated.png"):
        assert name in message
    assert "good.png" not in message and not (tmp_path / "o").exists()


def test_grayscale_and_16_bit_images_are_accepted_as_rgb(tmp_path):
    _save(tmp_path, "gray.png", np.full((4, 4), 7, dtype=np.uint8))
    Image.fromarray(np.full((4, 4), 60000, dtype=np.uint16)).save(tmp_path / "deep.png")
    check_images(open_dataset(str(tmp_path)))


def test_an_image_too_large_is_refused_before_its_pixels_are_read(tmp_path):
    Image.new("L", (16385, 1)).save(tmp_path / "wide.png")
    with pytest.raises(InputError, match="wide.png: image of 16385x1 pixels exceeds"):
        check_images(open_dataset(str(tmp_path)))


@needs_kodak
def test_a_run_that_would_not_fit_in_memory_is_refused():
    dataset = open_dataset("kodak", data_dir=KODAK, images=["kodim03", "kodim04"], env={})
    needed = 768 * 512 * ENCODE_BYTES_PER_PIXEL
    check_memory(dataset, 2, available_bytes=2 * needed)
    with pytest.raises(InputError) as caught:
        check_memory(dataset, 2, available_bytes=2 * needed - 1)
    assert str(caught.value).startswith("kodim03 (768x512) needs about 0.8 GB to encode with 2")
    with pytest.raises(InputError, match="use fewer --workers"):
        check_memory(dataset, 3, available_bytes=2 * needed)
    assert available_memory_bytes() is None or available_memory_bytes() > 0


@needs_kodak
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lambdas", "-0.01"], "lambda must be between 0 and 1"),
        (["--lambdas", "0"], "lambda must be between 0 and 1"),
        (["--lambdas", "nan"], "lambda must be between 0 and 1"),
        (["--lambdas", "inf"], "lambda must be between 0 and 1"),
        (["--lambdas", "0.01,abc"], "not a lambda: 'abc'"),
        (["--lambdas", "0.01,0.010"], "--lambdas: 0.01 given more than once"),
        (["--lambdas", ","], "--lambdas is empty"),
        (["--images", "kodim99"], "has no image kodim99"),
        (["--images", "kodim03,kodim03"], "selected more than once"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, argv, message):
    with pytest.raises(InputError, match=message):
        main([*argv, "--out", str(tmp_path / "out"), "--data-dir", str(KODAK)])
    assert not (tmp_path / "out").exists()


@needs_kodak
def test_an_out_that_is_a_file_is_refused(tmp_path, capsys):
    from coolchic_cli import main as coolchic_main

    (tmp_path / "file").write_text("x")
    argv = ["bench", "--data-dir", str(KODAK), "--images", "kodim03", "--out"]
    assert coolchic_main([*argv, str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and is not a folder" in err[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
@needs_kodak
def test_an_out_that_is_not_writable_is_refused(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot write in --out"):
            main(["--data-dir", str(KODAK), "--images", "kodim03", "--out", str(out)])
    finally:
        out.chmod(0o755)


@needs_kodak
def test_rows_carry_provenance(tmp_path):
    job = _jobs(tmp_path, lambdas=(0.02,))[0]
    job = job.__class__(**{**job.__dict__, "codec_settings": '{"n_itr": 3}'})
    row = make_row(job, "cpu", 3, {}, rows.STATUS_OK)
    for column in ("torch_version", "constriction_version", "numpy_version", "cpu_model"):
        assert row[column], column
    assert row["threads"] == 3 and row["gpu_name"] is None and row["seed"] == 0
    assert row["recipe_sha256"] == recipe_sha256('{"n_itr": 3}') != recipe_sha256("{}")
    assert row["image_sha256"] == job.image_sha256
    assert runtime_provenance("cpu", None)["threads"] >= 1


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_dirty_tells_a_modified_tree(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    assert git_dirty(tmp_path) is False
    (tmp_path / "untracked.txt").write_text("not part of the tree")
    assert git_dirty(tmp_path) is False
    (tmp_path / "a.py").write_text("2\n")
    assert git_dirty(tmp_path) is True
    assert git_dirty(tmp_path / "nowhere") is None


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--workers", "abc"],
        ["bench", "--seed", "x"],
        ["bench", "--no-such-option"],
        ["report", "--psnr-average", "median"],
        ["encode", "--lmbda", "abc", "-i", "a.png", "-o", "a.bin"],
        ["decode", "-i"],
    ],
)
def test_argument_errors_are_one_line_too(argv, capsys):
    from coolchic_cli import main as coolchic_main

    assert coolchic_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"coolchic {argv[0]}: error: ")
    assert err[0].endswith(f"(see coolchic {argv[0]} --help)")


def test_rows_are_read_back_or_refused_with_a_warning(tmp_path, caplog):
    path = rows.write_row(tmp_path, {"job_id": "a-lambda02", "psnr_db": 30.0, "name": "é"})
    assert path.read_text(encoding="utf-8").splitlines() == [
        "{",
        ' "job_id": "a-lambda02",',
        ' "psnr_db": 30.0,',
        ' "name": "\\u00e9"',
        "}",
    ]
    assert rows.read_row(path) == {"job_id": "a-lambda02", "psnr_db": 30.0, "name": "é"}
    folder = tmp_path / "rows"
    (folder / "b.json").write_text('{"status": "ok"}')
    (folder / "c.json").write_text('["job_id"]')
    (folder / "d.json").write_bytes(b"\xff\xfe")
    with caplog.at_level("WARNING", logger="bench.rows"):
        assert [rows.read_row(folder / n) for n in ("b.json", "c.json", "d.json")] == [None] * 3
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == f"ignoring {folder / 'b.json'}: not a result row"
    assert messages[1] == f"ignoring {folder / 'c.json'}: not a result row"
    assert messages[2].startswith(f"ignoring unreadable result row {folder / 'd.json'}: ")
    assert "codec can't decode" in messages[2]


@needs_kodak
def test_an_empty_or_missing_value_makes_a_row_incomplete(tmp_path):
    complete = {c: 1 for c in rows.REQUIRED_OK_COLUMNS}
    assert rows.missing_columns(complete) == []
    assert rows.missing_columns({**complete, "mse": "", "n_bytes": None}) == ["n_bytes", "mse"]
    assert rows.missing_columns({**complete, "psnr_db": 0}) == []
    job = _jobs(tmp_path, lambdas=(0.02,))[0]
    row = finish_job(job)
    rows.write_row(job.out_dir, {**row, "mse": "", "n_pixels": None})
    assert plan.rerun_reason(job) == "its row lacks n_pixels, mse"


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@needs_kodak
def test_the_committed_fast_table_resumes_with_this_code():
    """Its jobs keep their configuration hash: a resumed `make kodak PRESET=fast` skips them."""
    from bench.runner import BenchSettings, prepare

    out = BENCHMARKS / "kodak-fast"
    settings = BenchSettings(data_dir=str(KODAK), preset="fast", out=out, download=False)
    prepared = prepare(settings, take_lock=False)
    done = {row["job_id"] for row in rows.load_rows(out) if row.get("status") == rows.STATUS_OK}
    assert done and {job.job_id for job in prepared.skipped} == done
    assert "its configuration changed" not in prepared.rerun_reasons.values()


def test_a_later_field_at_its_default_leaves_the_recipe_as_it_was():
    from coolchic_core.presets import LATER_FIELDS, TrainingConfig, get_preset, recipe

    defaults = {name: getattr(TrainingConfig, name) for name in LATER_FIELDS}
    earlier = dataclasses.replace(get_preset("fast"), **defaults)
    assert not set(LATER_FIELDS) & set(recipe(earlier))
    changed = dataclasses.replace(earlier, final_ste_latent_lr_factor=1.0)
    assert recipe(changed)["final_ste_latent_lr_factor"] == 1.0
    # The shipped fast sets one of them: it is hashed, so the earlier tables rerun.
    fast = recipe(get_preset("fast"))
    assert fast["warmup_mlp_optimizer"] == "adam" and "latent_grid_lr_factors" not in fast
