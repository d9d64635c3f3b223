"""Stress: the 96 published bitstreams decode to the same images every time, on 1 or 2 threads,
while every core is busy (`make stress`, about an hour on 2 cores).

Each pass decodes every bitstream; the float image and the 8-bit image must
be bit-identical to the first pass's (on 1 thread), whatever the pass and the
thread count. COOLCHIC_STRESS_REPEATS
(default 6) and COOLCHIC_STRESS_IMAGES (comma list of bitstream names,
default all) shorten a run for a quick look.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from coolchic_core.decoder import decode_bitstream

REPEATS = int(os.environ.get("COOLCHIC_STRESS_REPEATS", "6"))
THREADS = (1, 2)


def _names(reference_dir) -> list[str]:
    chosen = os.environ.get("COOLCHIC_STRESS_IMAGES")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return sorted(path.stem for path in (reference_dir / "bitstreams").glob("*.bin"))


@contextlib.contextmanager
def _full_load():
    """One busy process per core (they only spin), ended by their pids afterwards."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield
    finally:
        for process in spinners:
            process.kill()
            process.wait()


def _digest(data: bytes) -> str:
    """SHA-256 of the decoded float image and of its 8-bit rounding, together."""
    decoded = decode_bitstream(data)
    digest = hashlib.sha256(np.ascontiguousarray(decoded.image, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(decoded.rgb8).tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_every_reference_bitstream_decodes_identically_under_load(reference_dir):
    names = _names(reference_dir)
    data = {name: (reference_dir / "bitstreams" / f"{name}.bin").read_bytes() for name in names}
    first: dict[str, str] = {}
    mismatches = []
    threads_before = torch.get_num_threads()
    try:
        with _full_load():
            for threads in THREADS:
                torch.set_num_threads(threads)
                for repeat in range(REPEATS):
                    for name in names:
                        digest = _digest(data[name])
                        first.setdefault(name, digest)
                        if digest != first[name]:
                            mismatches.append(f"{name} on {threads} thread(s), pass {repeat + 1}")
    finally:
        torch.set_num_threads(threads_before)
    assert mismatches == [], f"{len(mismatches)} decodes differ: {mismatches[:10]}"
    assert len(first) == len(names)
