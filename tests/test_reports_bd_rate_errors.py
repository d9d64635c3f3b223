"""BD-rate errors name the curve and the points at fault; touching curves do not overlap."""

from __future__ import annotations

import pytest

from reports.bd_rate import bd_psnr_db, bd_rate_pct, compare_curves
from reports.errors import ReportError

GOOD = ([0.1, 0.2, 0.4, 0.8], [28.0, 31.0, 34.0, 37.0])
SHORT = ([0.1, 0.2, 0.4], [28.0, 31.0, 34.0])
FUNCTIONS = [bd_rate_pct, bd_psnr_db, compare_curves]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_faulty_curve_is_named(function):
    with pytest.raises(ReportError, match="^anchor: 3 point"):
        function(*SHORT, *GOOD)
    with pytest.raises(ReportError, match="^test: 3 point"):
        function(*GOOD, *SHORT)


def test_a_non_monotone_curve_names_the_two_points():
    rate, psnr = [0.1, 0.2, 0.4, 0.8], [28.0, 32.5, 31.25, 37.0]
    with pytest.raises(ReportError) as caught:
        bd_rate_pct(*GOOD, rate, psnr)
    assert str(caught.value) == (
        "test: not monotone, PSNR goes from 32.500 to 31.250 dB "
        "while the rate rises from 0.2000 to 0.4000 bpp"
    )


def test_a_flat_step_is_not_monotone():
    with pytest.raises(ReportError, match="PSNR goes from 31.000 to 31.000 dB"):
        bd_rate_pct(*GOOD, [0.1, 0.2, 0.4, 0.8], [28.0, 31.0, 31.0, 37.0])


def test_curves_that_only_touch_do_not_overlap():
    low = ([0.1, 0.2, 0.4, 0.8], [25.0, 26.0, 27.0, 28.0])
    with pytest.raises(ReportError, match="the curves do not overlap in PSNR"):
        bd_rate_pct(*low, *GOOD)


def test_curves_that_overlap_in_psnr_but_not_in_rate():
    far = ([10.0, 20.0, 40.0, 80.0], [28.0, 31.0, 34.0, 37.0])
    assert bd_rate_pct(*GOOD, *far) == pytest.approx(9900.0)
    with pytest.raises(ReportError, match="the curves do not overlap in rate"):
        compare_curves(*GOOD, *far)


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(ReportError, match="unknown BD method 'akima'; use one of pchip, cubic"):
        compare_curves(*GOOD, *GOOD, method="akima")
