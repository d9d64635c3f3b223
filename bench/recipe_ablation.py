"""Screen training-recipe variants on centred crops: fit() estimates, BD-rate against a reference.

`python -m bench.recipe_ablation --name soap --set mlp_optimizer=soap --set n_itr=2700
--images kodim02,kodim05,kodim12 --out DIR` trains one model per image and lambda
(the paper's 4 by default) on a centred crop (`--crop`, 256 px) with the preset
(`--preset`, fast) changed by each `--set FIELD=VALUE`, the model of `--format`
(v1 by default) changed by each `--model FIELD=VALUE` (e.g. `--format v2 --model
layers_arm=(24,24)`), and appends one JSON line per fit to DIR/ablation.jsonl
(resumes: fits already there are skipped).
`--compare REF` prints, for every variant in DIR, the per-image BD-rate (PCHIP) of
its estimated curve (latent rate under the float ARM, PSNR with rounded latents)
against variant REF's, and the relative change of the loss J at each lambda.

A crop costs about a sixth of a 768x512 fit per iteration; it ranks recipes, the
real rate and PSNR of a variant come from `coolchic bench` on whole images.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from coolchic_cli.parsing import OneLineArgumentParser

PAPER_LAMBDAS = (0.0001, 0.0005, 0.004, 0.02)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m bench.recipe_ablation", description=__doc__)
    parser.add_argument("--out", required=True, help="folder of ablation.jsonl")
    parser.add_argument("--name", help="variant name (required unless only --compare)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--format", default="v1", help="bitstream format whose model is trained")
    parser.add_argument(
        "--model", action="append", default=[], metavar="FIELD=VALUE", help="model change"
    )
    parser.add_argument("--images", default="kodim02,kodim05,kodim12")
    parser.add_argument("--data-dir", default="../shared/datasets/kodak")
    parser.add_argument("--lambdas", default=",".join(map(str, PAPER_LAMBDAS)))
    parser.add_argument("--crop", type=int, default=256, help="side of the centred crop (px)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", metavar="REF", help="print BD-rates against variant REF")
    return parser


def parse_setting(text: str) -> tuple[str, object]:
    """'FIELD=VALUE' with VALUE a Python literal (number, string, tuple), else a string."""
    field, sep, value = text.partition("=")
    if not sep or not field:
        raise ValueError(f"--set wants FIELD=VALUE, got {text!r}")
    try:
        return field, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return field, value


def _config(args):
    from coolchic_core.presets import get_preset

    changes = dict(parse_setting(text) for text in args.set)
    return dataclasses.replace(get_preset(args.preset), **changes)


def _model_value(field: str, value):
    """v2's `synthesis` as a tuple of (out_channels, kernel_size, residual, relu) tuples."""
    if field == "synthesis" and isinstance(value, tuple):
        from coolchic_core.formats.v2.architecture import ConvLayer

        return tuple(ConvLayer(*layer) for layer in value)
    return value


def model_config(format_name: str, settings: list[str]):
    """The default model of `format_name` changed by each 'FIELD=VALUE' of `settings`."""
    from coolchic_core import formats

    changes = {f: _model_value(f, v) for f, v in (parse_setting(t) for t in settings)}
    return dataclasses.replace(formats.get(format_name).default_model_config(), **changes)


def _done(path: Path) -> set[tuple]:
    """The (variant, image, lambda, crop) of the fits in `path`; a torn last line is skipped."""
    if not path.is_file():
        return set()
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # an interrupted append: that fit runs again
    return {(r["variant"], r["image"], r["lmbda"], r["crop"]) for r in rows}


def _inputs(args) -> tuple[list[Path], list[float]]:
    """The image files and lambdas of a run, all checked before the first fit."""
    from coolchic_core.errors import InputError
    from coolchic_core.limits import threads_problem

    problem = threads_problem(args.threads)
    if problem:
        raise InputError(problem)
    paths = [Path(args.data_dir) / f"{name}.png" for name in args.images.split(",")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"no such image file: {', '.join(missing)}")
    try:
        lambdas = [float(x) for x in args.lambdas.split(",")]
    except ValueError:
        raise InputError(f"--lambdas wants numbers, got {args.lambdas!r}") from None
    if not all(0 < lmbda < 1 for lmbda in lambdas):
        raise InputError(f"--lambdas must be between 0 and 1, got {args.lambdas}")
    return paths, lambdas


