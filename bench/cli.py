"""`coolchic bench`: encode (or decode) a dataset at several lambdas or qualities.

Examples:
  coolchic bench --dataset kodak --preset paper --workers 2 --out results/kodak
  coolchic bench --dataset kodak --dry-run        # the jobs and their estimated times
  coolchic bench --dataset kodak --images kodim03,kodim14 --lambdas 0.004,0.02 \\
      --preset smoke --out /tmp/quick
  coolchic bench --scheduler-address tcp://head:8786 --out results/kodak
  coolchic bench --dataset kodak --format v2 --out results/kodak-v2
  coolchic bench --codec jpeg --qualities 10,30,50,70,90 --out results/kodak-jpeg
  coolchic bench --decode-only ../shared/reference/coolchic-v1/bitstreams \\
      --dataset kodak --data-dir ../shared/datasets/kodak --out /tmp/v1
  coolchic bench --verify --out results/kodak
  coolchic bench --merge-from /mnt/a/kodak,/mnt/b/kodak --out results/kodak
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench import console, naming
from bench.defaults import AUTO, default_workers, resolve_devices, resolve_preset
from bench.estimate import PlanEstimate, estimate_plan
from bench.jobs import COOLCHIC, DEFAULT_FORMAT
from bench.progress import RunProgress
from bench.runner import PAPER_LAMBDAS, BenchSettings, Plan, Summary, execute, prepare
from bench.schedule import DEFAULT_JOBS_PER_GPU
from coolchic_cli.parsing import OneLineArgumentParser
from coolchic_core import formats
from coolchic_core.devices import is_cuda
from coolchic_core.errors import InputError
from coolchic_core.limits import threads_problem

PROG = "coolchic bench"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    data = parser.add_argument_group("what to encode")
    data.add_argument("--dataset", default="kodak", help="kodak, or a folder of images")
    data.add_argument(
        "--data-dir",
        help="folder holding the dataset (else $DATA_DIR, "
        "$COOLCHIC_DATA, ~/.cache/coolchic/datasets/<name>, then download); with --verify, "
        "where to find the original images if they moved",
    )
    data.add_argument("--images", help="comma list of image ids (default: all)")
    data.add_argument(
        "--codec",
        default=COOLCHIC,
        help="coolchic (default), or a classical codec: hevc, avif, jxl, webp, jpeg",
    )
    data.add_argument(
        "--lambdas",
        help=f"comma list (default: the paper's {','.join(map(str, PAPER_LAMBDAS))}; with "
        "--decode-only, every lambda of the folder)",
    )
    data.add_argument(
        "--qualities", help="comma list of qualities for --codec (default: its ladder)"
    )
    data.add_argument(
        "--preset",
        default=AUTO,
        help="auto (default: fast on CPUs, paper on CUDA GPUs), paper, medium, fast or smoke",
    )
    data.add_argument(
        "--format",
        default=DEFAULT_FORMAT,
        choices=formats.available(),
        help=f"bitstream format of the COOL-CHIC encodes (default {DEFAULT_FORMAT})",
    )
    data.add_argument("--seed", type=int, help="training seed of COOL-CHIC encodes (default 0)")
    data.add_argument(
        "--decode-only",
        type=Path,
        metavar="DIR",
        help="decode the <image>-lambda<digits>.bin files of DIR instead of encoding",
    )
    data.add_argument(
        "--no-download", action="store_true", help="never download a dataset missing locally"
    )
    run = parser.add_argument_group("where it runs")
    run.add_argument(
        "--out",
        type=Path,
        default=Path("results/kodak"),
        help="results folder (default results/kodak)",
    )
    run.add_argument(
        "--workers",
        type=int,
        help="local worker processes on CPU (default: one per core, one thread each; "
        "beside GPUs, with --devices all: 1)",
    )
    run.add_argument(
        "--devices",
        default="auto",
        help="auto (default: every GPU, else the CPU); cpu; all (every GPU and --workers CPU "
        "workers); or a list such as cuda:0,cuda:1[,cpu]: --jobs-per-gpu workers per GPU. "
        "With --scheduler-address: cpu (auto means cpu there) or cuda (encodes go to workers "
        "with a GPU resource)",
    )
    run.add_argument(
        "--jobs-per-gpu",
        type=int,
        default=DEFAULT_JOBS_PER_GPU,
        metavar="K",
        help=f"encodes at once on each GPU (default {DEFAULT_JOBS_PER_GPU}; "
        "the throughput of K = 1, 2, 4, 8 is not measured yet)",
    )
    run.add_argument(
        "--threads",
        type=int,
        help="torch threads per job (default: cores / workers locally, 1 on a Dask cluster)",
    )
    run.add_argument(
        "--scheduler-address",
        metavar="tcp://HOST:PORT",
        help="send the jobs to this Dask distributed scheduler",
    )
    run.add_argument("--force", action="store_true", help="redo jobs that already have results")
    run.add_argument(
        "--wait",
        action="store_true",
        help="if another bench is using --out, wait for it to end (default: refuse)",
    )
    run.add_argument(
        "--verify",
        action="store_true",
        help="decode every bitstream of --out and check rate and PSNR against its rows "
        "(exit 1 on a mismatch); runs no job",
    )
    run.add_argument(
        "--merge-from",
        metavar="DIRS",
        help="comma list of result folders of a split run: copy their verified rows and "
        "bitstreams into --out and rebuild its tables; runs no job",
    )
    run.add_argument("--save-decoded", action="store_true", help="also write decoded/<job>.png")
    run.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar: one plain line per finished job (for logs)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="list the jobs to run and to skip with their estimated times; write nothing "
        "under --out (a first estimate on a machine measures its encode speed and caches it "
        "in ~/.cache/coolchic/bench-speed.json)",
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    if args.qualities and args.codec == COOLCHIC:
        raise InputError("--qualities goes with a classical --codec; COOL-CHIC uses --lambdas")
    if args.lambdas and args.codec != COOLCHIC:
        raise InputError(f"--lambdas is for COOL-CHIC; {args.codec} takes --qualities")
    _check_training_options(args)
    devices = resolve_devices(args.devices, local=not args.scheduler_address)
    _check_run_options(args, devices)
    return BenchSettings(
        dataset=args.dataset,
        data_dir=args.data_dir,
        images=_split(args.images, "--images"),
        codec=args.codec,
        lambdas=_parse_list(args.lambdas, naming.parse_lambda, "--lambdas"),
        qualities=_parse_list(args.qualities, naming.parse_quality, "--qualities"),
        preset=resolve_preset(args.preset, devices)[0],
        bitstream_format=args.format,
        seed=0 if args.seed is None else args.seed,
        out=args.out,
        workers=default_workers(devices) if args.workers is None else args.workers,
        devices=devices,
        jobs_per_gpu=args.jobs_per_gpu,
        threads=args.threads,
        scheduler_address=args.scheduler_address,
        force=args.force,
        decode_only=args.decode_only,
        save_decoded=args.save_decoded,
        download=not (args.no_download or args.dry_run),  # a dry run writes nothing
        wait=args.wait,
    )


def _check_training_options(args: argparse.Namespace) -> None:
    """--preset and --seed choose how COOL-CHIC trains: refused where nothing trains."""
    trains = args.codec == COOLCHIC and args.decode_only is None
    given = [f"--{n}" for n in ("preset", "seed") if getattr(args, n) not in (None, AUTO)]
    if given and not trains:
        what = "--decode-only" if args.decode_only is not None else f"--codec {args.codec}"
        options = " and ".join(given)
        raise InputError(f"{options}: options of COOL-CHIC training; {what} trains nothing")


def _check_run_options(args: argparse.Namespace, devices: list[str]) -> None:
    """Options of where jobs run that these devices, this dataset or a dry run would ignore."""
    if args.scheduler_address and (
        args.workers is not None or args.jobs_per_gpu != DEFAULT_JOBS_PER_GPU
    ):
        raise InputError(
            "--workers and --jobs-per-gpu start local workers; with --scheduler-address the "
            "cluster's workers run the jobs"
        )
    if args.jobs_per_gpu != DEFAULT_JOBS_PER_GPU and not any(map(is_cuda, devices)):
        raise InputError(f"--jobs-per-gpu: no GPU among the devices ({','.join(devices)})")
    if args.wait and args.dry_run:
        raise InputError("--wait waits for another bench on --out; a dry run does not take --out")
    if args.data_dir is not None and _is_folder_dataset(args.dataset):
        raise InputError(
            f"--data-dir is where a named dataset lives; --dataset {args.dataset} is a folder"
        )


def _is_folder_dataset(name: str) -> bool:
    from datasets.registry import known_names

    return name not in known_names() and Path(name).expanduser().is_dir()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.getLogger("datasets.download").setLevel(logging.INFO)  # show downloads as they go
    logging.getLogger("bench.estimate").setLevel(logging.INFO)  # and speed measurements
    if args.merge_from is not None:
        _check_alone(args, parser, "merge_from")
    if args.verify:
        _check_alone(args, parser, "verify")
        from bench.verify import main_verify

        data_dir = None if args.data_dir is None else Path(args.data_dir)
        return main_verify(args.out, threads=args.threads, wait=args.wait, data_dir=data_dir)
    if args.merge_from is not None:
        from bench.merge import main_merge

        sources = [Path(s) for s in _split(args.merge_from, "--merge-from") or []]
        return main_merge(sources, args.out, wait=args.wait)
    settings = settings_from_args(args)
    # A dry run writes nothing: it neither takes --out's lock nor cleans it.
    plan = prepare(settings, take_lock=not args.dry_run, on_wait=_print_waiting)
    preset_note = resolve_preset(args.preset, settings.devices)[1]
    if args.dry_run:
        estimate, why_none = _estimate_or_none(plan)
        console.print_dry_run(plan, estimate, preset_note, why_none=why_none)
        return 0
    _print_plan(plan)
    estimate, why_none = _estimate_or_none(plan)
    if estimate is None:
        logging.getLogger(__name__).warning("no time estimate: %s", why_none)
    print(console.estimate_line(plan, estimate, preset_note), file=sys.stderr)
    summary = _run_with_progress(plan, estimate, show=not args.no_progress)
    _print_summary(plan, summary)
    return 0 if summary.ok else 1


def _estimate_or_none(plan: Plan) -> tuple[PlanEstimate | None, str]:
    """(the plan's time estimate, ""), or (None, why): a run goes on without one."""
    try:
        return estimate_plan(plan), ""
    except InputError as exc:
        return None, str(exc)


def _run_with_progress(plan: Plan, estimate: PlanEstimate | None, show: bool) -> Summary:
    if estimate is None:
        progress = RunProgress(len(plan.to_run))
    else:
        seconds = [job.seconds for job in estimate.to_run]
        progress = RunProgress(len(plan.to_run), seconds, estimate.n_slots)
    with console.ProgressBar(progress, show) as on_result:
        return execute(plan, on_result)


def _print_plan(plan: Plan) -> None:
    what = "decode" if plan.settings.decode_only else plan.settings.codec
    print(
        f"{PROG}: {len(plan.jobs)} {what} job(s) on {plan.dataset.name} "
        f"({len(plan.dataset.images)} image(s) from {plan.dataset.root}); "
        f"{len(plan.skipped)} already done, {len(plan.to_run)} to run on "
        f"{plan.pool.describe()}",
        file=sys.stderr,
    )
    _print_reruns(plan)
    if plan.removed_temp_files:
        print(
            f"{PROG}: removed {plan.removed_temp_files} temporary file(s) of an interrupted run",
            file=sys.stderr,
        )


def _print_reruns(plan: Plan) -> None:
    for job_id, reason in plan.rerun_reasons.items():
        print(f"  {job_id}: {reason}; rerunning", file=sys.stderr)


def _print_waiting(holder: str) -> None:
    print(f"{PROG}: --out is in use by another bench ({holder}); waiting", file=sys.stderr)


def _print_summary(plan: Plan, summary: Summary) -> None:
    print(
        f"{PROG}: done {summary.done}, skipped {summary.skipped}, failed "
        f"{len(summary.failed)} in {summary.wall_time_s:.1f} s; results in "
        f"{plan.settings.out}",
        file=sys.stderr,
    )
    _print_reruns(plan)
    for job_id, error in summary.failed:
        print(
            f"  failed {job_id}: {error} (log: {plan.settings.out / 'logs' / job_id}.log)",
            file=sys.stderr,
        )
    if summary.collected is not None and not summary.collected.average.empty:
        print(summary.collected.average.to_string(index=False))


# What --merge-from and --verify use beside --out; every other option is refused with them.
_ALONE_OPTIONS = {
    "merge_from": ("merge_from", "out", "wait", "no_progress"),
    "verify": ("verify", "out", "wait", "no_progress", "threads", "data_dir"),
}


def _check_alone(args: argparse.Namespace, parser: argparse.ArgumentParser, mode: str) -> None:
    """InputError if `mode` (merge_from, verify) comes with an option it would ignore."""
    given = [
        name
        for name, value in vars(args).items()
        if name not in _ALONE_OPTIONS[mode] and value != parser.get_default(name)
    ]
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        flag = "--" + mode.replace("_", "-")
        raise InputError(f"{flag} runs alone, without the options of a run ({options})")
    problem = threads_problem(args.threads)
    if problem:
        raise InputError(problem)


def _split(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise InputError(f"{option} is empty")
    return items


def _parse_list(text, parse, option):
    items = _split(text, option)
    return None if items is None else [parse(item) for item in items]
