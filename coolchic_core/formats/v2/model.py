"""The v2 model for training: latent grids, learned upsampling, convolutional synthesis, ARM.

Same interface as the v1 model (`coolchic_core.model.coolchic.CoolChic`), so
`training.fit` trains either; the upsampling filters are part of `synthesis`
(the optimiser treats them as network weights).
"""

from __future__ import annotations

import torch
from torch import nn

from coolchic_core.formats.v2 import layers
from coolchic_core.formats.v2.architecture import V2Config
from coolchic_core.model.coolchic import CoolChic
from coolchic_core.model.latents import LatentGrids
from coolchic_core.model.mlp import Mlp


class ConvSynthesis(nn.Module):
    """Upsampling filters (one per level) and the synthesis convolutions."""

    def __init__(self, config: V2Config, generator: torch.Generator) -> None:
        super().__init__()
        self.specs = config.synthesis
        n_levels = max(config.latent_n_grids - 1, 0)
        bicubic = torch.tensor(layers.BICUBIC_HALF_TAPS, dtype=torch.float32)
        self.upsampling = nn.Parameter(bicubic.repeat(n_levels, 1))
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for (out, n_in, kernel), spec in zip(config.synthesis_shapes(), self.specs, strict=True):
            shape = (out, n_in, kernel, kernel)
            if spec.residual:  # starts as the identity, as v1's residual layers
                weight = torch.zeros(shape)
            else:
                weight = torch.randn(shape, generator=generator) / (out * kernel) ** 2
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(out)))

    def forward(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Latent grids to the unclamped image, (3, H * W)."""
        features = layers.upsample_cascade(latents, self.upsampling)
        image = layers.synthesize(features, list(self.weights), list(self.biases), self.specs)
        return image.reshape(image.shape[0], -1)

    def layers_numpy(self) -> list[tuple]:
        """(weight (out, in * k * k), bias) per convolution, then the upsampling filters."""
        pairs = [
            (w.detach().cpu().reshape(w.shape[0], -1).numpy().copy(), b.detach().cpu().numpy())
            for w, b in zip(self.weights, self.biases, strict=True)
        ]
        taps = self.upsampling.detach().cpu().numpy().copy()
        return pairs + [(taps, torch.zeros(taps.shape[0]).numpy())]


class ConvCoolChic(CoolChic):
    """A v2 model of one image: the v1 model's latents, quantization, ARM and loss, with the
    learned upsampling and convolutional synthesis in place of bicubic and the MLP."""

    def __init__(
        self, height: int, width: int, config: V2Config, generator: torch.Generator
    ) -> None:
        nn.Module.__init__(self)
        self.height, self.width, self.config = height, width, config
        self.latents = LatentGrids(height, width, config.latent_n_grids)
        self.synthesis = ConvSynthesis(config, generator)
        self.arm = Mlp(config.n_ctx, config.layers_arm, 2, generator)
        self.kernels = None  # the fused CPU kernels are v1's

    def synthesize(self, latents: list[torch.Tensor]) -> torch.Tensor:
        return self.synthesis(latents)
