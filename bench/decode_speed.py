"""`make bench-decode`: median in-process decode time per image of a folder of v1 bitstreams.

Start-up (imports, one warm-up decode) is excluded. Prints one line per file, the
median, the peak resident memory, the original decoder's median on the same files
when the folder has a vectors.json beside it, and last `decode_s_median=<seconds>`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.decode_speed", description=__doc__)
    parser.add_argument("--bitstreams", required=True, type=Path, help="folder of .bin files")
    parser.add_argument("--pattern", default="kodim*-lambda*.bin", help="glob of files to decode")
    parser.add_argument("--limit", type=int, default=24, help="decode at most this many files")
    parser.add_argument("--repeats", type=int, default=1, help="decodes per file")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    return parser


def _original_median_s(files: list[Path]) -> float | None:
    vectors_path = files[0].parent.parent / "vectors.json"
    if not vectors_path.is_file():
        return None
    vectors = json.loads(vectors_path.read_text())
    times = [vectors[f.stem]["reference_decode_seconds"] for f in files if f.stem in vectors]
    return statistics.median(times) if times else None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from coolchic_core.decoder import decode_bitstream

    if args.threads:
        torch.set_num_threads(args.threads)
    files = sorted(args.bitstreams.glob(args.pattern))[: args.limit]
    if not files:
        print(f"no bitstream matches {args.bitstreams / args.pattern}", file=sys.stderr)
        return 2
    decode_bitstream(files[0])  # warm-up: imports, tables, allocator
    times_s = []
    for path in files:
        data = path.read_bytes()
        for _ in range(args.repeats):
            start = time.perf_counter()
            decoded = decode_bitstream(data)
            times_s.append(time.perf_counter() - start)
        print(f"{path.name}: {times_s[-1]:.3f} s ({decoded.header.width}x{decoded.header.height})")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median_s = statistics.median(times_s)
    original = _original_median_s(files)
    print(
        f"files={len(files)} decodes={len(times_s)} threads={torch.get_num_threads()} "
        f"peak_rss_mib={peak_mib:.0f}"
    )
    if original is not None:
        print(f"original_decoder_s_median={original:.3f} speedup={original / median_s:.1f}x")
    print(f"decode_s_median={median_s:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
