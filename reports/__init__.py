"""Reports: BD-rate and BD-PSNR against published anchors, RD curves, averages.

Pure functions over tables; `reports.cli.main` is the `coolchic report` command.

- `average_results(raw)`: the original's average_results.tsv from raw_results.tsv rows.
- `load_results(path)`: a results folder or TSV as an `RDCurve`.
- `load_anchor(anchor_id)`, `available_anchors()`: the published anchors.
- `bd_rate_pct`, `bd_psnr_db`, `compare_curves`: Bjontegaard deltas.
- `write_report(...)`: bd_rate.tsv, rd_curve.png/svg and report.md for a folder.
"""

from __future__ import annotations

from reports.anchors import Anchor, available_anchors, load_anchor
from reports.bd_rate import BDResult, bd_psnr_db, bd_rate_pct, compare_curves
from reports.curves import RDCurve, average_results, format_average_results, load_results
from reports.errors import ReportError

__all__ = [
    "Anchor",
    "BDResult",
    "RDCurve",
    "ReportError",
    "available_anchors",
    "average_results",
    "bd_psnr_db",
    "bd_rate_pct",
    "compare_curves",
    "format_average_results",
    "load_anchor",
    "load_results",
]
