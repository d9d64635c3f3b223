"""Cascaded bicubic upsampling of the latent grids (format spec section 7)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def upsample_cascade(latents: list[torch.Tensor]) -> torch.Tensor:
    """Stack the grids (h_i, w_i) into (N, H, W) with channels [y_0, ..., y_{N-1}].

    U = y_{N-1}; for i = N-2..0: U = bicubic(U, size of y_i) (align_corners
    False), then U = concat(y_i, U).
    """
    upsampled = latents[-1][None, None]
    for latent in reversed(latents[:-1]):
        upsampled = F.interpolate(upsampled, size=latent.shape, mode="bicubic", align_corners=False)
        upsampled = torch.cat([latent[None, None], upsampled], dim=1)
    return upsampled[0]
