"""`coolchic bench --verify --out DIR`: decode every bitstream again and check its row.

For each ok row of DIR: the row is complete, its bitstream has the recorded
size and SHA-256, the original image still has the recorded SHA-256, and
decoding the bitstream gives the row's rate (exactly: it is a byte count) and
PSNR (within PSNR_TOLERANCE_DB, which leaves room for another machine's float
rounding). The bitstream is looked for at its recorded path, else in
`bitstreams/` of DIR (a folder moved since); the original image at its
recorded path, else by its file name under `--data-dir` (another machine).
Failed rows are counted, not checked. The folder's lock is held meanwhile, so
that no bench changes the rows under the check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench import rows
from bench.console import print_outcome
from bench.execute import set_torch_threads
from bench.jobs import BITSTREAMS_DIR, COOLCHIC, KIND_DECODE
from bench.lock import FolderLock
from bench.measure import measure_classical, measure_coolchic
from bench.plan import bitstream_problem
from coolchic_core.errors import CoolChicError, InputError
from coolchic_core.image_io import read_image
from datasets.checksum import sha256_file

PROG = "coolchic bench --verify"
PSNR_TOLERANCE_DB = 1e-3
RATE_TOLERANCE_BPP = 1e-9


@dataclass(frozen=True)
class Mismatch:
    job_id: str
    problem: str


@dataclass
class Verification:
    checked: int = 0
    failed_rows: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def verify_folder(
    out: Path, threads: int | None = None, data_dir: Path | None = None
) -> Verification:
    """Check every ok row of `out` against its bitstream (see the module's docstring)."""
    set_torch_threads(threads)
    result = Verification()
    for row in rows.load_rows(out):
        if row.get("status") != rows.STATUS_OK:
            result.failed_rows += 1
            continue
        result.checked += 1
        problem = verify_row(_with_image_in(_in_folder(row, Path(out)), data_dir))
        if problem is not None:
            result.mismatches.append(Mismatch(str(row["job_id"]), problem))
    return result


def _in_folder(row: dict, out: Path) -> dict:
    """The row with its bitstream in `out`/bitstreams if the folder was moved since."""
    recorded = Path(str(row.get("bitstream") or ""))
    moved = out / BITSTREAMS_DIR / recorded.name
    if row.get("kind") != KIND_DECODE and not recorded.is_file() and moved.is_file():
        return {**row, "bitstream": str(moved)}
    return row


def _with_image_in(row: dict, data_dir: Path | None) -> dict:
    """The row with its original image in `data_dir` if it is not at its recorded path."""
    recorded = Path(str(row.get("image_path") or ""))
    if data_dir is None or not row.get("image_path") or recorded.is_file():
        return row
    return {**row, "image_path": str(Path(data_dir) / recorded.name)}


def verify_row(row: dict) -> str | None:
    """Why `row` does not match its files, or None if decoding reproduces it."""
    missing = rows.missing_columns(row) + [c for c in ("bitstream", "image_path") if not row.get(c)]
    if missing:
        return f"its row lacks {', '.join(missing)}"
    bitstream = Path(row["bitstream"])
    problem = bitstream_problem(bitstream, row)
    if problem is not None:
        return problem
    image = Path(row["image_path"])
    if not image.is_file():
        return f"its original image {image} is missing (give its folder with --data-dir)"
    if row.get("image_sha256") and sha256_file(image) != row["image_sha256"]:
        return f"its original image {image} changed since its row was written"
    try:
        measured = _measure(row, bitstream, read_image(image))
    except CoolChicError as exc:
        return f"its bitstream does not decode: {exc}"
    return _compare(row, measured)


def _measure(row: dict, bitstream: Path, original) -> dict:
    if row.get("codec", COOLCHIC) == COOLCHIC:
        return measure_coolchic(bitstream, original, None)
    from bench.classical import get_codec

    return measure_classical(get_codec(row["codec"]), bitstream, original, None)


def _compare(row: dict, measured: dict) -> str | None:
    problems = []
    if not _close(row["rate_bpp"], measured["rate_bpp"], RATE_TOLERANCE_BPP):
        problems.append(f"rate_bpp {row['rate_bpp']} in its row, {measured['rate_bpp']} decoded")
    if not _close(row["psnr_db"], measured["psnr_db"], PSNR_TOLERANCE_DB):
        problems.append(f"psnr_db {row['psnr_db']} in its row, {measured['psnr_db']} decoded")
    if row["n_pixels"] != measured["n_pixels"]:
        problems.append(f"n_pixels {row['n_pixels']} in its row, {measured['n_pixels']} decoded")
    return "; ".join(problems) or None


def _close(stored, measured: float, tolerance: float) -> bool:
    try:
        value = float(stored)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and abs(value - measured) <= tolerance


def main_verify(
    out: Path, threads: int | None = None, wait: bool = False, data_dir: Path | None = None
) -> int:
    """Verify `out` and print one line per mismatch; 0 if all rows match, 1 otherwise."""
    out = Path(out)
    if not rows.rows_dir(out).is_dir():
        raise InputError(f"--out {out} holds no result rows (no {rows.ROWS_DIR}/ folder)")
    with FolderLock.taken(out, wait=wait):
        result = verify_folder(out, threads, data_dir)
    print_outcome(
        f"{PROG}: {result.checked} row(s) checked, {len(result.mismatches)} mismatch(es), "
        f"{result.failed_rows} failed row(s) not checked",
        [f"{m.job_id}: {m.problem}" for m in result.mismatches],
    )
    return 0 if result.ok else 1
