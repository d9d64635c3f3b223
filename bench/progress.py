"""Progress of a whole bench run: jobs done out of the total, and the time left.

`RunProgress` is fed each finished job's row (the `on_result` callback of
`bench.runner.execute`) and says how many jobs are done and how long the rest
should take. Nothing is printed here: the command line draws the bar.

Time left: the jobs' estimates (bench.estimate) give when each job should end
if the pool hands them out in order to the first free slot. After k jobs have
ended, the run is `time of the k-th end / its predicted time` slower (or
faster) than predicted, and at least `elapsed / predicted end of job k+1`
slower (that one has not ended yet); the time left is that ratio times the
predicted total, minus the time elapsed. Without estimates (a cluster of unknown size),
it is the mean time per finished job times the jobs left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bench import naming, rows
from bench.estimate import finish_times_s


class RunProgress:
    """Jobs done / total and the estimated time left, updated as jobs finish."""

    def __init__(
        self,
        total: int,
        estimates_s: list[float] | None = None,
        n_slots: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = total
        self.done = 0
        self.failed = 0
        self.clock = clock
        self.start = clock()
        self.predicted_ends_s: list[float] | None = None
        if estimates_s is not None and n_slots is not None and len(estimates_s) == total:
            self.predicted_ends_s = sorted(finish_times_s(estimates_s, n_slots))
        self.last_end_s = 0.0

    def job_finished(self, row: dict) -> None:
        self.done += 1
        if row.get("status") != rows.STATUS_OK:
            self.failed += 1
        self.last_end_s = self.clock() - self.start

    def elapsed_s(self) -> float:
        return self.clock() - self.start

    def time_left_s(self) -> float | None:
        """Seconds until the last job ends, None while there is nothing to go on."""
        if self.done >= self.total:
            return 0.0
        elapsed = self.elapsed_s()
        if self.predicted_ends_s:
            ends = self.predicted_ends_s
            ratio = _ratio(self.last_end_s, ends[self.done - 1]) if self.done else 1.0
            # The next job has not ended yet: the run is at least that much slower too.
            ratio = max(ratio, _ratio(elapsed, ends[self.done]))
            return max(0.0, ratio * ends[-1] - elapsed)
        if self.done == 0:
            return None
        per_job_s = self.last_end_s / self.done
        return max(0.0, per_job_s * (self.total - self.done) - (elapsed - self.last_end_s))


def _ratio(actual_s: float, predicted_s: float) -> float:
    return actual_s / predicted_s if predicted_s > 0 else 1.0


def describe_duration(seconds: float | None) -> str:
    """A rounded duration for people: '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h"


def finished_job_line(row: dict) -> str:
    """'kodim01 lambda 0.0001: 2.2767 bpp, 38.58 dB (6 min)', or the error of a failed job."""
    name = f"{row.get('seq_name')} {_point(row)}"
    if row.get("status") != rows.STATUS_OK:
        return f"failed {name}: {row.get('error')}"
    text = f"{name}: {row['rate_bpp']:.4f} bpp, {row['psnr_db']:.2f} dB"
    seconds = row.get("enc_time_s") or row.get("dec_time_s")
    if isinstance(seconds, (int, float)):
        text += f" ({describe_duration(seconds)})"
    return text


def _point(row: dict) -> str:
    if "lmbda" in row:
        return f"lambda {row['lmbda']}"
    return f"{row.get('codec')} q{naming.format_quality(row.get('quality'))}"
