"""The native decoder's bicubic cascade is exact float32 arithmetic in a fixed order.

Built without -ffast-math and without FMA contraction, each output of the
reconstruction kernel's upsampling is the sum of its bicubic terms, added one
by one in float32 in the order of the tap matrix. This is what makes it the
same on every machine, and what its fast paths (the fixed-filter band of x2
rows) must keep: the reference below does each float32 operation with numpy,
one at a time, and the kernel must match it bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from coolchic_core import native_decoding
from coolchic_core.grids import grid_shapes

NATIVE = native_decoding.decoder()
pytestmark = pytest.mark.skipif(NATIVE is None, reason="no C++ compiler for the native decoder")

F32 = np.float32
A = F32(-0.75)  # PyTorch's bicubic constant


def _cubic1(x):
    return ((A + F32(2)) * x - (A + F32(3))) * x * x + F32(1)


def _cubic2(x):
    return ((A * x - F32(5) * A) * x + F32(8) * A) * x - F32(4) * A


def _taps(n_in: int, n_out: int) -> list[list[tuple[int, np.float32]]]:
    """Per output: (input index, weight) in order, the clamped border taps merged."""
    scale = F32(n_in) / F32(n_out)
    rows = []
    for o in range(n_out):
        real = scale * (F32(o) + F32(0.5)) - F32(0.5)
        t = real - np.floor(real)
        weights = (_cubic2(t + F32(1)), _cubic1(t), _cubic1(F32(1) - t), _cubic2(F32(2) - t))
        merged: dict[int, np.float32] = {}
        for k, w in enumerate(weights):
            i = min(max(int(np.floor(real)) - 1 + k, 0), n_in - 1)
            merged[i] = merged.get(i, F32(0)) + w
        rows.append(list(merged.items()))
    return rows


def _apply(taps, x: np.ndarray, axis: int) -> np.ndarray:
    """Each output along `axis` as a float32 sum of its terms, added in order."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty((*x.shape[:-1], len(taps)), dtype=F32)
    for o, terms in enumerate(taps):
        acc = np.zeros(x.shape[:-1], dtype=F32)
        for i, w in terms:
            acc = acc + w * x[..., i]
        out[..., o] = acc
    return np.moveaxis(out, -1, axis)


def _cascade(grids: list[np.ndarray]) -> np.ndarray:
    upsampled = grids[-1][None]
    for grid in reversed(grids[:-1]):
        (h, w), (height, width) = upsampled.shape[1:], grid.shape
        wide = _apply(_taps(w, width), upsampled, axis=2)
        upsampled = np.concatenate([grid[None], _apply(_taps(h, height), wide, axis=1)])
    return upsampled


@pytest.mark.parametrize("size", [(64, 48), (40, 24), (37, 45), (100, 3), (1, 1), (5, 2)])
def test_the_cascade_is_float32_sums_in_order_bit_for_bit(size):
    rng = np.random.default_rng(sum(size))
    grids = [rng.standard_normal(shape).astype(F32) * 8 for shape in grid_shapes(*size, 7)]
    ours = native_decoding.upsample(NATIVE, grids).numpy()
    reference = _cascade(grids)
    assert ours.shape == reference.shape
    assert np.array_equal(ours, reference), float(np.abs(ours - reference).max())


def test_the_cascade_is_the_torch_model_s():
    from coolchic_core.model.upsampling import upsample_cascade

    rng = np.random.default_rng(3)
    grids = [rng.standard_normal(shape).astype(F32) for shape in grid_shapes(48, 64, 7)]
    reference = upsample_cascade([torch.from_numpy(g) for g in grids])
    ours = native_decoding.upsample(NATIVE, grids)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
