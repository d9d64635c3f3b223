"""The rate-distortion figure: our curve in bold over the anchors (matplotlib, Agg)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import AutoMinorLocator

from coolchic_core.atomic_io import atomic_write_bytes
from reports.anchors import Anchor
from reports.curves import RDCurve

OURS_COLOR = "#c0392b"
# A fixed colour and marker per shipped anchor, so that reports compare at a glance.
ANCHOR_STYLES = {
    "hm": ("#1f77b4", "s"),
    "vtm": ("#9467bd", "D"),
    "bpg": ("#17becf", "v"),
    "av1": ("#393b79", "p"),
    "jpeg": ("#7f7f7f", "s"),
    "jpeg2000": ("#bcbd22", "h"),
    "webp": ("#8c564b", "D"),
    "bmshj2018-hyperprior": ("#2ca02c", "^"),
    "bmshj2018-hyperprior-compressai": ("#74c476", "^"),
    "mbt2018": ("#006d2c", "v"),
    "cheng2020-anchor": ("#e377c2", "P"),
    "elic2022": ("#637939", "X"),
    "coolchic-v1": ("#ff7f0e", "<"),
    "coolchic-v2": ("#fdae6b", ">"),
    "coolchic-v3": ("#e6550d", "*"),
    "coolchic-v3.4": ("#a63603", "d"),
    "coolchic-v4.2": ("#7f2704", "d"),
    "coolchic-v5": ("#f0a30a", "H"),
}
MEASURED_STYLES = [("#222222", "o"), ("#6b6ecf", "s"), ("#843c39", "^"), ("#31a354", "D")]
FAMILY_STYLES = {"classical": "--", "learned": "-", "overfitted": "-.", "measured": ":"}
PNG_DPI = 150
LEGEND_INSIDE_MAX = 7


def rd_figure(
    curve: RDCurve,
    anchors: list[Anchor],
    bd_rates_pct: dict[str, float] | None = None,
    method: str = "pchip",
) -> Figure:
    """Rate (bpp) vs PSNR (dB): `curve` bold, anchors thinner, BD-rates in the legend."""
    bd_rates_pct = bd_rates_pct or {}
    outside = len(anchors) + 1 > LEGEND_INSIDE_MAX
    fig = Figure(figsize=(13.0 if outside else 9.0, 6.6 if outside else 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    measured = 0
    for anchor in anchors:
        style = ANCHOR_STYLES.get(anchor.id) if anchor.family != "measured" else None
        if style is None:
            style = MEASURED_STYLES[measured % len(MEASURED_STYLES)]
            measured += 1
        reference = anchor.curve
        if reference.has_average(curve.psnr_average):
            reference = reference.averaged(curve.psnr_average)
        _plot_anchor(ax, anchor, reference, style, bd_rates_pct.get(anchor.id))
    ax.plot(
        curve.rate_bpp,
        curve.psnr_db,
        color=OURS_COLOR,
        linewidth=3.0,
        marker="o",
        markersize=8,
        markeredgecolor="white",
        markeredgewidth=1.2,
        label=curve.label,
        zorder=10,
    )
    _decorate(ax, curve)
    _legend(ax, curve.label, method, bool(bd_rates_pct), outside)
    return fig


def save_figure(fig: Figure, png_path: str | Path, svg_path: str | Path) -> None:
    """Write the figure as PNG and SVG, each atomically."""
    for path, fmt in ((png_path, "png"), (svg_path, "svg")):
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else None
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=metadata)
        atomic_write_bytes(path, buffer.getvalue())


def _plot_anchor(
    ax, anchor: Anchor, reference: RDCurve, style: tuple[str, str], bd_rate: float | None
) -> None:
    label = anchor.name
    if bd_rate is not None and math.isfinite(bd_rate):
        label = f"{anchor.name}:  {bd_rate:+.1f} %"
    ax.plot(
        reference.rate_bpp,
        reference.psnr_db,
        color=style[0],
        linestyle=FAMILY_STYLES.get(anchor.family, "-"),
        linewidth=1.6,
        marker=style[1],
        markersize=5,
        label=label,
        zorder=5,
    )


def _decorate(ax, curve: RDCurve) -> None:
    rate, psnr = curve.rate_bpp, curve.psnr_db
    ax.set_xlim(0.0, float(np.max(rate)) * 1.12)
    ax.set_ylim(math.floor(float(np.min(psnr)) - 1.5), math.ceil(float(np.max(psnr)) + 1.0))
    ax.set_xlabel("Rate (bits per pixel)", fontsize=12)
    ax.set_ylabel(f"PSNR (dB, RGB, {curve.psnr_average} average)", fontsize=12)
    ax.tick_params(labelsize=10.5)
    ax.xaxis.set_minor_locator(AutoMinorLocator())
    ax.yaxis.set_minor_locator(AutoMinorLocator())
    ax.grid(which="major", color="#b0b0b0", linewidth=0.8, alpha=0.7)
    ax.grid(which="minor", color="#d8d8d8", linewidth=0.5, linestyle=":", alpha=0.7)
    ax.set_title(f"Rate-distortion: {curve.label}", fontsize=14, fontweight="bold", loc="left")


def _legend(ax, label: str, method: str, with_bd: bool, outside: bool) -> None:
    """Our curve first; inside the axes (lower right) for a few curves, at the right for many."""
    handles, labels = ax.get_legend_handles_labels()
    order = [len(handles) - 1, *range(len(handles) - 1)]
    title = f"BD-rate ({method}) of {label} vs each anchor" if with_bd else None
    place = (
        {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {"loc": "lower right"}
    )
    legend = ax.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        fontsize=10,
        title=title,
        title_fontsize=9.5,
        framealpha=0.94,
        borderpad=0.8,
        **place,
    )
    legend.get_title().set_color("#444444")
