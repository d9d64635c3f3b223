"""`coolchic report` end to end: seed results, classical-codec results, anchors from folders."""

from __future__ import annotations

import io
from pathlib import Path

import bjontegaard
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from coolchic_cli import main as coolchic_main
from coolchic_core.image_io import read_image
from coolchic_core.metrics import psnr_db, rate_bpp
from reports.anchors import load_anchor
from reports.cli import main as report_main
from reports.curves import load_results

JPEG_QUALITIES = (10, 25, 45, 65, 85, 95)
JPEG_IMAGES = ("kodim03", "kodim19")


@pytest.fixture(scope="module")
def jpeg_results(kodak_dir, tmp_path_factory):
    """A classical-codec run (JPEG through Pillow) on two Kodak images, as the bench writes it."""
    rows = []
    for name in JPEG_IMAGES:
        original = read_image(kodak_dir / f"{name}.png")
        n_pixels = original.shape[0] * original.shape[1]
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            Image.fromarray(original).save(buffer, format="JPEG", quality=quality)
            decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
            rows.append(
                {
                    "seq_name": name,
                    "quality": quality,
                    "rate_bpp": rate_bpp(len(buffer.getvalue()), n_pixels),
                    "psnr_db": psnr_db(decoded / 255.0, original / 255.0),
                }
            )
    folder = tmp_path_factory.mktemp("kodak-jpeg")
    pd.DataFrame(rows).to_csv(folder / "raw_results.tsv", sep="\t", index=False)
    return folder


def _read_bd(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "bd_rate.tsv", sep="\t", keep_default_na=True)


