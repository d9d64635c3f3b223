"""`coolchic report --psnr-average`: per-image mean PSNR or PSNR of the mean MSE; provenance."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from reports.anchors import load_anchor
from reports.bd_rate import bd_rate_pct
from reports.cli import main
from reports.curves import MEAN_MSE, PER_IMAGE, curve_from_table
from reports.errors import ReportError
from reports.provenance import provenance_markdown, table_provenance
from reports.tables import AS_PUBLISHED_NOTE, bd_table


def _coolchic_v5_per_image() -> pd.DataFrame:
    text = resources.files("reports.anchors").joinpath("coolchic-v5.json").read_text()
    return pd.DataFrame(json.loads(text)["per_image"])


@pytest.fixture
def v5_results(tmp_path):
    path = tmp_path / "coolchic-v5" / "raw_results.tsv"
    path.parent.mkdir()
    _coolchic_v5_per_image().to_csv(path, sep="\t", index=False)
    return path.parent


def _by_hand_mean_mse_bd_rate(method: str = "pchip") -> float:
    """BD-rate vs HM of the curve of PSNR-of-mean-MSE, computed here from scratch."""
    table = _coolchic_v5_per_image()
    rate, psnr = [], []
    for _, group in table.groupby("lmbda"):
        rate.append(group.rate_bpp.mean())
        psnr.append(10 * np.log10(1 / np.mean(10 ** (-group.psnr_db.to_numpy() / 10))))
    hm = load_anchor("hm").curve
    return bd_rate_pct(hm.rate_bpp, hm.psnr_db, rate, psnr, method)


def _bd_row(folder, anchor: str) -> pd.Series:
    bd = pd.read_csv(folder / "bd_rate.tsv", sep="\t")
    return bd.set_index("anchor").loc[anchor]


def test_coolchic_v5_against_hm_in_both_conventions(v5_results, tmp_path, capsys):
    by_hand = _by_hand_mean_mse_bd_rate()
    assert by_hand == pytest.approx(-20.2, abs=0.1)  # the "about -20 %"
    base = ["--results", str(v5_results), "--anchors", "hm"]
    assert main([*base, "--out", str(tmp_path / "default")]) == 0
    default = _bd_row(tmp_path / "default", "hm")
    assert default.psnr_average == PER_IMAGE and default.other_psnr_average == MEAN_MSE
    assert round(default.bd_rate_pct, 1) == -25.6  # Cool-chic 5.0's published figure
    assert default.other_bd_rate_pct == pytest.approx(by_hand, abs=1e-4)
    assert "PSNR average per-image (mean-mse beside)" in capsys.readouterr().out

    assert main([*base, "--psnr-average", "mean-mse", "--out", str(tmp_path / "mse")]) == 0
    mse = _bd_row(tmp_path / "mse", "hm")
    assert mse.psnr_average == MEAN_MSE and mse.bd_rate_pct == pytest.approx(by_hand, abs=1e-4)
    assert mse.other_bd_rate_pct == pytest.approx(default.bd_rate_pct, abs=1e-4)
    assert mse.note == AS_PUBLISHED_NOTE  # HM has no per-image rows: compared as published
    report = (tmp_path / "mse" / "report.md").read_text()
    assert "PSNR: the PSNR of the mean MSE over the images (mean-mse)" in report
    assert "| BD-rate (mean-mse) | BD-PSNR (mean-mse) | BD-rate (per-image) |" in report


def test_the_classic_cubic_fit_gives_the_same_split():
    curve = curve_from_table(_coolchic_v5_per_image(), "v5")
    row = bd_table(curve, [load_anchor("hm")], method="cubic").iloc[0]
    assert row.other_bd_rate_pct == pytest.approx(_by_hand_mean_mse_bd_rate("cubic"), abs=1e-9)
    assert row.bd_rate_pct == pytest.approx(-25.7, abs=0.05)
    assert row.other_bd_rate_pct - row.bd_rate_pct == pytest.approx(5.5, abs=0.1)


def test_an_anchor_with_per_image_rows_is_compared_in_the_same_convention(v5_results, tmp_path):
    argv = ["--results", str(v5_results), "--anchors", "coolchic-v5", "--out", str(tmp_path)]
    assert main([*argv, "--psnr-average", "mean-mse"]) == 0
    row = _bd_row(tmp_path, "coolchic-v5")
    assert row.bd_rate_pct == pytest.approx(0.0, abs=1e-9)  # itself, in either convention
    assert row.other_bd_rate_pct == pytest.approx(0.0, abs=1e-9)
    assert pd.isna(row.note)


def test_mean_mse_is_below_the_per_image_mean_and_uses_the_mse_column():
    raw = pd.DataFrame(
        {
            "seq_name": ["a", "b"] * 4,
            "lmbda": [0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001],
            "rate_bpp": [0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 1.6],
            "psnr_db": [25.0, 35.0, 28.0, 36.0, 31.0, 39.0, 35.0, 43.0],
        }
    )
    per_image = curve_from_table(raw, "x")
    mean_mse = curve_from_table(raw, "x", psnr_average=MEAN_MSE)
    assert per_image.psnr_db[0] == pytest.approx(30.0)
    assert mean_mse.psnr_db[0] == pytest.approx(10 * np.log10(2 / (10**-2.5 + 10**-3.5)))
    assert (mean_mse.psnr_db < per_image.psnr_db).all()
    with_mse = raw.assign(mse=1e-2)  # an mse column wins over psnr_db
    assert curve_from_table(with_mse, "x", MEAN_MSE).psnr_db == pytest.approx([20.0] * 4)
    assert curve_from_table(with_mse, "x", PER_IMAGE).psnr_db[0] == pytest.approx(30.0)
    with pytest.raises(ReportError, match="unknown PSNR average 'median'"):
        curve_from_table(raw, "x", psnr_average="median")
    published = load_anchor("hm").curve
    assert not published.has_average(MEAN_MSE)
    with pytest.raises(ReportError, match="no per-image data for the mean-mse average"):
        published.averaged(MEAN_MSE)


def test_an_unknown_convention_is_an_argparse_error(v5_results, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--results", str(v5_results), "--psnr-average", "median"])
    assert exited.value.code == 2 and "invalid choice: 'median'" in capsys.readouterr().err


def _with_provenance(table: pd.DataFrame, commits: list[str]) -> pd.DataFrame:
    table = table.copy()
    table["coolchic_version"] = "0.3.0"
    table["git_commit"] = [commits[i % len(commits)] for i in range(len(table))]
    table["git_dirty"] = False
    table["recipe_sha256"] = "abcd"
    table["cpu_model"] = "Some CPU"
    return table


def test_report_summarises_provenance_and_warns_when_it_is_mixed(tmp_path, caplog):
    one = _with_provenance(_coolchic_v5_per_image(), ["c0ffee"])
    summary = table_provenance(one)
    assert summary.mixed == [] and summary.values["git_commit"] == [("c0ffee", 120)]
    assert "Warning" not in provenance_markdown(summary)
    assert "| git_commit | `c0ffee` (120) |" in provenance_markdown(summary)

    mixed = _with_provenance(_coolchic_v5_per_image(), ["c0ffee", "beef"])
    (tmp_path / "raw_results.tsv").write_text(mixed.to_csv(sep="\t", index=False))
    assert main(["--results", str(tmp_path), "--anchors", "hm"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Provenance" in report
    assert "**Warning: the 120 rows come from different git_commit**" in report
    assert "different git_commit" in caplog.text
    assert "| git_dirty | `False` (120) |" in report


def test_a_table_without_provenance_says_so(v5_results):
    summary = table_provenance(pd.read_csv(v5_results / "raw_results.tsv", sep="\t"))
    assert provenance_markdown(summary).startswith("The results table has no provenance columns")
