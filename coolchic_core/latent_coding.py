"""Encoder side of the latents: Laplace parameters of every latent, rates, and streams.

The encoder knows every latent, so the fixed-point ARM runs on all contexts
at once; the symbols are then written in the decoder's order (wavefront).
"""

from __future__ import annotations

import numpy as np

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.context import coding_order, context_chunks
from coolchic_core.entropy import encode_laplace
from coolchic_core.laplace import laplace_bits

# Contexts are evaluated in chunks to bound memory on large images.
_CHUNK = 1 << 18


def grid_means_scales(
    grid: np.ndarray, arm: FixedPointArm, n_ctx_rowcol: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rounded Laplace mean and scale of every position of `grid`, raster order."""
    means, scales = [], []
    for contexts in context_chunks(grid, n_ctx_rowcol, _CHUNK):
        mean, scale = arm.mean_and_scale(contexts)
        means.append(mean)
        scales.append(scale)
    if not means:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(means), np.concatenate(scales)


def latent_rate_bits(grids: list[np.ndarray], arm: FixedPointArm, n_ctx_rowcol: int) -> float:
    """Estimated rate of all grids, in bits, under the fixed-point ARM."""
    total = 0.0
    for grid in grids:
        means, scales = grid_means_scales(grid, arm, n_ctx_rowcol)
        total += float(np.sum(laplace_bits(grid.ravel().astype(np.float64), means, scales)))
    return total


def encode_grid(grid: np.ndarray, arm: FixedPointArm, n_ctx_rowcol: int, bound: int) -> bytes:
    """One grid's range-coded stream, symbols in decoding order."""
    height, width = grid.shape
    means, scales = grid_means_scales(grid, arm, n_ctx_rowcol)
    order = coding_order(height, width, n_ctx_rowcol)
    return encode_laplace(grid.ravel()[order], means[order], scales[order], bound)


class LatentRate:
    """Rate in bits of fixed latents under candidate ARMs (the network quantization search)."""

    def __init__(self, latents: list[np.ndarray], n_ctx_rowcol: int, bound: int):
        self.latents, self.n_ctx_rowcol, self.bound = latents, n_ctx_rowcol, bound

    def bits(self, layers: list) -> float:
        arm = FixedPointArm(layers, max_abs_input=self.bound)
        return latent_rate_bits(self.latents, arm, self.n_ctx_rowcol)
