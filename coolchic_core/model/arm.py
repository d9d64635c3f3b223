"""Causal context of the auto-regressive model (format spec section 6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from coolchic_core.context import context_neighbours


def causal_context(latent: torch.Tensor, n_ctx_rowcol: int) -> torch.Tensor:
    """Context of every position of a grid (h, w), zero outside it: shape (2n(n+1), h*w).

    Each context channel is a slice of the zero-padded grid, so this is a
    copy, not an index_select.
    """
    n = n_ctx_rowcol
    height, width = latent.shape
    padded = F.pad(latent, (n, n, n, 0))
    slices = [
        padded[n + dr : n + dr + height, n + dc : n + dc + width]
        for dr, dc in context_neighbours(n)
    ]
    return torch.stack(slices).reshape(len(slices), height * width)
