"""The v2 reconstruction (learned upsampling, then the synthesis), by the native decoder
(coolchic_core/kernels/conv_decoding.h) when it is available, else by PyTorch (`layers`).

The decoder (`format.reconstruct`) and the encoder's PSNR estimate (`writer`) both go
through these functions, so that on one machine they compute the same image. The two
paths agree to float rounding (their sums run in another order), not bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from coolchic_core import native_decoding
from coolchic_core.formats.v2 import layers

NATIVE_MAX_CHANNELS = 64  # conv_decoding.h's MAX_CHANNELS


def _native(n_inputs: int, specs):
    """The native reconstruction module if it runs this synthesis, else None."""
    native = native_decoding.decoder()
    if native is None or n_inputs > NATIVE_MAX_CHANNELS:
        return None
    if any(spec.kernel_size not in (1, 3) for spec in specs):
        return None
    if any(spec.out_channels > NATIVE_MAX_CHANNELS for spec in specs):
        return None
    return native.reconstruction


def float_grids(latents) -> list[torch.Tensor]:
    """The integer latent grids as float32 tensors."""
    return [torch.from_numpy(np.asarray(grid, dtype=np.float32)) for grid in latents]


@torch.no_grad()
def upsample(grids: list[torch.Tensor], half_taps: torch.Tensor, specs) -> torch.Tensor:
    """Float32 grids (h_i, w_i) to the synthesis input (N, H, W), for the synthesis `specs`
    (the path follows the synthesis' one)."""
    module = _native(len(grids), specs)
    half_taps = half_taps.to(torch.float32)
    if module is None:
        return layers.upsample_cascade(grids, half_taps)
    return module.learned_upsample_cascade(grids, half_taps)


@torch.no_grad()
def synthesize(features: torch.Tensor, weights, biases, specs) -> np.ndarray:
    """Float32 (H, W, 3) image in [0, 1] from the synthesis input (N, H, W)."""
    module = _native(features.shape[0], specs)
    if module is None:
        image = layers.synthesize(features, weights, biases, specs)
        return image.clamp_(0.0, 1.0).permute(1, 2, 0).contiguous().numpy()
    return module.conv_synthesize(
        features,
        list(weights),
        list(biases),
        [spec.residual for spec in specs],
        [spec.relu for spec in specs],
    ).numpy()


def reconstruct(latents, networks, config) -> np.ndarray:
    """Float32 (H, W, 3) image in [0, 1] from integer latents and dequantized networks."""
    features = upsample(float_grids(latents), networks.upsampling_half_taps, config.synthesis)
    return synthesize(
        features, networks.synthesis_weights, networks.synthesis_biases, config.synthesis
    )
