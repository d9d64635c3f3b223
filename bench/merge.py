"""`coolchic bench --merge-from SRC[,SRC...] --out DIR`: gather the folders of one split run.

A run split over several machines or processes, each with its own `--out`,
comes together in one folder: each ok row of a source whose bitstream still
has the recorded size and SHA-256 is copied into `--out` with its bitstream
(and its decoded PNG, if any), the row's paths rewritten to their new place,
and the tables of `--out` are rebuilt (bench.collect). The bitstream is
written before its row, each atomically, so an interrupted merge leaves no
row without its file, and merging again goes on where it stopped.

A job that `--out` already has, ok and with its files intact, is kept: with
the same bitstream and configuration it counts as already there, otherwise
it is a conflict, reported and never overwritten (remove its row from
`--out` to take the other one). A row of `--out` that failed or whose
bitstream no longer matches is replaced. Rows of a source that failed or
whose files do not match are not copied, and are reported. The bitstream is
checked on the bytes that are written, so a source a bench is still writing
can be merged from: only its finished rows are taken. A decode-only row
keeps the path of the bitstream it decoded (an input, not a file of the
folder). The lock of `--out` is held meanwhile, and the temporary files an
interrupted merge or bench left there are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench import rows
from bench.collect import collect
from bench.console import print_outcome
from bench.execute import DECODED_DIR
from bench.jobs import BITSTREAMS_DIR, KIND_DECODE
from bench.lock import FolderLock, remove_stale_temp_files
from bench.plan import bitstream_problem
from coolchic_core.atomic_io import atomic_write_bytes
from coolchic_core.errors import InputError
from datasets.checksum import sha256_bytes

PROG = "coolchic bench --merge-from"


@dataclass(frozen=True)
class Refused:
    """A source row that was not copied, and why."""

    source: str
    job_id: str
    reason: str


@dataclass
class MergeSummary:
    copied: int = 0
    already_there: int = 0
    failed_rows: int = 0  # failed jobs of the sources: not copied, a resumed run redoes them
    refused: list[Refused] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


def merge_folders(sources: list[Path], out: Path) -> MergeSummary:
    """Copy the verified rows of `sources` into `out` (see the module's docstring)."""
    summary = MergeSummary()
    for source in sources:
        for row in rows.load_rows(source):
            _merge_row(Path(source), row, Path(out), summary)
    return summary


def _merge_row(source: Path, row: dict, out: Path, summary: MergeSummary) -> None:
    job_id = str(row["job_id"])
    if row.get("status") != rows.STATUS_OK:
        summary.failed_rows += 1
        return
    kept = _kept_row(out, job_id)
    if kept is not None and _same_result(kept, row):
        summary.already_there += 1
        return
    try:
        files = _verified_files(_located(row, source))
    except (_Refusal, OSError) as exc:
        summary.refused.append(Refused(str(source), job_id, _reason(exc)))
        return
    if kept is not None:
        reason = f"{out} already has another result for it ({_difference(kept, row)})"
        summary.refused.append(Refused(str(source), job_id, reason))
        return
    try:
        _write_row(_located(row, out), files, out)
    except OSError as exc:  # a full disk: this row, not the whole merge
        reason = f"cannot be copied into {out}: {exc.strerror or exc}"
        summary.refused.append(Refused(str(source), job_id, reason))
        return
    summary.copied += 1


class _Refusal(Exception):
    """Why a source row is not copied."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"its files cannot be read ({exc.strerror or exc})"
    return str(exc)


def _located(row: dict, folder: Path) -> dict:
    """The row with its files (bitstream of an encode job, decoded PNG) in `folder`."""
    located = dict(row)
    if row.get("kind") != KIND_DECODE:  # a decode job's bitstream is its input, not a file here
        name = Path(str(row.get("bitstream") or "")).name or f"{row['job_id']}.bin"
        located["bitstream"] = str(folder / BITSTREAMS_DIR / name)
    if row.get("decoded_png"):
        located["decoded_png"] = str(folder / DECODED_DIR / Path(row["decoded_png"]).name)
    return located


def _verified_files(row: dict) -> dict[str, bytes]:
    """The bytes of the row's own files ("bitstream", "decoded_png"), read once and checked.

    The bitstream is checked against the row's size and SHA-256 on the bytes that will
    be written, so a file replaced meanwhile is never copied under an old row.
    """
    job_id = str(row["job_id"])
    if Path(job_id).name != job_id or job_id in (".", ".."):
        raise _Refusal(f"{job_id!r} is not a job id")
    missing = rows.missing_columns(row) + ([] if row.get("bitstream") else ["bitstream"])
    if missing:
        raise _Refusal(f"its row lacks {', '.join(missing)}")
    files = {}
    if row.get("kind") != KIND_DECODE:
        data = Path(row["bitstream"]).read_bytes() if Path(row["bitstream"]).is_file() else None
        problem = _bytes_problem(data, row)
        if problem is not None:
            raise _Refusal(problem)
        files["bitstream"] = data
    if row.get("decoded_png") and Path(row["decoded_png"]).is_file():
        files["decoded_png"] = Path(row["decoded_png"]).read_bytes()
    return files


def _bytes_problem(data: bytes | None, row: dict) -> str | None:
    if data is None:
        return "its bitstream is missing"
    if len(data) != row["n_bytes"]:
        return f"bitstream size changed since its row was written ({len(data)} != {row['n_bytes']})"
    if sha256_bytes(data) != row["bitstream_sha256"]:
        return "bitstream changed since its row was written"
    return None


def _kept_row(out: Path, job_id: str) -> dict | None:
    """`out`'s own ok row for `job_id` whose files are intact, or None."""
    path = rows.row_path(out, job_id)
    row = rows.read_row(path) if path.is_file() else None
    if row is None or row.get("status") != rows.STATUS_OK:
        return None
    if rows.missing_columns(row):
        return None
    if row.get("kind") == KIND_DECODE:
        return row
    bitstream = Path(_located(row, out)["bitstream"])
    return row if bitstream_problem(bitstream, row) is None else None


def _same_result(kept: dict, row: dict) -> bool:
    return all(kept.get(c) == row.get(c) for c in ("config_hash", "bitstream_sha256"))


def _difference(kept: dict, row: dict) -> str:
    if kept.get("config_hash") != row.get("config_hash"):
        return "another configuration"
    return "another bitstream"


def _write_row(target: dict, files: dict[str, bytes], out: Path) -> None:
    """The files first, then the row that names them, each atomically."""
    for column, data in files.items():
        atomic_write_bytes(_made_parent(target[column]), data)
    if target.get("decoded_png") and "decoded_png" not in files:
        del target["decoded_png"]  # the source lost it: the row must not point at nothing
    rows.write_row(out, target)


def _made_parent(path: str) -> Path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Path(path)


def _check_sources(sources: list[Path], out: Path) -> None:
    for source in sources:
        if not rows.rows_dir(source).is_dir():
            raise InputError(f"--merge-from {source} holds no result rows (no {rows.ROWS_DIR}/)")
        if source.resolve() == out.resolve():
            raise InputError(f"--merge-from {source} is --out itself")


def main_merge(sources: list[Path], out: Path, wait: bool = False) -> int:
    """Merge `sources` into `out`, print a summary; 0 if every ok row merged, 1 otherwise."""
    out = Path(out)
    sources = [Path(s) for s in sources]
    _check_sources(sources, out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    with FolderLock.taken(out, wait=wait):
        remove_stale_temp_files(out)  # what an interrupted merge or bench left
        summary = merge_folders(sources, out)
        collect(out)
    print_outcome(
        f"{PROG}: {summary.copied} row(s) copied into {out}, {summary.already_there} already "
        f"there, {len(summary.refused)} refused, {summary.failed_rows} failed row(s) left out",
        [f"{r.source}: {r.job_id}: {r.reason}" for r in summary.refused],
    )
    return 0 if summary.ok else 1
