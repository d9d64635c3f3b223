"""Rate-distortion curves from results tables (the original's raw_results.tsv).

A results table has one row per (image, operating point): `seq_name`, a point
key (`lmbda` for COOL-CHIC, `quality` for classical codecs), `rate_bpp` and
`psnr_db`, plus any other columns. A curve is the per-point mean of rate and
PSNR over the images, as in the original's average_results.tsv.

Two conventions average PSNR over a dataset (`--psnr-average`):
- `per-image` (default): the mean of the per-image PSNRs, as the original
  COOL-CHIC's average_results.tsv and CompressAI's results do;
- `mean-mse`: the PSNR of the mean MSE over the images, as later Cool-chic
  releases report it. It is never above the per-image mean (Jensen), and
  moves BD-rates by several points (Cool-chic 5.0 against HM: -25.6 % vs
  -20.2 %, see docs/reports.md).
An MSE is taken from the `mse` column when there is one, else from
`psnr_db` (MSE = 10 ** (-psnr_db / 10), samples in [0, 1]).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from coolchic_core.metrics import psnr_db_from_mse
from reports.errors import ReportError

RAW_RESULTS_NAME = "raw_results.tsv"
POINT_KEYS = ("lmbda", "quality")
COLUMN_ALIASES = {"seq": "seq_name", "lambda": "lmbda"}
VALUE_COLUMNS = ("rate_bpp", "psnr_db")
# What an RDCurve keeps per image (`mse` when the table has one, for the mean-mse average).
PER_IMAGE_COLUMNS = ("seq_name", *VALUE_COLUMNS, "mse")
# Columns that must hold one value: averaging two codecs or presets together means nothing.
SINGLE_VALUED = ("codec", "preset")
AVERAGE_DECIMALS = 4
PER_IMAGE = "per-image"
MEAN_MSE = "mean-mse"
PSNR_AVERAGES = (PER_IMAGE, MEAN_MSE)
# The column of an averaged table (average_results) holding each convention's PSNR.
PSNR_COLUMNS = {PER_IMAGE: "psnr_db", MEAN_MSE: "psnr_of_mean_mse_db"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RDCurve:
    """A rate-distortion curve: mean points sorted by rate, and per-image rows if known.

    `points` has columns [key] + rate_bpp, psnr_db (mean of per-image PSNRs),
    psnr_of_mean_mse_db when known (+ n_images); `per_image` has seq_name,
    [key], rate_bpp, psnr_db (and mse if known), or is None; `mean_images`
    names the images the points average when that is known (else all of
    `per_image`). `psnr_average` names the convention
    that `psnr_db` (the property) gives: PER_IMAGE or MEAN_MSE.
    """

    label: str
    points: pd.DataFrame
    key: str | None = None
    per_image: pd.DataFrame | None = None
    psnr_average: str = PER_IMAGE
    mean_images: tuple[str, ...] = ()

    @property
    def rate_bpp(self) -> np.ndarray:
        return self.points["rate_bpp"].to_numpy(dtype=np.float64)

    @property
    def psnr_db(self) -> np.ndarray:
        """The mean PSNR per point in this curve's convention (`psnr_average`)."""
        return self.points[PSNR_COLUMNS[self.psnr_average]].to_numpy(dtype=np.float64)

    def has_average(self, psnr_average: str) -> bool:
        return PSNR_COLUMNS[check_psnr_average(psnr_average)] in self.points

    def averaged(self, psnr_average: str) -> RDCurve:
        """This curve in the convention `psnr_average` (ReportError if it is not known)."""
        if not self.has_average(psnr_average):
            raise ReportError(f"{self.label}: no per-image data for the {psnr_average} average")
        return replace(self, psnr_average=psnr_average)

    @property
    def images(self) -> list[str]:
        """Sorted names of the images in the mean points; empty if the rows are unknown."""
        if self.per_image is None:
            return []
        return list(self.mean_images) or sorted(set(self.per_image["seq_name"]))

    def on_images(self, names: list[str]) -> RDCurve:
        """This curve with its mean points recomputed over the images `names` only."""
        if self.per_image is None or self.key is None:
            raise ReportError(f"{self.label}: no per-image rows to average a subset of")
        rows = self.per_image[self.per_image["seq_name"].isin(names)]
        if rows.empty:
            raise ReportError(f"{self.label}: none of the images {', '.join(names[:4])}")
        points = average_results(rows).sort_values("rate_bpp").reset_index(drop=True)
        return replace(self, points=points, mean_images=tuple(sorted(names)))

    def image_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per image name, its (rate_bpp, psnr_db) arrays sorted by rate; empty if unknown."""
        if self.per_image is None:
            return {}
        curves = {}
        for name, rows in self.per_image.groupby("seq_name", sort=True):
            rows = rows.sort_values("rate_bpp")
            curves[str(name)] = (
                rows["rate_bpp"].to_numpy(dtype=np.float64),
                rows["psnr_db"].to_numpy(dtype=np.float64),
            )
        return curves


def resolve_results_path(path: str | Path) -> Path:
    """`DIR/raw_results.tsv` for a folder, the path itself for a file; error if missing."""
    path = Path(path)
    if path.is_dir():
        path = path / RAW_RESULTS_NAME
    if not path.is_file():
        raise ReportError(f"results file not found: {path}")
    return path


def read_raw_results(path: str | Path) -> pd.DataFrame:
    """Read and check a results TSV (a folder means its raw_results.tsv)."""
    path = resolve_results_path(path)
    try:
        table = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a readable TSV ({_first_line(exc)})") from exc
    try:
        return check_results_table(table)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from exc


def check_results_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rename known aliases (seq, lambda), check the columns and make the values numeric."""
    table = table.rename(columns={k: v for k, v in COLUMN_ALIASES.items() if v not in table})
    key = point_key(table)
    missing = [c for c in VALUE_COLUMNS if c not in table]
    if missing:
        have = ", ".join(map(str, table.columns))
        raise ReportError(f"missing column(s) {', '.join(missing)}; have {have}")
    if table.empty:
        raise ReportError("no result rows")
    for column in SINGLE_VALUED:
        values = table[column].dropna().unique() if column in table else []
        if len(values) > 1:
            listed = ", ".join(map(str, values[:5]))
            raise ReportError(f"results mix several {column}s ({listed}); report them one by one")
    table = table.copy()
    for column in (key, *VALUE_COLUMNS):
        table[column] = _numeric_column(table, column)
    return table


