"""BD-rate / BD-PSNR: published values, agreement with the `bjontegaard` package, errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import bjontegaard
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.anchors import available_anchors, load_anchor
from reports.bd_rate import bd_psnr_db, bd_rate_pct, check_curve, compare_curves
from reports.curves import load_results
from reports.errors import ReportError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_RESULTS = SHARED / "reference" / "coolchic-v1" / "raw_results.tsv"
V5_RESULTS = SHARED / "anchors" / "kodak" / "coolchic-v5.0.tsv"

# Published in ../shared/anchors/SOURCE.md (PCHIP, per-lambda means over the 24 images).
KNOWN_BD_RATES = [
    (SEED_RESULTS, "hm", 19.4),
    (SEED_RESULTS, "bmshj2018-hyperprior", 11.1),
    (SEED_RESULTS, "vtm", 51.1),
    (V5_RESULTS, "hm", -25.6),
    (V5_RESULTS, "vtm", -6.6),
]


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found (tests expect ../shared)")
    return path


@pytest.mark.parametrize(("results", "anchor_id", "expected_pct"), KNOWN_BD_RATES)
def test_published_bd_rates(results, anchor_id, expected_pct):
    curve = load_results(_shared(results))
    anchor = load_anchor(anchor_id).curve
    value = bd_rate_pct(anchor.rate_bpp, anchor.psnr_db, curve.rate_bpp, curve.psnr_db)
    assert value == pytest.approx(expected_pct, abs=0.1)


def _package(kind: str, anchor, test, method: str) -> float:
    function = bjontegaard.bd_rate if kind == "rate" else bjontegaard.bd_psnr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(
            anchor[0],
            anchor[1],
            test[0],
            test[1],
            method,
            require_matching_points=False,
            min_overlap=0,
        )


@pytest.mark.parametrize("method", ["pchip", "cubic"])
@pytest.mark.parametrize("results", [SEED_RESULTS, V5_RESULTS])
def test_agrees_with_bjontegaard_package_on_every_anchor(results, method):
    curve = load_results(_shared(results))
    test = (curve.rate_bpp, curve.psnr_db)
    compared = 0
    for anchor_id in available_anchors():
        a = load_anchor(anchor_id).curve
        ref = (a.rate_bpp, a.psnr_db)
        expected_rate = _package("rate", ref, test, method)
        expected_psnr = _package("psnr", ref, test, method)
        if math.isnan(expected_rate) or math.isnan(expected_psnr):
            continue  # the package's way of saying "no overlap"
        result = compare_curves(*ref, *test, method=method)
        assert result.bd_rate_pct == pytest.approx(expected_rate, abs=1e-6), anchor_id
        assert result.bd_psnr_db == pytest.approx(expected_psnr, abs=1e-6), anchor_id
        compared += 1
    assert compared >= 15


def _monotone_curve(draw, n: int) -> tuple[np.ndarray, np.ndarray]:
    log_rates = np.cumsum(draw(st.lists(st.floats(0.1, 1.0), min_size=n, max_size=n))) - 3.0
    gains = draw(st.lists(st.floats(0.3, 4.0), min_size=n, max_size=n))
    psnr = 22.0 + np.cumsum(gains)
    return np.exp(log_rates), psnr


@st.composite
def curve_pairs(draw):
    anchor = _monotone_curve(draw, draw(st.integers(4, 9)))
    test = _monotone_curve(draw, draw(st.integers(4, 9)))
    return anchor, test


@settings(max_examples=60, deadline=None)
@given(pair=curve_pairs(), method=st.sampled_from(["pchip", "cubic"]))
def test_agrees_with_bjontegaard_package_on_random_curves(pair, method):
    anchor, test = pair
    expected_rate = _package("rate", anchor, test, method)
    expected_psnr = _package("psnr", anchor, test, method)
    try:
        result = compare_curves(*anchor, *test, method=method)
    except ReportError as exc:
        assert "overlap" in str(exc)
        assert math.isnan(expected_rate) or math.isnan(expected_psnr)
        return
    assert result.bd_rate_pct == pytest.approx(expected_rate, rel=1e-6, abs=1e-6)
    assert result.bd_psnr_db == pytest.approx(expected_psnr, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_rate_scale_and_psnr_shift_are_recovered(method):
    rate = np.array([0.1, 0.3, 0.7, 1.5, 2.6])
    psnr = np.array([27.0, 30.5, 34.0, 38.2, 41.0])
    assert bd_rate_pct(rate, psnr, rate * 0.8, psnr, method) == pytest.approx(-20.0, abs=1e-9)
    assert bd_psnr_db(rate, psnr, rate, psnr + 0.37, method) == pytest.approx(0.37, abs=1e-9)
    assert bd_rate_pct(rate, psnr, rate, psnr, method) == pytest.approx(0.0, abs=1e-12)


def test_point_order_does_not_matter():
    rate = np.array([0.1, 0.3, 0.7, 1.5])
    psnr = np.array([27.0, 30.5, 34.0, 38.2])
    forward = bd_rate_pct(rate, psnr, rate * 1.1, psnr + 0.2)
    backward = bd_rate_pct(
        rate[::-1], psnr[::-1], (rate * 1.1)[[2, 0, 3, 1]], (psnr + 0.2)[[2, 0, 3, 1]]
    )
    assert backward == pytest.approx(forward, abs=1e-12)


def test_range_reported_is_the_overlap():
    anchor = ([0.1, 0.3, 0.7, 1.5], [27.0, 30.5, 34.0, 38.2])
    test = ([0.2, 0.4, 0.9, 2.0], [29.0, 31.0, 35.0, 39.0])
    result = compare_curves(*anchor, *test)
    assert (result.psnr_min_db, result.psnr_max_db) == (29.0, 38.2)
    assert (result.rate_min_bpp, result.rate_max_bpp) == pytest.approx((0.2, 1.5))
    assert (result.n_points, result.n_points_anchor, result.method) == (4, 4, "pchip")


GOOD = ([0.1, 0.3, 0.7, 1.5], [27.0, 30.5, 34.0, 38.2])


@pytest.mark.parametrize(
    ("rate", "psnr", "message"),
    [
        ([0.1, 0.3, 0.7], [27.0, 30.5, 34.0], "at least 4"),
        ([0.1, 0.3, 0.7, 1.5], [27.0, 30.5, 34.0], "rates but"),
        ([0.1, 0.3, float("nan"), 1.5], [27.0, 30.5, 34.0, 38.2], "NaN"),
        ([0.1, 0.3, 0.7, 1.5], [27.0, 30.5, float("inf"), 38.2], "NaN or infinite"),
        ([0.0, 0.3, 0.7, 1.5], [27.0, 30.5, 34.0, 38.2], "> 0"),
        ([0.1, 0.3, 0.3, 1.5], [27.0, 30.5, 34.0, 38.2], "same rate"),
        ([0.1, 0.3, 0.7, 1.5], [27.0, 31.5, 31.0, 38.2], "not monotone"),
    ],
)
def test_bad_curves_raise(rate, psnr, message):
    with pytest.raises(ReportError, match=message):
        check_curve(rate, psnr)
    with pytest.raises(ReportError, match=message):
        bd_rate_pct(*GOOD, rate, psnr)


def test_no_overlap_raises():
    far = ([2.0, 3.0, 4.0, 5.0], [45.0, 46.0, 47.0, 48.0])
    with pytest.raises(ReportError, match="do not overlap in PSNR"):
        bd_rate_pct(*GOOD, *far)
    with pytest.raises(ReportError, match="do not overlap in rate"):
        bd_psnr_db(*GOOD, *far)


def test_unknown_method_raises():
    with pytest.raises(ReportError, match="unknown BD method"):
        bd_rate_pct(*GOOD, *GOOD, method="akima")
