"""Time training iterations (forward, backward, optimizer step) on one image.

`python -m bench.encode_speed --image kodim01.png [--threads 2] [--impl cpp] [--device cuda:0]
[--format v2] [--profile]` (the optimizer is the "fast" preset's: Adam for the latents, SOAP for the
MLPs) prints the time of each run, the median, the peak memory, and last
`encode_ms_per_iteration=<ms>`. The architecture is the default model of `--format`
(v1: the paper's, `ModelConfig()`; v2: `V2Config()`), changed by each `--model
FIELD=VALUE` as in `bench.recipe_ablation`; the proxy is the "fast" preset's
soft rounding. On the CPU it also prints `cpu_ms_per_iteration=`, the process's CPU time
(all its threads) per iteration: with one thread, what to compare when other jobs share
the cores (the wall time then grows with their load).
`--impl compile` runs the PyTorch model under torch.compile; its compile
time shows in `setup_and_first_iteration_s`.

On CUDA both steps are timed: eager PyTorch, then the step replayed as a CUDA
graph (`coolchic_core.cuda_graphs`, what training uses there), each after its
warm-up; `encode_ms_per_iteration_eager=` and `..._graph=` are printed, and
`encode_ms_per_iteration=` is the graph's (the eager one's if the capture failed).

Under CPU contention (a shared 2-core machine) libgomp's spinning threads make
a 2-thread iteration about 5x slower (measured 230-360 ms instead of 50 ms),
so `main` sets OMP_WAIT_POLICY=PASSIVE unless it is already set; it only
takes effect if torch was not imported yet, hence the imports inside `main`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import resource
import statistics
import sys
import time

from coolchic_cli.parsing import OneLineArgumentParser


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m bench.encode_speed", description=__doc__)
    parser.add_argument("--image", required=True, help="image file (768x512 for the target)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--n-itr", type=int, default=20, help="iterations per timed run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    parser.add_argument(
        "--impl",
        choices=("auto", "cpp", "torch", "compile"),
        default="auto",
        help="fused C++ kernels, PyTorch, or PyTorch under torch.compile",
    )
    parser.add_argument(
        "--proxy",
        choices=("softround", "noise", "ste"),
        default="softround",
        help="quantization proxy of the timed iterations",
    )
    parser.add_argument("--lmbda", type=float, default=1e-3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile --n-itr more iterations (torch.profiler; eager on CUDA) and print "
        "the operations that took the most time (the peak memory then includes the profiler's)",
    )
    parser.add_argument(
        "--format",
        default="v1",
        help="bitstream format whose default model is trained: v1 (default) or v2",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change of the format's default model, as in bench.recipe_ablation (repeatable)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), auto, cuda or cuda:N",
    )
    return parser


def _session(args, image, device: str, model_config):
    import torch

    from coolchic_core.presets import get_preset
    from coolchic_core.training import TrainingSession, image_to_target, select_kernels

    impl = "torch" if args.impl == "compile" else args.impl
    cfg = dataclasses.replace(get_preset("fast"), impl=impl)
    generator = torch.Generator().manual_seed(0)
    target = image_to_target(image).to(device)
    session = TrainingSession(target, args.lmbda, model_config, cfg, generator, None)
    session.kernels = select_kernels(cfg, model_config, device)
    return session, session.new_model(*image.shape[:2])


def _timed(session, model, optimizer, proxy, n_itr) -> float:
    _synchronize(session.device)
    start = time.perf_counter()
    for _ in range(n_itr):
        session.step(model, optimizer, proxy, 1e-3, "bench")
    _synchronize(session.device)
    return (time.perf_counter() - start) * 1000.0 / max(n_itr, 1)


def _copy(args, model):
    """A copy of `model` with the same (unpicklable) kernels, under torch.compile if asked."""
    import torch

    kernels, model.kernels = model.kernels, None
    twin = copy.deepcopy(model)
    model.kernels = twin.kernels = kernels
    if args.impl == "compile":
        twin.forward = torch.compile(twin.forward)
    return twin


def _synchronize(device: str) -> None:
    """Wait for the GPU's queued work, so that the host clock times it (no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def _time_step(args, session, model, optimizer, proxy) -> list[float]:
    """Warm-up iterations (the graph's capture among them), then the timed runs."""
    _timed(session, model, optimizer, proxy, args.warmup)
    return [_timed(session, model, optimizer, proxy, args.n_itr) for _ in range(args.runs)]


def _cpu_runs(args, session, model, optimizer, proxy) -> tuple[list[float], list[float]]:
    """Warm-up, then the timed runs: wall and process CPU ms per iteration of each."""
    _timed(session, model, optimizer, proxy, args.warmup)
    wall, cpu = [], []
    for _ in range(args.runs):
        start = time.process_time()
        wall.append(_timed(session, model, optimizer, proxy, args.n_itr))
        cpu.append((time.process_time() - start) * 1000.0 / max(args.n_itr, 1))
    return wall, cpu


