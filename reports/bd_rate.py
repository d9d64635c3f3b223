"""Bjontegaard deltas: BD-rate (%) and BD-PSNR (dB) between two RD curves.

G. Bjontegaard, "Calculation of average PSNR differences between RD-curves",
VCEG-M33, 2001: fit log-rate as a function of PSNR for both curves, integrate
the difference over the PSNR range both cover, and turn the mean log-rate
difference into a percentage; BD-PSNR swaps the axes. The classic fit is a
cubic polynomial ("cubic"); the default here is a monotone piecewise cubic
Hermite interpolant ("pchip", as recommended in VCEG/JVET practice since
JCTVC-D065 / JVET common test conditions), which follows the measured points
and cannot oscillate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from reports.errors import ReportError

METHODS = ("pchip", "cubic")
MIN_POINTS = 4


@dataclass(frozen=True)
class BDResult:
    """BD-rate and BD-PSNR of a test curve against an anchor, with the ranges used.

    Negative `bd_rate_pct` = the test needs less rate than the anchor for the
    same PSNR; positive `bd_psnr_db` = the test has a higher PSNR at the same rate.
    """

    bd_rate_pct: float
    bd_psnr_db: float
    psnr_min_db: float
    psnr_max_db: float
    rate_min_bpp: float
    rate_max_bpp: float
    method: str
    n_points: int
    n_points_anchor: int


def check_curve(rate_bpp, psnr_db, name: str = "curve") -> tuple[np.ndarray, np.ndarray]:
    """Check a curve for BD computations; return it sorted by increasing rate.

    Raises ReportError for different lengths, fewer than 4 points, NaN or
    infinite values, rates <= 0, repeated rates, or a PSNR that does not
    increase strictly with the rate (non-monotone curve).
    """
    rate = np.asarray(rate_bpp, dtype=np.float64).ravel()
    psnr = np.asarray(psnr_db, dtype=np.float64).ravel()
    if rate.size != psnr.size:
        raise ReportError(f"{name}: {rate.size} rates but {psnr.size} PSNRs")
    if rate.size < MIN_POINTS:
        raise ReportError(f"{name}: {rate.size} point(s), BD needs at least {MIN_POINTS}")
    if not (np.isfinite(rate).all() and np.isfinite(psnr).all()):
        raise ReportError(f"{name}: NaN or infinite rate or PSNR")
    if (rate <= 0).any():
        raise ReportError(f"{name}: rates must be > 0 bpp")
    order = np.argsort(rate, kind="stable")
    rate, psnr = rate[order], psnr[order]
    if (np.diff(rate) <= 0).any():
        raise ReportError(f"{name}: two points have the same rate")
    falls = np.flatnonzero(np.diff(psnr) <= 0)
    if falls.size:
        i = falls[0]
        raise ReportError(
            f"{name}: not monotone, PSNR goes from {psnr[i]:.3f} to {psnr[i + 1]:.3f} dB "
            f"while the rate rises from {rate[i]:.4f} to {rate[i + 1]:.4f} bpp"
        )
    return rate, psnr


def bd_rate_pct(anchor_rate, anchor_psnr, test_rate, test_psnr, method: str = "pchip") -> float:
    """BD-rate in percent of the test curve against the anchor (negative = test saves rate)."""
    a_rate, a_psnr = check_curve(anchor_rate, anchor_psnr, "anchor")
    t_rate, t_psnr = check_curve(test_rate, test_psnr, "test")
    log_diff, _, _ = _mean_delta(a_psnr, np.log(a_rate), t_psnr, np.log(t_rate), method, "PSNR")
    return 100.0 * math.expm1(log_diff)


def bd_psnr_db(anchor_rate, anchor_psnr, test_rate, test_psnr, method: str = "pchip") -> float:
    """BD-PSNR in dB of the test curve against the anchor (positive = test is better)."""
    a_rate, a_psnr = check_curve(anchor_rate, anchor_psnr, "anchor")
    t_rate, t_psnr = check_curve(test_rate, test_psnr, "test")
    mean_diff, _, _ = _mean_delta(np.log(a_rate), a_psnr, np.log(t_rate), t_psnr, method, "rate")
    return mean_diff


def compare_curves(
    anchor_rate, anchor_psnr, test_rate, test_psnr, method: str = "pchip"
) -> BDResult:
    """BD-rate and BD-PSNR together, with the overlapping PSNR and rate ranges."""
    a_rate, a_psnr = check_curve(anchor_rate, anchor_psnr, "anchor")
    t_rate, t_psnr = check_curve(test_rate, test_psnr, "test")
    log_diff, psnr_lo, psnr_hi = _mean_delta(
        a_psnr, np.log(a_rate), t_psnr, np.log(t_rate), method, "PSNR"
    )
    psnr_diff, log_lo, log_hi = _mean_delta(
        np.log(a_rate), a_psnr, np.log(t_rate), t_psnr, method, "rate"
    )
    return BDResult(
        bd_rate_pct=100.0 * math.expm1(log_diff),
        bd_psnr_db=psnr_diff,
        psnr_min_db=psnr_lo,
        psnr_max_db=psnr_hi,
        rate_min_bpp=math.exp(log_lo),
        rate_max_bpp=math.exp(log_hi),
        method=method,
        n_points=int(t_rate.size),
        n_points_anchor=int(a_rate.size),
    )


def _mean_delta(x_a, y_a, x_t, y_t, method: str, axis: str) -> tuple[float, float, float]:
    """Mean of y_t(x) - y_a(x) over the overlap of the x ranges, and that overlap."""
    if method not in METHODS:
        raise ReportError(f"unknown BD method '{method}'; use one of {', '.join(METHODS)}")
    lo, hi = max(x_a[0], x_t[0]), min(x_a[-1], x_t[-1])
    if not hi > lo:
        raise ReportError(f"the curves do not overlap in {axis}")
    area_a = _integral(x_a, y_a, lo, hi, method)
    area_t = _integral(x_t, y_t, lo, hi, method)
    return float((area_t - area_a) / (hi - lo)), float(lo), float(hi)


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of the interpolant of y(x) (x increasing)."""
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi))
    # Classic Bjontegaard: least-squares cubic; x is centred to keep the fit well conditioned.
    centre = float(np.mean(x))
    primitive = np.polyint(np.polyfit(x - centre, y, 3))
    return float(np.polyval(primitive, hi - centre) - np.polyval(primitive, lo - centre))
