"""Causal context of the auto-regressive model (format spec section 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def context_offsets(n_ctx_rowcol: int) -> list[tuple[int, int]]:
    """(row, column) offsets of the 2n(n+1) causal neighbours, in raster order.

    Rows r-n..r-1 at columns c-n..c+n, then row r at columns c-n..c-1.
    """
    n = n_ctx_rowcol
    offsets = [(dr, dc) for dr in range(-n, 0) for dc in range(-n, n + 1)]
    return offsets + [(0, dc) for dc in range(-n, 0)]


def causal_context(latent: torch.Tensor, n_ctx_rowcol: int) -> torch.Tensor:
    """Context of every position of a grid (h, w), zero outside it: shape (2n(n+1), h*w).

    Each context channel is a slice of the zero-padded grid, so this is a
    copy, not an index_select.
    """
    n = n_ctx_rowcol
    height, width = latent.shape
    padded = F.pad(latent, (n, n, n, 0))
    slices = [
        padded[n + dr : n + dr + height, n + dc : n + dc + width] for dr, dc in context_offsets(n)
    ]
    return torch.stack(slices).reshape(len(slices), height * width)