def _profile(args, session, model, optimizer, proxy) -> str:
    """The table of the operations of --n-itr iterations, most time first (eager on CUDA)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = session.device.startswith("cuda")
    session.graphs = None
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    _timed(session, model, optimizer, proxy, args.warmup)
    with profile(activities=activities) as prof:
        _timed(session, model, optimizer, proxy, args.n_itr)
    sort_by = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort_by, row_limit=12)


def _cuda_runs(args, session, model, proxy) -> dict[str, list[float]]:
    """On CUDA: the eager step, then the CUDA graph step, from the same starting model."""
    from coolchic_core.cuda_graphs import StepGraphs
    from coolchic_core.training import make_optimizer

    runs = {}
    for name in ("eager", "graph"):
        trained = _copy(args, model)
        session.graphs = StepGraphs(session) if name == "graph" else None
        runs[name] = _time_step(args, session, trained, make_optimizer(trained, 1e-3), proxy)
        if session.graphs is not None and session.graphs.failed is not None:
            print(f"cuda_graph_failed={session.graphs.failed}")
            del runs[name]
    return runs


def _print_cuda(runs: dict[str, list[float]]) -> float:
    for name, values in runs.items():
        print(f"runs_ms_per_iteration_{name}=" + ",".join(f"{r:.3f}" for r in values))
        print(f"encode_ms_per_iteration_{name}={statistics.median(values):.3f}")
    return statistics.median(runs.get("graph", runs["eager"]))


def _check_counts(args) -> None:
    """InputError for a count or lambda that would time nothing or fail half-way."""
    from coolchic_core.errors import InputError
    from coolchic_core.limits import threads_problem

    problem = threads_problem(args.threads)
    if problem:
        raise InputError(problem)
    for option, value, least in (("--n-itr", args.n_itr, 1), ("--runs", args.runs, 1)):
        if value < least:
            raise InputError(f"{option} must be at least {least}, got {value}")
    if args.warmup < 0:
        raise InputError(f"--warmup must be >= 0, got {args.warmup}")
    if not 0 < args.lmbda < 1:
        raise InputError(f"--lmbda must be between 0 and 1, got {args.lmbda}")


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print one line per setting, the runs, the median and peak memory."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    from bench.recipe_ablation import model_config as changed_model
    from coolchic_core import devices
    from coolchic_core.errors import InputError
    from coolchic_core.image_io import read_image, rgb8_to_float
    from coolchic_core.model.coolchic import Proxy
    from coolchic_core.optimizers import make_optimizer

    try:
        _check_counts(args)
        device = devices.resolve_device(args.device)
        model_config = changed_model(args.format, args.model)
        image = rgb8_to_float(read_image(args.image))
    except (InputError, TypeError, ValueError) as exc:
        print(f"bench.encode_speed: error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    with devices.training_context(device):
        setup_start = time.perf_counter()
        session, model = _session(args, image, device, model_config)
        proxy = Proxy(args.proxy)
        first = _copy(args, model)
        first_ms = _timed(
            session, first, make_optimizer(first, 1e-3, session.cfg, args.lmbda), proxy, 1
        )
        setup_s = time.perf_counter() - setup_start
        if devices.is_cuda(device):
            cuda_runs = _cuda_runs(args, session, model, proxy)
        else:
            timed = _copy(args, model)
            runs, cpu_runs = _cpu_runs(
                args, session, timed, make_optimizer(timed, 1e-3, session.cfg, args.lmbda), proxy
            )
        if args.profile:
            profiled = _copy(args, model)
            optimizer = make_optimizer(profiled, 1e-3, session.cfg, args.lmbda)
            profile_table = _profile(args, session, profiled, optimizer, proxy)
    impl = "cpp" if session.kernels is not None else "torch"
    compiled = " (torch.compile)" if args.impl == "compile" else ""
    size = f"{image.shape[1]}x{image.shape[0]}"
    print(f"image={args.image} size={size} threads={args.threads} format={args.format}")
    if args.model:
        print("model_changes=" + ";".join(args.model).replace(" ", ""))
    print(f"device={device} device_name={devices.device_name(device)}")
    wait_policy = os.environ.get("OMP_WAIT_POLICY")
    print(f"impl={impl}{compiled} proxy={args.proxy} OMP_WAIT_POLICY={wait_policy}")
    print(f"setup_and_first_iteration_s={setup_s:.1f} first_iteration_ms={first_ms:.0f}")
    if devices.is_cuda(device):
        median_ms = _print_cuda(cuda_runs)
        print(f"peak_gpu_memory_mb={torch.cuda.max_memory_allocated(device) / 2**20:.0f}")
    else:
        print("runs_ms_per_iteration=" + ",".join(f"{r:.1f}" for r in runs))
        print("runs_cpu_ms_per_iteration=" + ",".join(f"{r:.1f}" for r in cpu_runs))
        print(f"cpu_ms_per_iteration={statistics.median(cpu_runs):.3f}")
        median_ms = statistics.median(runs)
    if args.profile:
        print(profile_table)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak_memory_mb={peak_mb:.0f}")
    print(f"encode_ms_per_iteration={median_ms:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
