"""report.md: the BD table, the figure, the curve's points and each anchor's source."""

from __future__ import annotations

import math

import pandas as pd

from reports.anchors import Anchor
from reports.curves import RDCurve

METHOD_TEXT = {
    "pchip": "log-rate interpolated with a monotone cubic (PCHIP) over the overlapping PSNR range",
    "cubic": "classic Bjontegaard, a cubic polynomial fit of log-rate vs PSNR",
}


def report_markdown(
    curve: RDCurve,
    anchors: list[Anchor],
    bd: pd.DataFrame,
    per_image_summary: pd.DataFrame,
    figure_name: str,
    method: str,
) -> str:
    """The whole report.md text."""
    parts = [
        f"# Rate-distortion report: {curve.label}\n",
        _intro(curve, method),
        "## BD-rate and BD-PSNR\n",
        _bd_markdown(bd),
        f"![Rate-distortion curves]({figure_name})\n",
    ]
    if not per_image_summary.empty:
        parts += ["## Per-image BD-rate\n", _summary_markdown(per_image_summary)]
    parts += ["## Points of this curve\n", _points_markdown(curve)]
    parts += ["## Anchors\n", _sources_markdown(anchors)]
    return "\n".join(parts)


def _intro(curve: RDCurve, method: str) -> str:
    counts = curve.points["n_images"] if "n_images" in curve.points else pd.Series([0])
    images = str(counts.max())
    if counts.nunique() > 1:
        images = f"{counts.min()} to {counts.max()} (some results are missing)"
    return (
        f"Curve: mean rate and mean PSNR over {images} image(s) at each of the "
        f"{len(curve.points)} operating points. BD-rate: {METHOD_TEXT[method]}; "
        "negative = this curve needs fewer bits than the anchor for the same PSNR. "
        "BD-PSNR: PSNR difference at equal rate (positive = better).\n"
    )


def _bd_markdown(bd: pd.DataFrame) -> str:
    lines = [
        "| anchor | BD-rate | BD-PSNR | PSNR range used | points (ours / anchor) | note |",
        "|---|---:|---:|---|---|---|",
    ]
    for row in bd.itertuples():
        lines.append(
            f"| {row.anchor_name} (`{row.anchor}`) | {_pct(row.bd_rate_pct)} | "
            f"{_db(row.bd_psnr_db)} | {_range(row.psnr_min_db, row.psnr_max_db)} | "
            f"{row.n_points} / {row.n_points_anchor} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def _summary_markdown(summary: pd.DataFrame) -> str:
    lines = [
        "Against anchors published per image, on the images both have.\n",
        "| anchor | images | mean | median | min | max |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary.itertuples():
        values = [row.mean_bd_rate_pct, row.median_bd_rate_pct]
        values += [row.min_bd_rate_pct, row.max_bd_rate_pct]
        cells = " | ".join(_pct(v) for v in values)
        lines.append(f"| `{row.anchor}` | {row.n_images} | {cells} |")
    lines.append("\nPer image: `bd_rate_per_image.tsv`.\n")
    return "\n".join(lines)


def _points_markdown(curve: RDCurve) -> str:
    key = curve.key or "point"
    lines = [f"| {key} | rate (bpp) | PSNR (dB) | images |", "|---:|---:|---:|---:|"]
    for _, row in curve.points.iterrows():
        key_text = f"{row[key]:g}" if curve.key else ""
        images = int(row["n_images"]) if "n_images" in row else ""
        lines.append(f"| {key_text} | {row.rate_bpp:.4f} | {row.psnr_db:.4f} | {images} |")
    return "\n".join(lines) + "\n"


def _sources_markdown(anchors: list[Anchor]) -> str:
    lines = []
    for anchor in anchors:
        text = f"- **{anchor.name}** (`{anchor.id}`): {anchor.source}."
        if anchor.reference:
            text += f" Reference: {anchor.reference}."
        if anchor.licence:
            text += f" Licence: {anchor.licence}."
        if anchor.note:
            text += f" {anchor.note}"
        lines.append(text)
    return "\n".join(lines) + "\n"


def _pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.1f} %"


def _db(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.2f} dB"


def _range(lo: float, hi: float) -> str:
    return "n/a" if not math.isfinite(lo) else f"{lo:.2f} to {hi:.2f} dB"
