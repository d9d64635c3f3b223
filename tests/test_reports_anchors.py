"""Anchors shipped as data: complete, usable, faithful to their published sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports.anchors import (
    anchor_from_results,
    available_anchors,
    load_anchor,
    parse_anchor_ids,
)
from reports.bd_rate import check_curve
from reports.errors import ReportError

SOURCES = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "kodak"

PUBLISHED = {
    "hm": "hm.json",
    "vtm": "vtm.json",
    "bpg": "bpg_444_x265_ycbcr.json",
    "bmshj2018-hyperprior": "paper-bmshj2018-hyperprior.json",
    "bmshj2018-hyperprior-compressai": "compressai-bmshj2018-hyperprior_mse_cuda.json",
    "mbt2018": "paper-mbt2018.json",
    "cheng2020-anchor": "compressai-cheng2020-anchor_mse_cuda.json",
    "elic2022": "paper-elic2022_mse.json",
    "jpeg": "jpeg.json",
    "jpeg2000": "jpeg2000.json",
    "webp": "webp.json",
    "av1": "av1.json",
}
COOLCHIC = {
    "coolchic-v1": "coolchic-v1.0.tsv",
    "coolchic-v2": "coolchic-v2.0.tsv",
    "coolchic-v3": "coolchic-v3.0.tsv",
    "coolchic-v3.4": "coolchic-v3.4.tsv",
    "coolchic-v4.2": "coolchic-v4.2.tsv",
    "coolchic-v5": "coolchic-v5.0.tsv",
}


def _source(name: str) -> Path:
    path = SOURCES / name
    if not path.exists():
        pytest.skip(f"{path} not found (tests expect ../shared)")
    return path


def test_every_expected_anchor_is_shipped():
    assert set(available_anchors()) == set(PUBLISHED) | set(COOLCHIC)


@pytest.mark.parametrize("anchor_id", sorted(set(PUBLISHED) | set(COOLCHIC)))
def test_anchor_is_documented_and_usable(anchor_id):
    anchor = load_anchor(anchor_id)
    assert anchor.id == anchor_id
    for text in (anchor.name, anchor.source, anchor.reference, anchor.licence, anchor.family):
        assert text.strip()
    rate, psnr = check_curve(anchor.curve.rate_bpp, anchor.curve.psnr_db, anchor_id)
    assert np.array_equal(rate, anchor.curve.rate_bpp)  # stored sorted by rate


@pytest.mark.parametrize(("anchor_id", "file_name"), sorted(PUBLISHED.items()))
def test_published_points_are_transcribed_faithfully(anchor_id, file_name):
    results = json.loads(_source(file_name).read_text())["results"]
    expected = sorted(zip(results["bpp"], results["psnr-rgb"], strict=True))
    curve = load_anchor(anchor_id).curve
    assert curve.rate_bpp == pytest.approx([r for r, _ in expected], abs=1e-6)
    assert curve.psnr_db == pytest.approx([p for _, p in expected], abs=1e-6)


@pytest.mark.parametrize(("anchor_id", "file_name"), sorted(COOLCHIC.items()))
def test_coolchic_per_image_points_and_means(anchor_id, file_name):
    source = pd.read_csv(_source(file_name), sep="\t")
    source = source.rename(columns={"seq": "seq_name", "lambda": "lmbda"})
    curve = load_anchor(anchor_id).curve
    merged = source.merge(curve.per_image, on=["seq_name", "lmbda"], suffixes=("", "_ours"))
    assert len(merged) == len(source) == len(curve.per_image)
    assert merged["rate_bpp_ours"].to_numpy() == pytest.approx(merged["rate_bpp"], abs=1e-6)
    assert merged["psnr_db_ours"].to_numpy() == pytest.approx(merged["psnr_db"], abs=1e-6)
    means = source.groupby("lmbda")[["rate_bpp", "psnr_db"]].mean().sort_values("rate_bpp")
    assert curve.rate_bpp == pytest.approx(means["rate_bpp"].to_numpy(), abs=1e-6)
    assert curve.psnr_db == pytest.approx(means["psnr_db"].to_numpy(), abs=1e-6)
    assert len(curve.image_curves()) == 24


def test_parse_anchor_ids():
    assert parse_anchor_ids("hm, vtm,hm") == ["hm", "vtm"]
    assert parse_anchor_ids("") == []
    assert parse_anchor_ids("all") == available_anchors()
    with pytest.raises(ReportError, match="unknown anchor\\(s\\) hevc; known: av1"):
        parse_anchor_ids("hm,hevc")
    with pytest.raises(ReportError, match="unknown anchor 'x265'"):
        load_anchor("x265")


def test_anchor_from_measured_results(tmp_path):
    folder = tmp_path / "kodak-jpeg"
    folder.mkdir()
    (folder / "raw_results.tsv").write_text(
        "seq_name\tquality\trate_bpp\tpsnr_db\n"
        + "".join(f"img\t{q}\t{0.1 * q}\t{25 + q / 10}\n" for q in (10, 30, 50, 70))
    )
    anchor = anchor_from_results(folder)
    assert (anchor.id, anchor.family, anchor.curve.key) == ("kodak-jpeg", "measured", "quality")
    named = anchor_from_results(f"JPEG here={folder}")
    assert named.id == named.name == "JPEG here"
    assert str(folder) in named.source
