"""Collected results: raw_results.tsv and average_results.tsv rebuilt from the rows.

raw_results.tsv: the ok rows, sorted by image then lambda (or quality), with
the original's columns first and its rounding (4 decimals for rate_bpp and
psnr_db; the other columns keep full precision). average_results.tsv: the
original's plain means per lambda (reports.curves), then extra columns.
Failed jobs are listed in failed_jobs.tsv.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import rows
from coolchic_core.atomic_io import atomic_write_text

LOGGER = logging.getLogger(__name__)

RAW_RESULTS = "raw_results.tsv"
AVERAGE_RESULTS = "average_results.tsv"
FAILED_JOBS = "failed_jobs.tsv"
ORIGINAL_DECIMALS = 4
MEAN_EXTRA_COLUMNS = ("enc_time_s", "dec_time_s")


@dataclass(frozen=True)
class Collected:
    raw: pd.DataFrame
    average: pd.DataFrame
    failed: pd.DataFrame


def collect(out_dir: str | Path, codec: str | None = None) -> Collected:
    """Rebuild the TSVs of `out_dir` from its rows (only `codec`'s rows if given)."""
    out = Path(out_dir)
    stored = rows.load_rows(out)
    if codec is not None:
        others = sorted({r.get("codec") for r in stored if r.get("codec") != codec}, key=str)
        if others:
            LOGGER.warning("%s also holds rows of %s; they are left out", out, ", ".join(others))
        stored = [r for r in stored if r.get("codec") == codec]
    ok = [r for r in stored if r.get("status") == rows.STATUS_OK]
    failed = [r for r in stored if r.get("status") != rows.STATUS_OK]
    raw = raw_table(ok)
    average = average_table(raw) if not raw.empty else pd.DataFrame()
    _write_or_remove(out / RAW_RESULTS, format_raw(raw) if not raw.empty else None)
    _write_or_remove(out / AVERAGE_RESULTS, format_average(average) if not raw.empty else None)
    failed_table = _failed_table(failed)
    _write_or_remove(
        out / FAILED_JOBS,
        failed_table.to_csv(sep="\t", index=False) if not failed_table.empty else None,
    )
    _warn_if_mixed(raw)
    return Collected(raw=raw, average=average, failed=failed_table)


def point_key_of(records: list[dict]) -> str:
    return "lmbda" if all("lmbda" in r for r in records) else "quality"


def raw_table(records: list[dict]) -> pd.DataFrame:
    """Rows as a table in the original's order: sorted by image, then point."""
    if not records:
        return pd.DataFrame(columns=rows.leading_columns("lmbda"))
    key = point_key_of(records)
    table = pd.DataFrame.from_records(records)
    present = [c for c in rows.ordered_columns(key, list(table.columns)) if c in table]
    table = table[present].sort_values(["seq_name", key], kind="stable")
    return table.reset_index(drop=True)


def format_raw(raw: pd.DataFrame) -> str:
    """TSV text; rate_bpp and psnr_db rounded to 4 decimals as the original wrote them."""
    text = raw.copy()
    for column in rows.VALUE_COLUMNS:
        text[column] = text[column].astype(float).round(ORIGINAL_DECIMALS)
    return text.to_csv(sep="\t", index=False)


def average_table(raw: pd.DataFrame) -> pd.DataFrame:
    """reports.curves' average (original columns first), plus mean times per point."""
    from reports.curves import average_results, point_key

    average = average_results(raw)
    key = point_key(raw)
    for column in MEAN_EXTRA_COLUMNS:
        if column in raw and raw[column].notna().any():
            means = pd.to_numeric(raw[column], errors="coerce").groupby(raw[key]).mean()
            average[f"mean_{column}"] = average[key].map(means).to_numpy()
    return average


def format_average(average: pd.DataFrame) -> str:
    from reports.curves import format_average_results

    return format_average_results(average, ORIGINAL_DECIMALS)


def _failed_table(failed: list[dict]) -> pd.DataFrame:
    columns = ["job_id", "seq_name", "error", "finished_utc"]
    if not failed:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame.from_records(failed)
    return table[[c for c in columns if c in table]].sort_values("job_id").reset_index(drop=True)


def _write_or_remove(path: Path, text: str | None) -> None:
    if text is not None:
        atomic_write_text(path, text)
    elif path.exists():
        path.unlink()


def _warn_if_mixed(raw: pd.DataFrame) -> None:
    for column in ("preset", "seed", "dataset"):
        if column in raw and raw[column].nunique(dropna=False) > 1:
            values = ", ".join(map(str, raw[column].unique()))
            LOGGER.warning("raw_results.tsv mixes several %s values: %s", column, values)
