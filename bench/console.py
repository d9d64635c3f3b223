"""What `coolchic bench` prints: the estimate, the dry-run listing, the progress, outcomes.

The only bench module that draws (tqdm) or prints; the numbers come from
bench.estimate and bench.progress.
"""

from __future__ import annotations

import sys
import threading

from bench.estimate import PlanEstimate
from bench.progress import RunProgress, describe_duration, finished_job_line

PROG = "coolchic bench"
REFRESH_S = 5.0  # how often the bar's time left is redrawn between jobs
BAR_FORMAT = (
    "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} jobs [{elapsed}{postfix}]"  # postfix: ", <left>"
)


def print_outcome(headline: str, details: list[str]) -> None:
    """A command's summary line, then one indented line per problem, on stderr."""
    print(headline, file=sys.stderr)
    for detail in details:
        print(f"  {detail}", file=sys.stderr)


def estimate_line(plan, estimate: PlanEstimate | None, preset_note: str = "") -> str:
    """One line: jobs to run, the preset and the estimated wall time on this pool."""
    what = _what(plan, preset_note)
    head = f"{PROG}: {len(plan.to_run)} {what} job(s) to run, {len(plan.skipped)} skipped"
    if estimate is None:
        return f"{head}; no time estimate"
    if estimate.wall_time_s is None:
        return (
            f"{head}; about {describe_duration(estimate.job_time_s)} of job time "
            "(wall time: that divided by the cluster's parallel jobs)"
        )
    return (
        f"{head}; estimated wall time about {describe_duration(estimate.wall_time_s)} "
        f"on {estimate.n_slots} worker slot(s) ({_speeds(estimate)})"
    )


def _what(plan, preset_note: str) -> str:
    settings = plan.settings
    if settings.decode_only:
        return "decode"
    if plan.to_run and plan.to_run[0].preset:
        return f"{settings.codec} (preset {settings.preset}{preset_note})"
    return settings.codec


def _speeds(estimate: PlanEstimate) -> str:
    if not estimate.speeds:
        return "timed once on this machine"
    parts = [
        f"{speed.ms_per_iteration:.1f} ms/iteration at {width}x{height}"
        for (height, width), speed in sorted(estimate.speeds.items())
    ]
    return ", ".join(parts) + " measured"


def print_dry_run(
    plan, estimate: PlanEstimate | None, preset_note: str = "", file=None, why_none: str = ""
) -> None:
    """Every job of the plan, run or skip, with its estimate; then the totals."""
    file = file or sys.stdout
    by_id = {job.job_id: job for job in estimate.to_run} if estimate else {}
    skipped = {job.job_id for job in plan.skipped}
    print(f"{PROG} --dry-run: nothing is written to {plan.settings.out}", file=file)
    width = max((len(job.job_id) for job in plan.jobs), default=0)
    for job in plan.jobs:
        if job.job_id in skipped:
            print(f"  skip  {job.job_id:<{width}}  done, same configuration", file=file)
            continue
        entry = by_id.get(job.job_id)
        duration = describe_duration(entry.seconds if entry else None)
        detail = entry.detail if entry else ""
        print(f"  run   {job.job_id:<{width}}  {duration:>12}  {detail}".rstrip(), file=file)
    print(estimate_line(plan, estimate, preset_note), file=file)
    if estimate is None:
        print(f"  no estimate: {why_none}", file=file)
        return
    if estimate.to_run:
        print(
            f"  total job time about {describe_duration(estimate.job_time_s)}; "
            f"speeds {estimate.speed_source}; times are estimates",
            file=file,
        )
    for (height, width_px), speed in sorted(estimate.speeds.items()):
        print(
            f"  {width_px}x{height}: {speed.ms_per_iteration:.1f} ms/iteration, "
            f"q-step search {speed.quantize_s:.1f} s, decode {speed.decode_s:.2f} s",
            file=file,
        )


class ProgressBar:
    """`on_result` for bench.runner.execute: one bar for the run, one line per finished job.

    With `show=False` (--no-progress) there is no bar: each finished job is
    one plain line with the count and the time left, for logs.
    """

    def __init__(self, progress: RunProgress, show: bool, file=None):
        self.progress = progress
        self.show = show and progress.total > 0
        self.file = file or sys.stderr
        self.bar = None
        self._stop = threading.Event()
        self._ticker = None

    def __enter__(self) -> ProgressBar:
        if self.show:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.progress.total,
                unit="job",
                bar_format=BAR_FORMAT,
                dynamic_ncols=True,
                file=self.file,
            )
            self._refresh()
            self._ticker = threading.Thread(target=self._tick, name="bench-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.bar is not None:
            self.bar.close()

    def __call__(self, row: dict) -> None:
        self.progress.job_finished(row)
        line = f"[{self.progress.done}/{self.progress.total}] {finished_job_line(row)}"
        if self.bar is None:
            print(f"{line}; {self._time_left()}", file=self.file, flush=True)
            return
        self.bar.write(line, file=self.file)
        self.bar.update(1)
        self._refresh()

    def _time_left(self) -> str:
        left = self.progress.time_left_s()
        if left is None:
            return "time left unknown"
        if left == 0.0:
            return "finishing" if self.progress.done < self.progress.total else "done"
        return f"about {describe_duration(left)} left"

    def _refresh(self) -> None:
        self.bar.set_postfix_str(self._time_left())

    def _tick(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self._refresh()
