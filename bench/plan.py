"""Resume: which jobs already have a verified result for the same configuration.

A job counts as done only if its row is ok and complete (rows.REQUIRED_OK_COLUMNS),
has the job's configuration hash, and its bitstream is on disk with the size
and SHA-256 the row recorded. Any other job runs (again), with the reason.
"""

from __future__ import annotations

from pathlib import Path

from bench import rows
from bench.jobs import Job
from datasets.checksum import sha256_file

NO_ROW = "no result yet"


def rerun_reason(job: Job) -> str | None:
    """None if `job` is done; otherwise why it must run."""
    path = rows.row_path(job.out_dir, job.job_id)
    if not path.is_file():
        return NO_ROW
    row = rows.read_row(path)
    if row is None:
        return "its row is unreadable"
    if row.get("status") != rows.STATUS_OK:
        return "its last run failed"
    if row.get("config_hash") != job.config_hash:
        return "its configuration changed"
    missing = rows.missing_columns(row)
    if missing:
        return f"its row lacks {', '.join(missing)}"
    return bitstream_problem(Path(job.bitstream), row)


def bitstream_problem(bitstream: Path, row: dict) -> str | None:
    """Why `bitstream` is not the file `row` measured, or None if it is (size and SHA-256)."""
    try:
        size = bitstream.stat().st_size if bitstream.is_file() else None
        if size is None:
            return "its bitstream is missing"
        if size != row["n_bytes"]:
            return f"bitstream size changed since its row was written ({size} != {row['n_bytes']})"
        if sha256_file(bitstream) != row["bitstream_sha256"]:
            return "bitstream changed since its row was written"
    except OSError as exc:
        return f"its bitstream cannot be read ({exc.strerror or exc})"
    return None


def is_done(job: Job) -> bool:
    """True if `job` has a verified result (see the module's docstring)."""
    return rerun_reason(job) is None


def split_done(
    jobs: list[Job], force: bool = False, reasons: dict[str, str] | None = None
) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because they are done); `force` runs them all.

    `reasons`, if given, receives job id -> why it runs again, for each job that
    has a row (jobs never run before are not listed).
    """
    if force:
        return list(jobs), []
    to_run, skipped = [], []
    for job in jobs:
        reason = rerun_reason(job)
        (skipped if reason is None else to_run).append(job)
        if reasons is not None and reason not in (None, NO_ROW):
            reasons[job.job_id] = reason
    return to_run, skipped
