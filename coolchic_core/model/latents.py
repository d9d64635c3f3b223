"""Latent grids with learned per-grid log2 gains."""

from __future__ import annotations

import torch
from torch import nn

from coolchic_core.grids import grid_shapes


class LatentGrids(nn.Module):
    """N zero-initialised grids; grid i is scaled by 2^g_i before quantization.

    g_i is learned and initialised to i; it is not transmitted: the decoder
    sees the integers round(grid_i * 2^g_i) directly.
    """

    def __init__(self, height: int, width: int, n_grids: int) -> None:
        super().__init__()
        self.sizes = grid_shapes(height, width, n_grids)
        self.grids = nn.ParameterList(
            [nn.Parameter(torch.zeros(h, w, dtype=torch.float32)) for h, w in self.sizes]
        )
        self.log2_gains = nn.Parameter(torch.arange(n_grids, dtype=torch.float32))

    def scaled(self) -> list[torch.Tensor]:
        """The continuous latents grid_i * 2^g_i, each of shape (h_i, w_i)."""
        gains = torch.exp2(self.log2_gains)
        return [grid * gains[i] for i, grid in enumerate(self.grids)]

    def integers(self) -> list[torch.Tensor]:
        """The sent latents round(grid_i * 2^g_i) as int32 tensors."""
        with torch.no_grad():
            return [torch.round(y).to(torch.int32) for y in self.scaled()]
