"""`coolchic report`: BD-rates and RD curves of a results folder against anchors."""

from __future__ import annotations

import argparse
import math

import pandas as pd

from coolchic_cli.parsing import OneLineArgumentParser
from reports.anchors import DEFAULT_ANCHORS, available_anchors, load_anchor, parse_anchor_ids
from reports.bd_rate import METHODS
from reports.curves import PER_IMAGE, PSNR_AVERAGES
from reports.report import write_report


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="coolchic report",
        description="Write bd_rate.tsv, rd_curve.png/svg and report.md for a results folder.",
    )
    parser.add_argument(
        "--results",
        help="folder with raw_results.tsv (or a TSV file): seq_name, lmbda or quality, "
        "rate_bpp, psnr_db",
    )
    parser.add_argument(
        "--anchors",
        default=",".join(DEFAULT_ANCHORS),
        help="comma-separated anchor ids, 'all', or '' for none (default: %(default)s)",
    )
    parser.add_argument(
        "--anchors-from",
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="measured results to use as an anchor (repeatable), e.g. hevc=results/kodak-hevc",
    )
    parser.add_argument("--out", help="output folder (default: the results folder)")
    parser.add_argument("--method", choices=METHODS, default="pchip", help="BD interpolation")
    parser.add_argument(
        "--psnr-average",
        choices=PSNR_AVERAGES,
        default=PER_IMAGE,
        help="dataset PSNR: mean of per-image PSNRs (per-image, default, the original's) or "
        "PSNR of the mean MSE (mean-mse); the other is given beside",
    )
    parser.add_argument("--label", help="name of the curve (default: the results folder's name)")
    parser.add_argument(
        "--list-anchors", action="store_true", help="list the shipped anchors and exit"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `coolchic report`; errors surface as ReportError (one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_anchors:
        if args.results or args.out or args.anchors_from:
            parser.error("--list-anchors lists the shipped anchors and writes no report")
        print(_anchor_list())
        return 0
    if not args.results:
        parser.error("--results is required")
    report = write_report(
        args.results,
        parse_anchor_ids(args.anchors),
        anchors_from=args.anchors_from,
        out_dir=args.out,
        method=args.method,
        label=args.label,
        psnr_average=args.psnr_average,
    )
    print(_stdout_table(report.bd, report.curve.label, args.method))
    print(f"wrote {', '.join(str(p) for p in report.files)}")
    return 0


def _stdout_table(bd: pd.DataFrame, label: str, method: str) -> str:
    width = max([len(a) for a in bd["anchor"]] + [6])
    used = bd["psnr_average"].iloc[0] if not bd.empty else PER_IMAGE
    other = bd["other_psnr_average"].iloc[0] if not bd.empty else ""
    lines = [
        f"BD of {label}, method {method}, PSNR average {used} ({other} beside); "
        "negative BD-rate = fewer bits than the anchor",
        f"{'anchor':<{width}}  {'BD-rate':>9}  {'BD-PSNR':>9}  {other:>9}  PSNR range",
    ]
    for row in bd.itertuples():
        if math.isfinite(row.bd_rate_pct):
            values = f"{row.bd_rate_pct:>+8.1f}%  {row.bd_psnr_db:>+6.2f} dB"
            values += f"  {_pct(row.other_bd_rate_pct):>9}"
            span = f"{row.psnr_min_db:.2f}-{row.psnr_max_db:.2f} dB"
            note = f"  ({row.note})" if isinstance(row.note, str) and row.note else ""
            lines.append(f"{row.anchor:<{width}}  {values}  {span}{note}")
        else:
            lines.append(f"{row.anchor:<{width}}  {'n/a':>9}  {'n/a':>9}  {'n/a':>9}  {row.note}")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{value:+.1f}%" if math.isfinite(value) else "n/a"


def _anchor_list() -> str:
    lines = []
    for anchor_id in available_anchors():
        anchor = load_anchor(anchor_id)
        lines.append(f"{anchor_id:<32} {anchor.name} ({len(anchor.curve.points)} points)")
    return "\n".join(lines)
