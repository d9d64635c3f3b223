"""report.md: the BD table, the figure, the curve's points and each anchor's source."""

from __future__ import annotations

import math

import pandas as pd

from reports.anchors import Anchor
from reports.curves import MEAN_MSE, PER_IMAGE, PSNR_COLUMNS, RDCurve
from reports.provenance import Provenance, provenance_markdown

METHOD_TEXT = {
    "pchip": "log-rate interpolated with a monotone cubic (PCHIP) over the overlapping PSNR range",
    "cubic": "classic Bjontegaard, a cubic polynomial fit of log-rate vs PSNR",
}
AVERAGE_TEXT = {
    PER_IMAGE: "the mean of the per-image PSNRs (per-image, the original's convention)",
    MEAN_MSE: "the PSNR of the mean MSE over the images (mean-mse)",
}


def report_markdown(
    curve: RDCurve,
    anchors: list[Anchor],
    bd: pd.DataFrame,
    per_image_summary: pd.DataFrame,
    figure_name: str,
    method: str,
    provenance: Provenance | None = None,
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
    if provenance is not None:
        parts += ["## Provenance\n", provenance_markdown(provenance)]
    parts += ["## Anchors\n", _sources_markdown(anchors)]
    return "\n".join(parts)


def _intro(curve: RDCurve, method: str) -> str:
    counts = curve.points["n_images"] if "n_images" in curve.points else pd.Series([0])
    images = str(counts.max())
    if counts.nunique() > 1:
        images = f"{counts.min()} to {counts.max()} (some results are missing)"
    left_out = sorted(set(curve.image_curves()) - set(curve.images))
    left = f" ({', '.join(left_out)} left out: not at every point)" if left_out else ""
    return (
        f"Curve: mean rate over {images} image(s){left} at each of the {len(curve.points)} "
        f"operating points; PSNR: {AVERAGE_TEXT[curve.psnr_average]}, the other "
        "convention's BD values beside (`--psnr-average`). BD-rate: "
        f"{METHOD_TEXT[method]}; "
        "negative = this curve needs fewer bits than the anchor for the same PSNR. "
        "BD-PSNR: PSNR difference at equal rate (positive = better).\n"
    )


def _bd_markdown(bd: pd.DataFrame) -> str:
    if bd.empty:
        return "No anchor.\n"
    used, other = bd["psnr_average"].iloc[0], bd["other_psnr_average"].iloc[0]
    lines = [
        f"| anchor | BD-rate ({used}) | BD-PSNR ({used}) | BD-rate ({other}) | "
        "PSNR range used | points (ours / anchor) | note |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for row in bd.itertuples():
        lines.append(
            f"| {row.anchor_name} (`{row.anchor}`) | {_pct(row.bd_rate_pct)} | "
            f"{_db(row.bd_psnr_db)} | {_pct(row.other_bd_rate_pct)} | "
            f"{_range(row.psnr_min_db, row.psnr_max_db)} | "
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
    header = f"| {key} | rate (bpp) | PSNR per-image (dB) | PSNR mean-mse (dB) | images |"
    lines = [header, "|---:|---:|---:|---:|---:|"]
    mean_mse = PSNR_COLUMNS[MEAN_MSE]
    for _, row in curve.points.iterrows():
        key_text = f"{row[key]:g}" if curve.key else ""
        images = int(row["n_images"]) if "n_images" in row else ""
        other = f"{row[mean_mse]:.4f}" if mean_mse in row else "n/a"
        lines.append(
            f"| {key_text} | {row.rate_bpp:.4f} | {row.psnr_db:.4f} | {other} | {images} |"
        )
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
