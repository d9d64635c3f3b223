"""Resume: which jobs already have a result for the same configuration."""

from __future__ import annotations

from pathlib import Path

from bench import rows
from bench.jobs import KIND_DECODE, Job


def is_done(job: Job) -> bool:
    """True if `job` has an ok row with its configuration hash (and its bitstream on disk)."""
    path = rows.row_path(job.out_dir, job.job_id)
    if not path.is_file():
        return False
    row = rows.read_row(path)
    if row is None or row.get("status") != rows.STATUS_OK:
        return False
    if row.get("config_hash") != job.config_hash:
        return False
    if job.kind == KIND_DECODE:
        return True
    bitstream = Path(job.bitstream)
    return bitstream.is_file() and bitstream.stat().st_size == row.get("n_bytes")


def split_done(jobs: list[Job], force: bool = False) -> tuple[list[Job], list[Job]]:
    """(jobs to run, jobs skipped because they are done); `force` runs them all."""
    if force:
        return list(jobs), []
    to_run, skipped = [], []
    for job in jobs:
        (skipped if is_done(job) else to_run).append(job)
    return to_run, skipped
