"""Result rows: one JSON file per job in `<out>/rows/`, written atomically.

A row is a flat dict. Its first columns are the original's
(`seq_name, lmbda, rate_bpp, psnr_db`, or `quality` for classical codecs);
rate and PSNR are measured by decoding the bytes written to disk, whose size
and SHA-256 the row records (`n_bytes`, `bitstream_sha256`) so that a later
run can tell whether the file still is the one that was measured.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from coolchic_core.atomic_io import atomic_write_text

LOGGER = logging.getLogger(__name__)

ROWS_DIR = "rows"
STATUS_OK = "ok"
STATUS_FAILED = "failed"

VALUE_COLUMNS = ("rate_bpp", "psnr_db")
# What an ok row must hold to count as complete (resume and --verify rely on them).
REQUIRED_OK_COLUMNS = (*VALUE_COLUMNS, "n_bytes", "n_pixels", "mse", "bitstream_sha256")

# Columns after the leading four, in table order.
DETAIL_COLUMNS = (
    "n_bytes",
    "bitstream_sha256",
    "n_pixels",
    "height",
    "width",
    "mse",
    "psnr_db_8bit",
    "enc_psnr_db",
    "enc_rate_latent_bpp",
    "enc_rate_mlp_bpp",
    "enc_rate_all_bpp",
    "enc_training_time_s",
    "enc_time_s",
    "dec_time_s",
    "n_iterations",
    "codec",
    "format",
    "codec_version",
    "dataset",
    "preset",
    "seed",
    "device",
    "threads",
    "job_id",
    "kind",
    "config_hash",
    "bitstream",
    "decoded_png",
    "image_path",
    "image_sha256",
    "coolchic_version",
    "git_commit",
    "git_dirty",
    "recipe_sha256",
    "torch_version",
    "constriction_version",
    "numpy_version",
    "cpu_model",
    "gpu_name",
    "hostname",
    "finished_utc",
    "status",
    "error",
)


def leading_columns(point_key: str) -> list[str]:
    return ["seq_name", point_key, *VALUE_COLUMNS]


def ordered_columns(point_key: str, present: list[str]) -> list[str]:
    """The table's column order: leading, details, then any other present column."""
    known = leading_columns(point_key) + list(DETAIL_COLUMNS)
    return known + sorted(c for c in present if c not in known)


def rows_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / ROWS_DIR


def row_path(out_dir: str | Path, job_id: str) -> Path:
    return rows_dir(out_dir) / f"{job_id}.json"


def write_row(out_dir: str | Path, row: dict) -> Path:
    """Write `row` as `<out>/rows/<job_id>.json` (whole or not at all)."""
    path = row_path(out_dir, row["job_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(row, indent=1) + "\n")
    return path


def read_row(path: Path) -> dict | None:
    """A stored row, or None (with a warning) if the file cannot be read as one."""
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        LOGGER.warning("ignoring unreadable result row %s: %s", path, exc)
        return None
    if not isinstance(row, dict) or "job_id" not in row:
        LOGGER.warning("ignoring %s: not a result row", path)
        return None
    return row


def load_rows(out_dir: str | Path) -> list[dict]:
    """Every stored row of `out_dir`, in file-name order."""
    folder = rows_dir(out_dir)
    if not folder.is_dir():
        return []
    rows = (read_row(path) for path in sorted(folder.glob("*.json")))
    return [row for row in rows if row is not None]


def missing_columns(row: dict) -> list[str]:
    """The columns an ok row must have (REQUIRED_OK_COLUMNS) that `row` lacks or leaves empty."""
    return [column for column in REQUIRED_OK_COLUMNS if row.get(column) in (None, "")]
