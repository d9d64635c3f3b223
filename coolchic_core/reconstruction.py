"""From integer latent grids to the image: cascaded bicubic upsampling and the synthesis MLP.

Format spec, section 7. Float arithmetic (float32, torch) as in the original
decoder; the result may differ from it by float rounding only.
"""

from __future__ import annotations

import numpy as np
import torch

from coolchic_core import native_decoding
from coolchic_core.mlp_params import Layer
from coolchic_core.model.upsampling import upsample_cascade


def run_synthesis(features: torch.Tensor, layers: list[Layer]) -> torch.Tensor:
    """Per-pixel MLP on (P, N) features; residual hidden layers when in == out."""
    values = features
    last = len(layers) - 1
    for index, layer in enumerate(layers):
        weight = torch.from_numpy(np.ascontiguousarray(layer.weight))
        bias = torch.from_numpy(np.ascontiguousarray(layer.bias))
        output = torch.addmm(bias, values, weight.T)
        if layer.is_residual(index, len(layers)):
            output += values
        if index < last:
            output.relu_()
        values = output
    return values


@torch.no_grad()
def synthesis_features(latents: list[np.ndarray]) -> torch.Tensor:
    """The synthesis input (H, W, N): upsampled and stacked latent grids."""
    native = native_decoding.decoder()
    if native is not None:
        return native_decoding.upsample(native, latents).permute(1, 2, 0)
    grids = [torch.from_numpy(np.asarray(grid, dtype=np.float32)) for grid in latents]
    return upsample_cascade(grids).permute(1, 2, 0)


# Pixels per synthesis batch: bounds the hidden layers' memory on large images.
_SYNTHESIS_CHUNK_PX = 1 << 18


@torch.no_grad()
def synthesize(features: torch.Tensor, synthesis_layers: list[Layer]) -> np.ndarray:
    """Float32 image (H, W, 3) in [0, 1] from the synthesis input (H, W, N)."""
    native = native_decoding.decoder()
    if native is not None:
        return native_decoding.synthesize(native, features.permute(2, 0, 1), synthesis_layers)
    height, width, n_channels = features.shape
    flat = features.reshape(height * width, n_channels)
    pixels = torch.empty((height * width, synthesis_layers[-1].weight.shape[0]))
    for start in range(0, height * width, _SYNTHESIS_CHUNK_PX):
        chunk = slice(start, start + _SYNTHESIS_CHUNK_PX)
        pixels[chunk] = run_synthesis(flat[chunk], synthesis_layers)
    return pixels.clamp_(0.0, 1.0).reshape(height, width, -1).numpy()


def reconstruct(latents: list[np.ndarray], synthesis_layers: list[Layer]) -> np.ndarray:
    """Float32 image (H, W, 3) in [0, 1] from integer latent grids."""
    return synthesize(synthesis_features(latents), synthesis_layers)
