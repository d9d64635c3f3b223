"""`make bench-decode`: median in-process decode time per image of a folder of bitstreams.

A decode is bytes to the 8-bit image (`decode_bitstream(data).rgb8`, no PNG
writing). Start-up (imports, kernel loading, one warm-up decode) is excluded.
The folder may hold v1 or v2 bitstreams; `--encode-v2 IMAGE...` instead encodes
each image as v2 at the smoke preset first (into a temporary folder; the encoding
is not timed). Prints one line per file, then the median wall and CPU time, the
median of each stage (header and network parameters, latent decoding = ARM +
range decoding, upsampling, synthesis, output = 8-bit rounding; timed in a second,
staged decode of the same file), the decoder in use (native or Python), the peak
resident memory, the original decoder's median on the same files when the folder
has a vectors.json beside it, and last `decode_s_median=<seconds>`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from coolchic_cli.parsing import OneLineArgumentParser

STAGES = ("header_nn", "latents", "upsampling", "synthesis", "output")
DEFAULT_LMBDA = 0.002
DEFAULT_PATTERN = "kodim*-lambda*.bin"


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m bench.decode_speed", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bitstreams", type=Path, help="folder of .bin files (v1 or v2)")
    source.add_argument(
        "--encode-v2", nargs="+", type=Path, metavar="IMAGE", help="encode these as v2 first"
    )
    parser.add_argument("--lmbda", type=float, help="lambda of --encode-v2 (default 0.002)")
    parser.add_argument(
        "--pattern", help="glob of the files of --bitstreams to decode (default kodim*-lambda*.bin)"
    )
    parser.add_argument("--limit", type=int, default=24, help="decode at most this many files")
    parser.add_argument("--repeats", type=int, default=1, help="decodes per file")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    return parser


def _check(args) -> None:
    """InputError for options that do not go together or counts that would time nothing."""
    from coolchic_core.errors import InputError
    from coolchic_core.limits import threads_problem

    problem = threads_problem(args.threads)
    if problem:
        raise InputError(problem)
    for option, value in (("--limit", args.limit), ("--repeats", args.repeats)):
        if value < 1:
            raise InputError(f"{option} must be at least 1, got {value}")
    if args.encode_v2 and args.pattern is not None:
        raise InputError("--pattern chooses files of --bitstreams, not of --encode-v2")
    if args.bitstreams and args.lmbda is not None:
        raise InputError("--lmbda is the lambda of --encode-v2; --bitstreams are encoded already")
    if args.pattern is not None and Path(args.pattern).is_absolute():
        raise InputError(f"--pattern is a glob inside --bitstreams, not a path: {args.pattern}")
    if args.lmbda is not None and not 0 < args.lmbda < 1:
        raise InputError(f"--lmbda must be between 0 and 1, got {args.lmbda}")


def _original_median_s(files: list[Path]) -> float | None:
    vectors_path = files[0].parent.parent / "vectors.json"
    if not vectors_path.is_file():
        return None
    vectors = json.loads(vectors_path.read_text())
    times = [vectors[f.stem]["reference_decode_seconds"] for f in files if f.stem in vectors]
    return statistics.median(times) if times else None


def staged_decode_s(data: bytes) -> dict[str, float]:
    """Seconds of each stage of a decode (the steps of the format's `decode`, then `.rgb8`)."""
    from coolchic_core.formats import detect

    staged = _staged_v2 if detect(data).name == "v2" else _staged_v1
    marks = [time.perf_counter()]
    staged(data, marks)
    return {stage: b - a for stage, a, b in zip(STAGES, marks[:-1], marks[1:], strict=True)}


def _staged_v1(data: bytes, marks: list[float]) -> None:
    """`V1Format.decode`, then `.rgb8`, with a time mark after each stage."""
    from coolchic_core.arm_fixed_point import FixedPointArm
    from coolchic_core.formats.v1 import segments
    from coolchic_core.grids import grid_shapes
    from coolchic_core.image_io import float_to_rgb8
    from coolchic_core.latent_decoding import decode_latents
    from coolchic_core.reconstruction import synthesis_features, synthesize

    parsed = segments.parse(data)
    header = parsed.header
    arm_layers, synthesis_layers = segments.decode_mlps(parsed)
    arm = FixedPointArm(arm_layers, max_abs_input=header.ac_max_val_latent + 1)
    marks.append(time.perf_counter())
    shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
    latents = decode_latents(
        parsed.latent_segments, shapes, header.n_ctx_rowcol, arm, header.ac_max_val_latent
    )
    marks.append(time.perf_counter())
    features = synthesis_features(latents)
    marks.append(time.perf_counter())
    image = synthesize(features, synthesis_layers)
    marks.append(time.perf_counter())
    float_to_rgb8(image)
    marks.append(time.perf_counter())


def _staged_v2(data: bytes, marks: list[float]) -> None:
    """`V2Format.decode`, then `.rgb8`, with a time mark after each stage."""
    from coolchic_core.arm_fixed_point import FixedPointArm
    from coolchic_core.formats.v2 import inference, segments
    from coolchic_core.grids import grid_shapes
    from coolchic_core.image_io import float_to_rgb8
    from coolchic_core.latent_decoding import decode_latents

    parsed = segments.parse(data)
    header, config = parsed.header, parsed.header.config
    networks = segments.decode_networks(parsed)
    arm = FixedPointArm(networks.arm_layers, max_abs_input=header.ac_max_val_latent + 1)
    marks.append(time.perf_counter())
    shapes = grid_shapes(header.height, header.width, config.latent_n_grids)
    latents = decode_latents(
        parsed.latent_segments, shapes, config.n_ctx_rowcol, arm, header.ac_max_val_latent
    )
    marks.append(time.perf_counter())
    grids = inference.float_grids(latents)
    features = inference.upsample(grids, networks.upsampling_half_taps, config.synthesis)
    marks.append(time.perf_counter())
    image = inference.synthesize(
        features, networks.synthesis_weights, networks.synthesis_biases, config.synthesis
    )
    marks.append(time.perf_counter())
    float_to_rgb8(image)
    marks.append(time.perf_counter())


def encode_v2(images: list[Path], lmbda: float, folder: Path) -> None:
    """Each image as a v2 bitstream at the smoke preset, `folder/<stem>-v2.bin`."""
    from coolchic_core import encode

    for image in images:
        result = encode(image, lmbda, preset="smoke", seed=0, format="v2")
        (folder / f"{image.stem}-v2.bin").write_bytes(result.bitstream)


def _timed_decode(data: bytes) -> tuple[float, float, object]:
    from coolchic_core.decoder import decode_bitstream

    wall, cpu = time.perf_counter(), time.process_time()
    decoded = decode_bitstream(data)
    decoded.rgb8  # noqa: B018  (the output stage)
    return time.perf_counter() - wall, time.process_time() - cpu, decoded


def _report(files, times_s, cpu_s, stages, torch) -> None:
    from coolchic_core import native_decoding

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    decoder = "native" if native_decoding.decoder() is not None else "python"
    print(
        f"files={len(files)} decodes={len(times_s)} threads={torch.get_num_threads()} "
        f"decoder={decoder} peak_rss_mib={peak_mib:.0f}"
    )
    breakdown = " ".join(f"{s}={statistics.median(stages[s]) * 1e3:.1f}" for s in STAGES)
    print(f"stage_ms_median {breakdown}")
    print(f"decode_cpu_s_median={statistics.median(cpu_s):.4f}")
    original = _original_median_s(files)
    if original is not None:
        median_s = statistics.median(times_s)
        print(f"original_decoder_s_median={original:.3f} speedup={original / median_s:.1f}x")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from coolchic_core.errors import CoolChicError

    try:
        _check(args)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        if args.encode_v2:
            with tempfile.TemporaryDirectory() as folder:
                encode_v2(args.encode_v2, args.lmbda or DEFAULT_LMBDA, Path(folder))
                return _bench(sorted(Path(folder).glob("*-v2.bin"))[: args.limit], args, torch)
        pattern = args.pattern or DEFAULT_PATTERN
        files = sorted(args.bitstreams.glob(pattern))[: args.limit]
        if not files:
            raise CoolChicError(f"no bitstream matches {args.bitstreams / pattern}")
        return _bench(files, args, torch)
    except CoolChicError as exc:
        print(f"python -m bench.decode_speed: error: {exc}", file=sys.stderr)
        return 2


def _bench(files: list[Path], args, torch) -> int:
    _timed_decode(files[0].read_bytes())  # warm-up: imports, kernels, tables, allocator
    times_s, cpu_s, stages = [], [], {stage: [] for stage in STAGES}
    for path in files:
        data = path.read_bytes()
        for _ in range(args.repeats):
            wall, cpu, decoded = _timed_decode(data)
            times_s.append(wall)
            cpu_s.append(cpu)
            for stage, seconds in staged_decode_s(data).items():
                stages[stage].append(seconds)
        print(f"{path.name}: {wall:.3f} s ({decoded.header.width}x{decoded.header.height})")
    _report(files, times_s, cpu_s, stages, torch)
    print(f"decode_s_median={statistics.median(times_s):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
