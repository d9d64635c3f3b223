"""Write a report folder: bd_rate.tsv, bd_rate_per_image.tsv, rd_curve.png/svg, report.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from coolchic_core.atomic_io import atomic_write_text
from reports.anchors import Anchor, anchor_from_results, load_anchor
from reports.bd_rate import METHODS
from reports.curves import (
    PER_IMAGE,
    RDCurve,
    check_psnr_average,
    load_results,
    read_raw_results,
    resolve_results_path,
)
from reports.errors import ReportError
from reports.markdown import report_markdown
from reports.plot import rd_figure, save_figure
from reports.provenance import Provenance, table_provenance
from reports.tables import bd_table, per_image_bd_table, per_image_summary, table_to_tsv

logger = logging.getLogger(__name__)

BD_FILE = "bd_rate.tsv"
PER_IMAGE_FILE = "bd_rate_per_image.tsv"
PNG_FILE = "rd_curve.png"
SVG_FILE = "rd_curve.svg"
MARKDOWN_FILE = "report.md"


@dataclass(frozen=True)
class Report:
    """What `write_report` computed and the files it wrote."""

    curve: RDCurve
    anchors: list[Anchor]
    bd: pd.DataFrame
    per_image: pd.DataFrame
    files: list[Path]


def write_report(
    results: str | Path,
    anchor_ids: list[str],
    anchors_from: list[str] | None = None,
    out_dir: str | Path | None = None,
    method: str = "pchip",
    label: str | None = None,
    psnr_average: str = PER_IMAGE,
) -> Report:
    """Compare a results folder (or TSV) with anchors and write the report files.

    `anchor_ids` name shipped anchors; `anchors_from` adds measured results
    (folders or TSVs, optionally `NAME=PATH`). `out_dir` defaults to the
    results folder. `psnr_average` is the dataset PSNR convention (reports.curves):
    "per-image" or "mean-mse". Raises ReportError for unusable inputs.
    """
    if method not in METHODS:
        raise ReportError(f"unknown BD method '{method}'; use one of {', '.join(METHODS)}")
    check_psnr_average(psnr_average)
    curve = load_results(results, label=label, psnr_average=psnr_average)
    provenance = table_provenance(read_raw_results(results))
    if provenance.mixed:
        logger.warning(
            "the rows of %s come from different %s (see report.md)",
            curve.label,
            ", ".join(provenance.mixed),
        )
    anchors = [load_anchor(i) for i in anchor_ids]
    anchors += [anchor_from_results(spec) for spec in anchors_from or []]
    if not anchors:
        raise ReportError("no anchors: give --anchors and/or --anchors-from")
    anchors = _unique_ids(anchors)
    out = _output_dir(results, out_dir)
    bd = bd_table(curve, anchors, method)
    per_image = per_image_bd_table(curve, anchors, method)
    files = _write_files(out, curve, anchors, bd, per_image, method, provenance)
    return Report(curve=curve, anchors=anchors, bd=bd, per_image=per_image, files=files)


def _write_files(
    out: Path, curve, anchors, bd, per_image, method, provenance: Provenance
) -> list[Path]:
    files = [out / BD_FILE]
    atomic_write_text(out / BD_FILE, table_to_tsv(bd))
    if not per_image.empty:
        files.append(out / PER_IMAGE_FILE)
        atomic_write_text(out / PER_IMAGE_FILE, table_to_tsv(per_image))
    bd_rates = dict(zip(bd["anchor"], bd["bd_rate_pct"], strict=True))
    figure = rd_figure(curve, anchors, bd_rates, method)
    save_figure(figure, out / PNG_FILE, out / SVG_FILE)
    summary = per_image_summary(per_image)
    text = report_markdown(curve, anchors, bd, summary, PNG_FILE, method, provenance)
    atomic_write_text(out / MARKDOWN_FILE, text)
    files += [out / PNG_FILE, out / SVG_FILE, out / MARKDOWN_FILE]
    logger.info("report written to %s", out)
    return files


def _output_dir(results: str | Path, out_dir: str | Path | None) -> Path:
    if out_dir is None:
        out = resolve_results_path(results).parent
    else:
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"cannot create output folder {out}: {exc.strerror}") from exc
    if not out.is_dir():
        raise ReportError(f"output folder is not a folder: {out}")
    return out


def _unique_ids(anchors: list[Anchor]) -> list[Anchor]:
    """Rename repeated ids (two measured folders with the same name) as id-2, id-3..."""
    seen: dict[str, int] = {}
    unique = []
    for anchor in anchors:
        count = seen.get(anchor.id, 0) + 1
        seen[anchor.id] = count
        if count > 1:
            anchor = Anchor(**{**anchor.__dict__, "id": f"{anchor.id}-{count}"})
        unique.append(anchor)
    return unique
