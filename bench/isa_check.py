"""`python -m bench.isa_check`: does this CPU decode latents exactly at every level?

The shipped latent decoder is built for at most x86-64-v3 (coolchic_core/kernels/
__init__.py). This tool builds it for every instruction set level this CPU runs,
the levels above that cap included, and decodes the latents of v1 bitstreams (by
default the published ones in ../shared) with each build and with the Python
decoder (numpy and constriction), which is the reference. It prints one line per
level: how many bitstreams decode to the reference's latents, and the names of
the others. Exit 0 when every level agrees on every bitstream, 1 otherwise, 2 on
bad input. Run it on a machine where a decode fails or differs, to tell an
instruction-set problem from a bitstream problem.

    python -m bench.isa_check [--bitstreams DIR] [--pattern GLOB] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from pathlib import Path

import numpy as np

DEFAULT_BITSTREAMS = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "coolchic-v1" / "bitstreams"
)


def levels_this_cpu_runs() -> list[str]:
    """Instruction set levels, best first, whose code this CPU runs (`generic` last)."""
    from coolchic_core.kernels import build

    flags = build.read_cpu_flags()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return [build.GENERIC.name]
    runnable = [level.name for level in build.ISA_LEVELS if level.required_flags <= flags]
    return [*runnable, build.GENERIC.name]


def latent_inputs(data: bytes):
    """(segments, shapes, n_ctx_rowcol, arm, bound) of a v1 bitstream's latents."""
    from coolchic_core.arm_fixed_point import FixedPointArm
    from coolchic_core.formats.v1 import segments as v1
    from coolchic_core.grids import grid_shapes

    parsed = v1.parse(data)
    header = parsed.header
    arm = FixedPointArm(v1.decode_mlps(parsed)[0], max_abs_input=header.ac_max_val_latent + 1)
    shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
    return parsed.latent_segments, shapes, header.n_ctx_rowcol, arm, header.ac_max_val_latent


def reference_latents(inputs) -> list[np.ndarray] | None:
    """The Python decoder's latents, or None when it refuses the streams."""
    from coolchic_core.errors import BitstreamError
    from coolchic_core.latent_decoding import decode_latents_numpy

    try:
        return decode_latents_numpy(*inputs)
    except BitstreamError:
        return None


def latent_decoder_for(level: str):
    """The native latent decoder module built for exactly `level` (no cap)."""
    from coolchic_core.kernels import LATENT_DECODER
    from coolchic_core.kernels.build import load_kernel

    return load_kernel(dataclasses.replace(LATENT_DECODER, max_isa=level))


def differing(module, cases: dict[str, tuple]) -> dict[str, list[int]]:
    """Case name -> the thread counts (1, 2) at which `module` decodes its latents
    otherwise than the reference; only the cases that differ."""
    from coolchic_core.errors import BitstreamError
    from coolchic_core.native_decoding import NativeDecoder, decode_latents

    native = NativeDecoder(module, None)
    found: dict[str, list[int]] = {}
    for name, (inputs, expected) in cases.items():
        for threads in (1, 2):
            try:
                ours = decode_latents(native, *inputs, parallel=threads == 2)
            except BitstreamError:
                ours = None
            same = (ours is None) == (expected is None) and (
                ours is None
                or all(np.array_equal(a, b) for a, b in zip(ours, expected, strict=True))
            )
            if not same:
                found.setdefault(name, []).append(threads)
    return found


def load_cases(paths: list[Path]) -> dict[str, tuple]:
    """name -> (latent inputs, reference latents) for each bitstream."""
    cases = {}
    for path in paths:
        inputs = latent_inputs(path.read_bytes())
        cases[path.stem] = (inputs, reference_latents(inputs))
    return cases


def report_lines(cases: dict[str, tuple], levels: list[str]) -> tuple[list[str], bool]:
    """One line per level, and whether every level agreed on every case."""
    lines, all_same = [], True
    for level in levels:
        try:
            module = latent_decoder_for(level)
        except Exception as exc:  # a missing compiler shows up as many exception types
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            lines.append(f"{level}: not built ({reason})")
            all_same = False
            continue
        found = differing(module, cases)
        all_same &= not found
        labels = [
            name if threads == 1 else f"{name} (2 threads)"
            for name, counts in found.items()
            for threads in counts
        ]
        detail = f"; differ: {', '.join(labels)}" if labels else ""
        lines.append(
            f"{level}: {len(cases) - len(found)} of {len(cases)} bitstreams decode to the "
            f"Python decoder's latents{detail}"
        )
    return lines, all_same


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.isa_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bitstreams",
        type=Path,
        default=DEFAULT_BITSTREAMS,
        help="folder of v1 bitstreams (default: the published ones)",
    )
    parser.add_argument("--pattern", default="*.bin", help="glob of files to decode")
    parser.add_argument("--limit", type=int, default=12, help="decode at most this many files")
    return parser


def main(argv: list[str] | None = None) -> int:
    from coolchic_core.errors import BitstreamError

    args = _parser().parse_args(argv)
    paths = sorted(args.bitstreams.glob(args.pattern))[: max(args.limit, 0)]
    if not paths:
        print(f"bench.isa_check: no {args.pattern} in {args.bitstreams}", file=sys.stderr)
        return 2
    try:
        cases = load_cases(paths)
    except (BitstreamError, OSError) as exc:
        print(f"bench.isa_check: {exc}", file=sys.stderr)
        return 2
    lines, all_same = report_lines(cases, levels_this_cpu_runs())
    for line in lines:
        print(line)
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
