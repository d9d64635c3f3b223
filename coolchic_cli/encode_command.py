"""`coolchic encode`: the original encoder's arguments, plus --preset, --seed and --threads."""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from pathlib import Path

from coolchic_cli.codec import check_png_output
from coolchic_cli.parsing import OneLineArgumentParser
from coolchic_core.atomic_io import atomic_write_all, check_output_path
from coolchic_core.devices import device_name, resolve_device
from coolchic_core.errors import InputError
from coolchic_core.limits import (
    MAX_LATENT_GRIDS,
    MAX_N_CTX_ROWCOL,
    seed_problem,
    threads_problem,
)
from coolchic_core.presets import get_preset


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip() != "")
    except ValueError:
        message = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return values


def _format_names() -> list[str]:
    from coolchic_core import formats

    return formats.available()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="coolchic encode",
        description="Overfit COOL-CHIC to one image and write its bitstream.",
    )
    add = parser.add_argument
    add("-i", "--input", required=True, help="image to compress (anything Pillow reads)")
    add("-o", "--output", required=True, help="where to write the bitstream")
    add(
        "--device",
        default="auto",
        help="auto (default: the first CUDA GPU, else the CPU), cpu, cuda or cuda:N",
    )
    add(
        "--cuda_graphs",
        choices=("auto", "off"),
        default="auto",
        help="on CUDA, replay the training step as a CUDA graph (auto, default) or not (off)",
    )
    add("--decoded_img_path", help="write the image decoded from the bitstream here (PNG)")
    add("--model_save_path", help="save the trained model here (torch state_dict, .pt)")
    add("--enc_results_path", help="write the encoder results file here")
    add("--lmbda", type=float, default=1e-3, help="rate constraint: J = MSE + lmbda * rate")
    add(
        "--format",
        default="v1",
        choices=_format_names(),
        help="bitstream format (default v1; `coolchic info` tells a file's format)",
    )
    add("--preset", default="fast", help="paper, medium, fast (default) or smoke")
    add("--start_lr", type=float, help="initial learning rate (default: the preset's)")
    add("--n_itr", type=int, help="maximum iterations of the main phase (default: preset's)")
    add("--n_trial_warmup", type=int, help="warm-up trials (default: the preset's)")
    add(
        "--layers_synthesis",
        type=_int_list,
        help="v1: hidden layer widths of the synthesis (default 12,12)",
    )
    add("--layers_arm", type=_int_list, help="v1: hidden layer widths of the ARM (default 12,12)")
    add("--n_ctx_rowcol", type=int, help="v1: ARM context rows/columns (default 2)")
    add("--latent_n_grids", type=int, help="v1: number of latent grids (default 7)")
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


OUTPUT_OPTIONS = ("output", "decoded_img_path", "model_save_path", "enc_results_path")


def _check_args(args) -> None:
    if not (math.isfinite(args.lmbda) and args.lmbda > 0):
        raise InputError(f"--lmbda must be a positive number, got {args.lmbda}")
    if args.start_lr is not None and not (math.isfinite(args.start_lr) and args.start_lr > 0):
        raise InputError(f"--start_lr must be a positive number, got {args.start_lr}")
    problem = threads_problem(args.threads) or seed_problem(args.seed)
    if problem:
        raise InputError(problem)
    get_preset(args.preset)
    _check_architecture_options(args)
    args.device = resolve_device(args.device)
    _check_outputs(args)


ARCHITECTURE_OPTIONS = ("layers_synthesis", "layers_arm", "n_ctx_rowcol", "latent_n_grids")


def _check_architecture_options(args) -> None:
    given = [name for name in ARCHITECTURE_OPTIONS if getattr(args, name) is not None]
    if args.format != "v1" and given:
        raise InputError(
            f"--{given[0]} describes a v1 architecture; format {args.format} has its own"
        )
    if args.latent_n_grids is not None and not 1 <= args.latent_n_grids <= MAX_LATENT_GRIDS:
        raise InputError(f"--latent_n_grids must be between 1 and {MAX_LATENT_GRIDS}")
    if args.n_ctx_rowcol is not None and not 1 <= args.n_ctx_rowcol <= MAX_N_CTX_ROWCOL:
        raise InputError(f"--n_ctx_rowcol must be between 1 and {MAX_N_CTX_ROWCOL}")


def _model_config(args):
    """The v1 architecture from the options (the paper's where unset); None for other formats."""
    if args.format != "v1":
        return None
    from coolchic_core.presets import ModelConfig

    given = {name: getattr(args, name) for name in ARCHITECTURE_OPTIONS}
    return ModelConfig(**{name: value for name, value in given.items() if value is not None})


def _check_outputs(args) -> None:
    """Every output writable, none the input nor another output: checked before training."""
    seen = {os.path.realpath(args.input): "-i/--input"}
    for name in OUTPUT_OPTIONS:
        value = getattr(args, name)
        if value is None:
            continue
        if name == "decoded_img_path":
            check_png_output(Path(value), "--decoded_img_path")
        else:
            check_output_path(Path(value))
        real = os.path.realpath(value)
        if real in seen:
            raise InputError(f"--{name} {value} is the same file as {seen[real]}")
        seen[real] = f"--{name}"


class _ProgressBar:
    """A tqdm bar created at the first report (the planned count is known then)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, progress) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=progress.n_iterations, unit="itr", dynamic_ncols=True)
        self.bar.total = max(progress.n_iterations, progress.iteration)
        self.bar.n = progress.iteration
        self.bar.set_postfix_str(
            f"{progress.phase} loss={progress.loss:.5f} "
            f"psnr={progress.psnr_db:.2f}dB rate={progress.rate_bpp:.4f}bpp",
            refresh=False,
        )
        self.bar.update(0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def results_text(metrics: dict) -> str:
    """The original's results file: a header line of field names, then one line of values."""
    names = list(metrics)
    return ",".join(names) + "\n" + ",".join(f"{metrics[n]}" for n in names) + "\n"


def _model_bytes(fitted) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in fitted.state_dict.items()}, buffer)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check_args(args)
    from coolchic_core import encode
    from coolchic_core.image_io import read_image

    image = read_image(args.input)
    model_config = _model_config(args)
    if not args.quiet:
        where = f"{args.device} ({device_name(args.device)})"
        print(f"coolchic encode: training on {where}", file=sys.stderr)
    bar = None if args.quiet else _ProgressBar()
    try:
        result = encode(
            image,
            args.lmbda,
            preset=args.preset,
            seed=args.seed,
            device=args.device,
            threads=args.threads,
            progress=bar,
            model_config=model_config,
            n_itr=args.n_itr,
            start_lr=args.start_lr,
            n_trial_warmup=args.n_trial_warmup,
            format=args.format,
            cuda_graphs=args.cuda_graphs,
        )
    finally:
        if bar is not None:
            bar.close()
    _write_outputs(args, result)
    print(results_text(result.metrics), end="")
    return 0


def _write_outputs(args, result) -> None:
    """Write every requested file, all or none: a failure leaves the earlier files as they were."""
    from coolchic_core.image_io import encode_png

    contents = {
        "output": lambda: result.bitstream,
        "decoded_img_path": lambda: encode_png(result.decoded.rgb8),
        "model_save_path": lambda: _model_bytes(result.fit),
        "enc_results_path": lambda: results_text(result.metrics).encode("utf-8"),
    }
    chosen = {name: getattr(args, name) for name in OUTPUT_OPTIONS}
    atomic_write_all({Path(path): contents[name]() for name, path in chosen.items() if path})