def point_key(table: pd.DataFrame) -> str:
    """The column naming the operating points: `lmbda`, else `quality` (the one without gaps)."""
    present = [k for k in POINT_KEYS if k in table]
    if not present:
        raise ReportError(
            f"needs a 'lmbda' or 'quality' column; have {', '.join(map(str, table.columns))}"
        )
    complete = [k for k in present if table[k].notna().all()]
    return (complete or present)[0]


def average_results(raw: pd.DataFrame) -> pd.DataFrame:
    """The original's average_results.tsv: per operating point, plain means over images.

    Columns: the point key (`lmbda` or `quality`), `rate_bpp`, `psnr_db` (means
    of the per-image values: the per-image convention), `psnr_of_mean_mse_db`
    (the mean-mse convention, see `image_mse`), and `n_images`. Rows sorted by
    the key, ascending.
    """
    raw = check_results_table(raw)
    key = point_key(raw)
    groups = raw.groupby(key, sort=True)
    table = groups[list(VALUE_COLUMNS)].mean().reset_index()
    mean_mse = image_mse(raw).groupby(raw[key]).mean()
    table[PSNR_COLUMNS[MEAN_MSE]] = [psnr_db_from_mse(m) for m in mean_mse.to_numpy()]
    counts = groups["seq_name"].nunique() if "seq_name" in raw else groups.size()
    table["n_images"] = counts.to_numpy(dtype=np.int64)
    return table