def test_report_on_the_seed_results(reference_dir, tmp_path, capsys):
    code = report_main(["--results", str(reference_dir), "--out", str(tmp_path)])
    assert code == 0
    for name in (
        "bd_rate.tsv",
        "bd_rate_per_image.tsv",
        "rd_curve.png",
        "rd_curve.svg",
        "report.md",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    bd = _read_bd(tmp_path).set_index("anchor")
    assert list(bd.index) == ["hm", "bmshj2018-hyperprior", "vtm", "coolchic-v1"]
    assert {"bd_rate_pct", "bd_psnr_db", "psnr_min_db", "psnr_max_db", "method", "n_points"} <= set(
        bd.columns
    )
    assert bd.loc["hm", "bd_rate_pct"] == pytest.approx(19.4, abs=0.1)
    assert bd.loc["bmshj2018-hyperprior", "bd_rate_pct"] == pytest.approx(11.1, abs=0.1)
    assert bd.loc["vtm", "bd_rate_pct"] == pytest.approx(51.1, abs=0.1)
    assert (bd["method"] == "pchip").all() and (bd["n_points"] == 4).all()
    per_image = pd.read_csv(tmp_path / "bd_rate_per_image.tsv", sep="\t")
    assert len(per_image) == 24 and set(per_image["anchor"]) == {"coolchic-v1"}
    with Image.open(tmp_path / "rd_curve.png") as png:
        assert png.format == "PNG" and png.width >= 1000
    assert "<svg" in (tmp_path / "rd_curve.svg").read_text()
    markdown = (tmp_path / "report.md").read_text()
    assert "![Rate-distortion curves](rd_curve.png)" in markdown
    assert "+19.4 %" in markdown and "CompressAI" in markdown and "arXiv:2212.05458" in markdown
    out = capsys.readouterr().out
    assert "hm" in out and "+19.4%" in out
    assert not list(tmp_path.glob("*.tmp"))


def test_cubic_method_and_label(reference_dir, tmp_path):
    args = ["--results", str(reference_dir / "raw_results.tsv"), "--out", str(tmp_path)]
    assert report_main([*args, "--method", "cubic", "--anchors", "hm", "--label", "v1"]) == 0
    bd = _read_bd(tmp_path)
    assert bd["method"].tolist() == ["cubic"]
    seed = load_results(reference_dir)
    hm = load_anchor("hm").curve
    expected = bjontegaard.bd_rate(
        hm.rate_bpp,
        hm.psnr_db,
        seed.rate_bpp,
        seed.psnr_db,
        "cubic",
        require_matching_points=False,
        min_overlap=0,
    )
    assert bd["bd_rate_pct"].iloc[0] == pytest.approx(expected, abs=0.1)
    assert "# Rate-distortion report: v1" in (tmp_path / "report.md").read_text()


def test_classical_codec_results_as_the_curve(jpeg_results, reference_dir, tmp_path):
    args = ["--results", str(jpeg_results), "--anchors", "jpeg", "--out", str(tmp_path)]
    args += ["--anchors-from", f"v1={reference_dir}"]
    assert report_main(args) == 0
    bd = _read_bd(tmp_path).set_index("anchor")
    assert (bd["n_points"] == len(JPEG_QUALITIES)).all()
    # The v1 results have every image: averaged over the two of the JPEG run.
    assert f"on the {len(JPEG_IMAGES)} image(s) both have" in bd.loc["v1", "note"]
    # JPEG costs more than COOL-CHIC v1 at equal PSNR, whatever the image.
    assert bd.loc["v1", "bd_rate_pct"] > 20
    assert "| quality |" in (tmp_path / "report.md").read_text()


def test_a_mean_over_other_images_is_not_compared(jpeg_results, tmp_path):
    args = ["--results", str(jpeg_results), "--anchors", "jpeg,hm", "--out", str(tmp_path)]
    assert report_main(args) == 0
    bd = _read_bd(tmp_path).set_index("anchor")
    assert bd["bd_rate_pct"].isna().all()
    expected = f"only its mean over 24 images and these results cover {len(JPEG_IMAGES)}"
    assert bd["note"].str.contains(expected).all()


def test_classical_codec_results_as_anchors(reference_dir, jpeg_results, tmp_path):
    args = ["--results", str(reference_dir), "--out", str(tmp_path), "--anchors", "hm"]
    args += ["--anchors-from", str(jpeg_results), "--anchors-from", f"jpeg-again={jpeg_results}"]
    assert report_main(args) == 0
    bd = _read_bd(tmp_path).set_index("anchor")
    assert list(bd.index) == ["hm", jpeg_results.name, "jpeg-again"]
    assert bd.loc["jpeg-again", "bd_rate_pct"] == pytest.approx(
        bd.loc[jpeg_results.name, "bd_rate_pct"]
    )
    # COOL-CHIC v1 needs far fewer bits than JPEG at equal PSNR.
    assert bd.loc["jpeg-again", "bd_rate_pct"] < -20
    per_image = pd.read_csv(tmp_path / "bd_rate_per_image.tsv", sep="\t")
    assert sorted(per_image["seq_name"].unique()) == list(JPEG_IMAGES)
    assert len(per_image) == 2 * len(JPEG_IMAGES)


def test_too_few_points_are_reported_not_fatal(tmp_path):
    raw = tmp_path / "raw_results.tsv"
    raw.write_text(
        "lmbda\trate_bpp\tpsnr_db\n0.001\t0.5\t33.0\n0.004\t0.25\t30.0\n0.02\t0.1\t26.0\n"
    )
    assert report_main(["--results", str(tmp_path), "--anchors", "hm"]) == 0
    bd = _read_bd(tmp_path)
    assert np.isnan(bd["bd_rate_pct"].iloc[0])
    assert "at least 4" in bd["note"].iloc[0]
    assert (tmp_path / "rd_curve.png").exists()


def test_list_anchors_refuses_the_options_of_a_report(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        report_main(["--list-anchors", "--results", str(tmp_path)])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--results", "{tmp}/nowhere"], "results file not found"),
        (["--results", "{tmp}/bad.tsv"], "missing column(s) psnr_db"),
        (["--results", "{seed}", "--anchors", "hevc", "--out", "{tmp}"], "unknown anchor(s) hevc"),
        (["--results", "{seed}", "--anchors", "", "--out", "{tmp}"], "no anchors"),
        (["--results", "{seed}", "--anchors-from", "{tmp}/none", "--out", "{tmp}"], "not found"),
    ],
)
def test_errors_are_one_line_and_exit_2(reference_dir, tmp_path, capsys, args, message):
    (tmp_path / "bad.tsv").write_text("seq_name\tlmbda\trate_bpp\nx\t0.001\t0.5\n")
    argv = [a.format(tmp=tmp_path, seed=reference_dir) for a in args]
    assert coolchic_main(["report", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coolchic report: error:") and message in err
    assert "\n" not in err
    assert not (tmp_path / "bd_rate.tsv").exists()


def test_list_anchors(capsys):
    assert report_main(["--list-anchors"]) == 0
    out = capsys.readouterr().out
    assert "bmshj2018-hyperprior" in out and "coolchic-v5" in out


def test_partial_overlap_is_noted(reference_dir, tmp_path):
    args = ["--results", str(reference_dir), "--out", str(tmp_path)]
    assert report_main([*args, "--anchors", "hm,cheng2020-anchor"]) == 0
    bd = _read_bd(tmp_path).set_index("anchor")
    assert pd.isna(bd.loc["hm", "note"])
    # cheng2020-anchor spans 28.58-36.70 dB, the seed 25.77-40.84 dB: 54 % of it.
    assert bd.loc["cheng2020-anchor", "note"] == "PSNR overlap covers 54 % of this curve's range"


COMMITTED = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*/bd_rate.tsv"))


@pytest.mark.parametrize("committed", COMMITTED, ids=[p.parent.name for p in COMMITTED])
def test_a_committed_bd_table_is_what_the_rows_give(committed, tmp_path):
    expected = pd.read_csv(committed, sep="\t")
    args = ["--results", str(committed.parent), "--out", str(tmp_path)]
    assert report_main([*args, "--anchors", ",".join(expected["anchor"])]) == 0
    got = _read_bd(tmp_path)
    assert got["anchor"].tolist() == expected["anchor"].tolist()
    np.testing.assert_allclose(got["bd_rate_pct"], expected["bd_rate_pct"], atol=1e-3)
    assert got["note"].fillna("").tolist() == expected["note"].fillna("").tolist()
