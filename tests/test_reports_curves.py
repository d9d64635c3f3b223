"""Results tables: reading, checking, averaging (the original's average_results.tsv)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from reports.curves import (
    average_results,
    format_average_results,
    load_results,
    read_raw_results,
)
from reports.errors import ReportError


def _write(path, text: str):
    path.write_text(text)
    return path


def test_average_matches_the_original_average_results(reference_dir):
    raw = read_raw_results(reference_dir)
    average = average_results(raw)
    assert list(average.columns) == [
        "lmbda",
        "rate_bpp",
        "psnr_db",
        "psnr_of_mean_mse_db",
        "n_images",
    ]
    assert average["n_images"].tolist() == [24, 24, 24, 24]
    # Without an mse column, the MSEs come from the per-image PSNRs; never above their mean.
    assert (average["psnr_of_mean_mse_db"] < average["psnr_db"]).all()
    text = format_average_results(average.drop(columns=["n_images", "psnr_of_mean_mse_db"]))
    assert text == (reference_dir / "average_results.tsv").read_text()


def test_average_with_mse_and_quality_key():
    raw = pd.DataFrame(
        {
            "seq_name": ["a", "b", "a", "b"],
            "quality": [10, 10, 90, 90],
            "rate_bpp": [0.2, 0.4, 2.0, 3.0],
            "psnr_db": [25.0, 27.0, 40.0, 42.0],
            "mse": [1e-3, 3e-3, 1e-4, 2e-4],
        }
    )
    average = average_results(raw)
    assert average["quality"].tolist() == [10, 90]
    assert average["rate_bpp"].tolist() == pytest.approx([0.3, 2.5])
    assert average["psnr_db"].tolist() == pytest.approx([26.0, 41.0])
    assert average["psnr_of_mean_mse_db"].tolist() == pytest.approx(
        [10 * math.log10(1 / 2e-3), 10 * math.log10(1 / 1.5e-4)]
    )
    assert average["n_images"].tolist() == [2, 2]
    text = format_average_results(average)
    assert text.splitlines()[1] == "10\t0.3000\t26.0000\t26.9897\t2"


def test_curve_is_sorted_by_rate_and_keeps_per_image_rows(reference_dir):
    curve = load_results(reference_dir, label="seed")
    assert curve.label == "seed"
    assert curve.key == "lmbda"
    assert np.all(np.diff(curve.rate_bpp) > 0)
    assert curve.points["lmbda"].tolist() == [0.02, 0.004, 0.0005, 0.0001]
    images = curve.image_curves()
    assert len(images) == 24
    rate, psnr = images["kodim01"]
    assert rate.tolist() == [0.1109, 0.371, 1.4829, 2.4696]
    assert psnr[0] == pytest.approx(23.6792)


def test_aliases_seq_and_lambda_are_understood(tmp_path):
    path = _write(
        tmp_path / "r.tsv",
        "seq\tlambda\trate_bpp\tpsnr_db\nx\t0.001\t0.5\t33.0\ny\t0.001\t0.7\t35.0\n",
    )
    curve = load_results(path)
    assert curve.key == "lmbda"
    assert curve.label == "r"
    assert curve.rate_bpp.tolist() == pytest.approx([0.6])


def test_quality_used_when_lmbda_column_is_empty(tmp_path):
    _write(
        tmp_path / "raw_results.tsv",
        "seq_name\tlmbda\tquality\trate_bpp\tpsnr_db\nx\t\t50\t0.5\t33.0\nx\t\t80\t1.5\t38.0\n",
    )
    curve = load_results(tmp_path)
    assert curve.key == "quality"
    assert curve.label == tmp_path.name
    assert curve.points["quality"].tolist() == [50, 80]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seq_name\tlmbda\trate_bpp\n", "missing column"),
        ("seq_name\trate_bpp\tpsnr_db\nx\t0.5\t30\n", "'lmbda' or 'quality'"),
        ("seq_name\tlmbda\trate_bpp\tpsnr_db\n", "no result rows"),
        ("seq_name\tlmbda\trate_bpp\tpsnr_db\nx\t0.001\tabc\t30\n", "rate_bpp: missing or non"),
        ("seq_name\tlmbda\trate_bpp\tpsnr_db\nx\t0.001\t0.5\t\n", "line\\(s\\) 2"),
        ("", "not a readable TSV"),
    ],
)
def test_bad_tables_raise_one_clear_error(tmp_path, text, message):
    path = _write(tmp_path / "raw_results.tsv", text)
    with pytest.raises(ReportError, match=message) as info:
        load_results(tmp_path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_results_raise(tmp_path):
    with pytest.raises(ReportError, match="results file not found"):
        load_results(tmp_path)
    with pytest.raises(ReportError, match="results file not found"):
        read_raw_results(tmp_path / "nope.tsv")


def test_mixed_codecs_are_refused(tmp_path):
    _write(
        tmp_path / "raw_results.tsv",
        "seq_name\tcodec\tquality\trate_bpp\tpsnr_db\nx\tjpeg\t50\t0.5\t33.0\nx\twebp\t50\t0.4\t33.0\n",
    )
    with pytest.raises(ReportError, match="mix several codecs \\(jpeg, webp\\)"):
        load_results(tmp_path)


def test_missing_results_are_visible(tmp_path, caplog):
    _write(
        tmp_path / "raw_results.tsv",
        "seq_name\tlmbda\trate_bpp\tpsnr_db\na\t0.001\t0.5\t33.0\nb\t0.001\t0.7\t34.0\n"
        "a\t0.004\t0.2\t29.0\n",
    )
    curve = load_results(tmp_path)
    # b has no result at 0.004: a mean over a at one point and a, b at the other is no curve.
    assert curve.points["n_images"].tolist() == [1, 1]
    assert curve.images == ["a"]
    assert sorted(curve.image_curves()) == ["a", "b"]
    assert "1 image(s) lack some lmbda values and are left out of the mean curve" in caplog.text
    assert "b" in caplog.text.splitlines()[-1]


def test_no_complete_image_means_no_curve(tmp_path):
    _write(
        tmp_path / "raw_results.tsv",
        "seq_name\tlmbda\trate_bpp\tpsnr_db\na\t0.001\t0.5\t33.0\nb\t0.004\t0.2\t29.0\n",
    )
    with pytest.raises(ReportError, match="no image has a result at every lmbda"):
        load_results(tmp_path)