def image_mse(raw: pd.DataFrame) -> pd.Series:
    """Each row's MSE (samples in [0, 1]): its `mse` column if complete, else from `psnr_db`."""
    if "mse" in raw:
        mse = pd.to_numeric(raw["mse"], errors="coerce")
        if (mse.notna() & np.isfinite(mse.astype(np.float64)) & (mse > 0)).all():
            return mse.astype(np.float64)
    return 10.0 ** (-raw["psnr_db"].astype(np.float64) / 10.0)


def check_psnr_average(psnr_average: str) -> str:
    if psnr_average not in PSNR_AVERAGES:
        raise ReportError(
            f"unknown PSNR average '{psnr_average}'; use one of {', '.join(PSNR_AVERAGES)}"
        )
    return psnr_average


def format_average_results(average: pd.DataFrame, decimals: int = AVERAGE_DECIMALS) -> str:
    """TSV text of `average_results(...)` with rates and PSNRs rounded as the original's."""
    text = average.copy()
    for column in text.columns:
        if column.endswith(("_bpp", "_db")):
            text[column] = [f"{v:.{decimals}f}" for v in text[column]]
        elif column in POINT_KEYS:
            text[column] = [_format_key(v) for v in text[column]]
    return text.to_csv(sep="\t", index=False)


def curve_from_table(raw: pd.DataFrame, label: str, psnr_average: str = PER_IMAGE) -> RDCurve:
    """The mean curve (sorted by rate) and the per-image rows of a results table.

    The mean curve averages only the images that have a row at every operating
    point: a mean over different images at different points is no curve. The
    others stay in `per_image` (for per-image BD-rates), with a warning.
    """
    check_psnr_average(psnr_average)
    raw = check_results_table(raw)
    key = point_key(raw)
    if "seq_name" not in raw:
        points = average_results(raw).sort_values("rate_bpp").reset_index(drop=True)
        return RDCurve(label, points, key=key, psnr_average=psnr_average)
    raw = raw.assign(seq_name=raw["seq_name"].astype(str))
    complete = complete_images(raw, key)
    if not complete:
        raise ReportError(f"{label}: no image has a result at every {key}; no mean curve")
    left_out = sorted(set(raw["seq_name"]) - set(complete))
    if left_out:
        logger.warning(
            "%s: %d image(s) lack some %s values and are left out of the mean curve "
            "(kept per image): %s",
            label,
            len(left_out),
            key,
            ", ".join(left_out[:8]) + (", ..." if len(left_out) > 8 else ""),
        )
    columns = ["seq_name", key, *(c for c in PER_IMAGE_COLUMNS[1:] if c in raw)]
    per_image = raw[columns]
    curve = RDCurve(label, pd.DataFrame(), key=key, per_image=per_image.reset_index(drop=True))
    return replace(curve.on_images(complete), psnr_average=psnr_average)


def complete_images(raw: pd.DataFrame, key: str) -> list[str]:
    """Sorted names of the images with a row at every value of `key` in the table."""
    n_points = raw[key].nunique()
    per_image = raw.groupby(raw["seq_name"].astype(str))[key].nunique()
    return sorted(per_image.index[per_image == n_points])


def load_results(
    path: str | Path, label: str | None = None, psnr_average: str = PER_IMAGE
) -> RDCurve:
    """A results folder (its raw_results.tsv) or TSV file as an `RDCurve`."""
    file_path = resolve_results_path(path)
    try:
        table = read_raw_results(file_path)
        return curve_from_table(table, label or default_label(path), psnr_average)
    except ReportError as exc:
        if str(file_path) in str(exc):
            raise
        raise ReportError(f"{file_path}: {exc}") from exc


def default_label(path: str | Path) -> str:
    """A folder's name, or for a file the name of its folder (or its stem if generic)."""
    path = Path(path).resolve()
    if path.is_dir():
        return path.name
    if path.name == RAW_RESULTS_NAME:
        return path.parent.name
    return path.stem


def _numeric_column(table: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(np.float64))
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise ReportError(f"column {column}: missing or non-numeric values (line(s) {rows})")
    return values


def _format_key(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