def _crop(path: Path, side: int):
    from coolchic_core.image_io import read_image, rgb8_to_float

    image = rgb8_to_float(read_image(path))
    height, width = image.shape[:2]
    top, left = max((height - side) // 2, 0), max((width - side) // 2, 0)
    return image[top : top + side, left : left + side].copy()


def run_variant(args) -> None:
    """Fit every (image, lambda) of `args` not yet in ablation.jsonl and append its row."""
    import torch

    from coolchic_core.training import fit

    paths, lambdas = _inputs(args)
    config, architecture = _config(args), model_config(args.format, args.model)
    torch.set_num_threads(args.threads)
    out = Path(args.out) / "ablation.jsonl"
    done = _done(out)
    for path in paths:
        crop = _crop(path, args.crop)
        for lmbda in lambdas:
            if (args.name, path.stem, lmbda, args.crop) in done:
                continue
            start = time.perf_counter()
            result = fit(crop, lmbda, architecture, config, seed=args.seed)
            row = _row(args, path.stem, lmbda, result, time.perf_counter() - start)
            with out.open("a") as stream:
                stream.write(json.dumps(row) + "\n")


def _row(args, image_id: str, lmbda: float, result, fit_time_s: float) -> dict:
    return {
        "variant": args.name,
        "image": image_id,
        "lmbda": lmbda,
        "crop": args.crop,
        "rate_bpp": result.est_rate_latent_bpp,
        "psnr_db": result.est_psnr_db,
        "loss": result.est_loss,
        "n_iterations": result.n_iterations,
        "fit_time_s": fit_time_s,
        "ms_per_iteration": 1e3 * result.training_time_s / max(result.n_iterations, 1),
        "settings": args.set,
        "format": args.format,
        "model": args.model,
        "n_network_parameters": _n_parameters(result),
        # Finest grid first: a grid at 0 carries nothing (all its latents are zero).
        "latent_nonzero_fraction": [float((y != 0).mean()) for y in result.latents_int],
    }


def _n_parameters(result) -> int:
    """Weights and biases of the trained synthesis and ARM (what the model changes)."""
    pairs = [*result.synthesis_layers, *result.arm_layers]
    return int(sum(w.size + b.size for w, b in pairs))


def _curves(out: Path) -> dict[tuple[str, str], dict[float, dict]]:
    curves: dict[tuple[str, str], dict[float, dict]] = defaultdict(dict)
    for line in (out / "ablation.jsonl").read_text().splitlines():
        row = json.loads(line)
        curves[(row["variant"], row["image"])][row["lmbda"]] = row
    return curves


def _bd_rate(ref: dict, curve: dict, lambdas: list[float]) -> float:
    from reports.bd_rate import bd_rate_pct
    from reports.errors import ReportError

    try:
        return bd_rate_pct(
            [ref[x]["rate_bpp"] for x in lambdas],
            [ref[x]["psnr_db"] for x in lambdas],
            [curve[x]["rate_bpp"] for x in lambdas],
            [curve[x]["psnr_db"] for x in lambdas],
        )
    except ReportError:  # a curve that is not monotone has no BD-rate
        return float("nan")


def compare(out: Path, reference: str) -> list[str]:
    """One line per variant: per-image BD-rate and J changes vs `reference`, ms/iteration."""
    curves = _curves(out)
    lines = []
    for variant in sorted({v for v, _ in curves}):
        cells, bds, speeds = [], [], []
        for (name, image_id), curve in sorted(curves.items()):
            ref = curves.get((reference, image_id), {})
            lambdas = sorted(set(curve) & set(ref))
            if name != variant or len(lambdas) < 4:
                continue
            bds.append(_bd_rate(ref, curve, lambdas))
            d_loss = " ".join(
                f"{100 * (curve[x]['loss'] / ref[x]['loss'] - 1):+.1f}" for x in lambdas
            )
            cells.append(f"{image_id} {bds[-1]:+.2f}% (dJ {d_loss})")
            speeds += [curve[x]["ms_per_iteration"] for x in lambdas]
        if cells:
            speed = f"[{statistics.median(speeds):.1f} ms/it]"
            lines.append(
                f"{variant}: mean {statistics.fmean(bds):+.2f}%  {'  '.join(cells)}  {speed}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not (args.name or args.compare):
        parser.error("give --name (run a variant), --compare REF, or both")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from coolchic_core.errors import CoolChicError

    try:
        if args.name:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            run_variant(args)
        if args.compare:
            print("\n".join(compare(Path(args.out), args.compare)))
    except (CoolChicError, ValueError, TypeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
