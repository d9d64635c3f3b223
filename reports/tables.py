"""BD tables: one curve against several anchors, on the mean curves and per image.

The mean-curve table is computed in the curve's PSNR convention
(`RDCurve.psnr_average`) and gives the other convention's BD values beside it.
An anchor published only as mean points (no per-image rows) has per-image-mean
PSNRs: it is compared as published in either convention, which its note says.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict

import numpy as np
import pandas as pd

from reports.anchors import Anchor
from reports.bd_rate import compare_curves
from reports.curves import MEAN_MSE, PER_IMAGE, RDCurve
from reports.errors import ReportError

logger = logging.getLogger(__name__)

# Below this share of our curve's PSNR span, a BD value describes only part of the curve
# (the `bjontegaard` package warns below the same 75 %).
MIN_COVERAGE = 0.75

RESULT_COLUMNS = [
    "bd_rate_pct",
    "bd_psnr_db",
    "psnr_min_db",
    "psnr_max_db",
    "rate_min_bpp",
    "rate_max_bpp",
    "method",
    "n_points",
    "n_points_anchor",
]
OTHER_COLUMNS = ["other_psnr_average", "other_bd_rate_pct", "other_bd_psnr_db"]
BD_COLUMNS = ["anchor", "anchor_name", "psnr_average", *RESULT_COLUMNS, "note", *OTHER_COLUMNS]
AS_PUBLISHED_NOTE = "anchor has per-image-mean PSNRs only; compared as published"
PER_IMAGE_COLUMNS = ["anchor", "seq_name", *RESULT_COLUMNS, "note"]
SUMMARY_COLUMNS = [
    "anchor",
    "n_images",
    "mean_bd_rate_pct",
    "median_bd_rate_pct",
    "min_bd_rate_pct",
    "max_bd_rate_pct",
]


def bd_table(curve: RDCurve, anchors: list[Anchor], method: str = "pchip") -> pd.DataFrame:
    """One row per anchor: BD-rate and BD-PSNR of `curve`'s mean points against it.

    In `curve.psnr_average`, with the other convention's BD-rate and BD-PSNR
    in the `other_*` columns, both over the images the two curves share (see
    `_on_same_images`). A pair that cannot be compared (too few points, no
    overlap, different images...) gets NaNs and the reason in `note`, so that
    one anchor never hides the others.
    """
    average = curve.psnr_average
    other = MEAN_MSE if average == PER_IMAGE else PER_IMAGE
    rows = []
    for anchor in anchors:
        row = {"anchor": anchor.id, "anchor_name": anchor.name, "psnr_average": average}
        row.update(dict.fromkeys(OTHER_COLUMNS, math.nan), other_psnr_average=other)
        try:
            test, reference, images_note = _on_same_images(curve, anchor)
        except ReportError as exc:
            logger.warning("no mean-curve BD values against %s: %s", anchor.id, exc)
            row.update(_failed(len(curve.points), len(anchor.curve.points), method, str(exc)))
            rows.append(row)
            continue
        row.update(_compare_in(reference, test, method, anchor.id, images_note))
        if test.has_average(other):
            alternative = _compare_in(reference, test.averaged(other), method, anchor.id, "")
            row["other_bd_rate_pct"] = alternative["bd_rate_pct"]
            row["other_bd_psnr_db"] = alternative["bd_psnr_db"]
        rows.append(row)
    return pd.DataFrame(rows, columns=BD_COLUMNS)


def _compare_in(
    reference: RDCurve, curve: RDCurve, method: str, what: str, images_note: str
) -> dict:
    """`curve` against `reference` in the curve's convention (else the anchor's as published)."""
    as_published = not reference.has_average(curve.psnr_average)
    if not as_published:
        reference = reference.averaged(curve.psnr_average)
    result = _compare(reference.rate_bpp, reference.psnr_db, curve, method, what)
    if math.isfinite(result["bd_rate_pct"]):
        notes = (result["note"], images_note, AS_PUBLISHED_NOTE if as_published else "")
        result["note"] = "; ".join(n for n in notes if n)
    return result


def _on_same_images(curve: RDCurve, anchor: Anchor) -> tuple[RDCurve, RDCurve, str]:
    """`curve` and the anchor's curve averaged over the same images, and a note if reduced.

    An anchor with per-image rows is averaged over the images both have; one
    with only its dataset means is compared only if the curve has as many
    images (ReportError otherwise: a mean over 8 images against a mean over 24
    says nothing about the codecs).
    """
    ours, theirs = curve.images, anchor.curve.images
    if not ours:
        return curve, anchor.curve, ""
    if theirs:
        common = sorted(set(ours) & set(theirs))
        if not common:
            raise ReportError("no image in common with the anchor")
        if len(common) == len(ours) == len(theirs):
            return curve, anchor.curve, ""
        note = f"on the {len(common)} image(s) both have ({len(ours)} here, {len(theirs)} there)"
        return curve.on_images(common), anchor.curve.on_images(common), note
    if anchor.image_count is not None and len(ours) != anchor.image_count:
        raise ReportError(
            f"the anchor has only its mean over {anchor.image_count} images and these results "
            f"cover {len(ours)}: compare per image or complete the run"
        )
    return curve, anchor.curve, ""


def per_image_bd_table(
    curve: RDCurve, anchors: list[Anchor], method: str = "pchip"
) -> pd.DataFrame:
    """One row per (anchor, image) for anchors with per-image points, on the shared images."""
    tests = curve.image_curves()
    rows = []
    for anchor in anchors:
        references = anchor.curve.image_curves()
        for name in sorted(set(tests) & set(references)):
            test = RDCurve(label=name, points=_points(*tests[name]))
            row = {"anchor": anchor.id, "seq_name": name}
            row.update(_compare(*references[name], test, method, f"{anchor.id}/{name}"))
            rows.append(row)
    return pd.DataFrame(rows, columns=PER_IMAGE_COLUMNS)


def per_image_summary(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per anchor: how many images have a BD-rate, and their mean, median, min and max."""
    rows = []
    for anchor, group in per_image.groupby("anchor", sort=False):
        values = group["bd_rate_pct"].dropna().to_numpy(dtype=np.float64)
        stats = [np.mean, np.median, np.min, np.max]
        row = [anchor, int(values.size)]
        row += [float(f(values)) if values.size else math.nan for f in stats]
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def table_to_tsv(table: pd.DataFrame) -> str:
    """TSV text with 4 decimals for floats and `nan` for missing values."""
    return table.to_csv(sep="\t", index=False, float_format="%.4f", na_rep="nan")


