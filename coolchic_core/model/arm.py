"""Causal context of the auto-regressive model (format spec section 6)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from coolchic_core.context import context_neighbours


@functools.cache
def _window_prefix(n_ctx_rowcol: int) -> int:
    """How many entries of the (n+1) x (2n+1) window ending at a position are its causal
    neighbours: they are its first 2n(n+1) entries in raster order (checked here)."""
    n = n_ctx_rowcol
    window = [(dr, dc) for dr in range(-n, 1) for dc in range(-n, n + 1)]
    neighbours = [tuple(offset) for offset in context_neighbours(n)]
    if window[: len(neighbours)] != neighbours:
        raise AssertionError("causal neighbours are not a raster prefix of the window")
    return len(neighbours)


def causal_context(latent: torch.Tensor, n_ctx_rowcol: int) -> torch.Tensor:
    """Context of every position of a grid (h, w), zero outside it: shape (2n(n+1), h*w).

    One F.unfold (im2col) of the zero-padded grid reads the (n+1) x (2n+1)
    window of every position; the causal neighbours are its first 2n(n+1)
    rows. A copy, no index_select; its backward is one col2im (deterministic
    on CUDA) instead of one slice per neighbour: a few kernels per grid.
    """
    n = n_ctx_rowcol
    padded = F.pad(latent, (n, n, n, 0))
    windows = F.unfold(padded[None, None], kernel_size=(n + 1, 2 * n + 1))
    return windows[0, : _window_prefix(n)]
