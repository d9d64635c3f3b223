"""`coolchic bench --decode-only` against the original's published results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "reference" / "coolchic-v1"
KODAK = SHARED / "datasets" / "kodak"

pytestmark = pytest.mark.skipif(
    not (REFERENCE.is_dir() and KODAK.is_dir()), reason="needs ../shared reference data"
)


def _compare_with_reference(out: Path, images: list[str] | None) -> None:
    ours = pd.read_csv(out / "raw_results.tsv", sep="\t")
    ref = pd.read_csv(REFERENCE / "raw_results.tsv", sep="\t")
    if images:
        ref = ref[ref.seq_name.isin(images)].reset_index(drop=True)
    assert list(ours.columns[:4]) == list(ref.columns)
    assert ours.seq_name.tolist() == ref.seq_name.tolist()
    assert ours.lmbda.tolist() == ref.lmbda.tolist()
    assert (ours.rate_bpp - ref.rate_bpp).abs().max() <= 1e-4 + 1e-12
    assert (ours.psnr_db - ref.psnr_db).abs().max() <= 1e-3


def _decode_only_argv(out, *extra: str) -> list[str]:
    """`coolchic bench --decode-only` on the published bitstreams, 2 workers."""
    return [
        "--decode-only",
        str(REFERENCE / "bitstreams"),
        "--dataset",
        "kodak",
        "--data-dir",
        str(KODAK),
        *extra,
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
    ]


def test_decode_only_reproduces_published_rows(tmp_path):
    out = tmp_path / "out"
    argv = _decode_only_argv(out, "--images", "kodim02,kodim19", "--lambdas", "0.004,0.02")
    assert main(argv) == 0
    ours = pd.read_csv(out / "raw_results.tsv", sep="\t")
    ref = pd.read_csv(REFERENCE / "raw_results.tsv", sep="\t")
    ref = ref[ref.seq_name.isin(["kodim02", "kodim19"]) & ref.lmbda.isin([0.004, 0.02])]
    ref = ref.reset_index(drop=True)
    assert ours[["seq_name", "lmbda"]].equals(ref[["seq_name", "lmbda"]])
    assert (ours.rate_bpp - ref.rate_bpp).abs().max() <= 1e-4 + 1e-12
    assert (ours.psnr_db - ref.psnr_db).abs().max() <= 1e-3
    assert (ours.n_bytes * 8 / ours.n_pixels - ours.rate_bpp).abs().max() < 1e-4
    assert set(ours.kind) == {"decode"} and set(ours.status) == {"ok"}


def test_failed_job_is_recorded_then_retried(tmp_path, capsys):
    bitstreams = tmp_path / "bitstreams"
    bitstreams.mkdir()
    good = REFERENCE / "bitstreams" / "kodim23-lambda02.bin"
    shutil.copyfile(
        REFERENCE / "bitstreams" / "kodim23-lambda004.bin", bitstreams / "kodim23-lambda004.bin"
    )
    (bitstreams / "kodim23-lambda02.bin").write_bytes(good.read_bytes()[:40])  # truncated
    out = tmp_path / "out"
    argv = [
        "--decode-only",
        str(bitstreams),
        "--dataset",
        "kodak",
        "--data-dir",
        str(KODAK),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "done 1, skipped 0, failed 1" in err and "kodim23-lambda02" in err
    failed = pd.read_csv(out / "failed_jobs.tsv", sep="\t")
    assert failed.job_id.tolist() == ["kodim23-lambda02"] and "Error" in failed.error[0]
    assert pd.read_csv(out / "raw_results.tsv", sep="\t").seq_name.tolist() == ["kodim23"]
    assert "Traceback" in (out / "logs" / "kodim23-lambda02.log").read_text()

    shutil.copyfile(good, bitstreams / "kodim23-lambda02.bin")
    assert main(argv) == 0
    assert "done 1, skipped 1, failed 0" in capsys.readouterr().err
    assert not (out / "failed_jobs.tsv").exists()
    assert pd.read_csv(out / "raw_results.tsv", sep="\t").lmbda.tolist() == [0.004, 0.02]


@pytest.mark.slow
def test_decode_only_reproduces_both_published_tables(tmp_path):
    out = tmp_path / "out"
    argv = _decode_only_argv(out)
    assert main(argv) == 0
    _compare_with_reference(out, None)
    ours = pd.read_csv(out / "average_results.tsv", sep="\t")
    ref = pd.read_csv(REFERENCE / "average_results.tsv", sep="\t")
    assert list(ours.columns[:3]) == list(ref.columns)
    assert (ours[ref.columns] - ref).abs().max().max() <= 1e-4 + 1e-12
    ours_text = (out / "average_results.tsv").read_text().splitlines()
    ref_text = (REFERENCE / "average_results.tsv").read_text().splitlines()
    assert [line.split("\t")[:3] for line in ours_text] == [line.split("\t") for line in ref_text]