def _compare(anchor_rate, anchor_psnr, curve: RDCurve, method: str, what: str) -> dict:
    try:
        result = compare_curves(anchor_rate, anchor_psnr, curve.rate_bpp, curve.psnr_db, method)
    except ReportError as exc:
        logger.warning("no BD values against %s: %s", what, exc)
        return _failed(len(curve.points), len(anchor_rate), method, str(exc))
    note = _coverage_note(result.psnr_max_db - result.psnr_min_db, curve)
    base = {"method": method, "n_points": len(curve.points), "n_points_anchor": len(anchor_rate)}
    return {**asdict(result), **base, "note": note}


def _failed(n_points: int, n_points_anchor: int, method: str, reason: str) -> dict:
    """The result columns of a pair that has no BD values: NaNs and the reason."""
    nans = dict.fromkeys(RESULT_COLUMNS[:6], math.nan)
    base = {"method": method, "n_points": n_points, "n_points_anchor": n_points_anchor}
    return {**nans, **base, "note": reason}


def _coverage_note(overlap_db: float, curve: RDCurve) -> str:
    """A warning when the anchor covers less than MIN_COVERAGE of this curve's PSNR span."""
    span_db = float(np.ptp(curve.psnr_db))
    coverage = overlap_db / span_db if span_db > 0 else 1.0
    if coverage >= MIN_COVERAGE:
        return ""
    return f"PSNR overlap covers {100 * coverage:.0f} % of this curve's range"


def _points(rate_bpp: np.ndarray, psnr_db: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"rate_bpp": rate_bpp, "psnr_db": psnr_db})
