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

FUSED_MAX_CHANNELS = 64  # of the 3x3 layers' inputs and outputs (kernels/conv_synthesis.h)


def fused_mlp_layers(specs, n_inputs: int) -> int | None:
    """How many leading 1x1 layers the fused kernel runs as one MLP, or None when it cannot
    run `specs`: it needs 1x1 layers under v1's MLP rules (ReLU after all but the last,
    residual exactly when in == out, the last neither), then 3x3 layers only, of at most
    FUSED_MAX_CHANNELS channels."""
    n_mlp = 0
    while n_mlp < len(specs) and specs[n_mlp].kernel_size == 1:
        n_mlp += 1
    if n_mlp == 0 or any(spec.kernel_size != 3 for spec in specs[n_mlp:]):
        return None
    if any(spec.out_channels > FUSED_MAX_CHANNELS for spec in specs[n_mlp - 1 :]):
        return None
    widths = [n_inputs, *(spec.out_channels for spec in specs[:n_mlp])]
    for index, spec in enumerate(specs[:n_mlp]):
        hidden = index < n_mlp - 1
        same_width = widths[index] == spec.out_channels
        if spec.relu != hidden or spec.residual != (hidden and same_width):
            return None
    return n_mlp


class ConvSynthesis(nn.Module):
    """Upsampling filters (one per level) and the synthesis convolutions."""

    def __init__(self, config: V2Config, generator: torch.Generator) -> None:
        super().__init__()
        self.specs = config.synthesis
        self.n_inputs = config.latent_n_grids
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

    def forward(self, latents: list[torch.Tensor], kernels=None) -> torch.Tensor:
        """Latent grids to the unclamped image, (3, H * W); the upsampling by the fused
        `kernels` if given (same values to float rounding)."""
        if kernels is not None:
            features = kernels.learned_upsample(latents, self.upsampling)
        else:
            features = layers.upsample_cascade(latents, self.upsampling)
        image = layers.synthesize(features, list(self.weights), list(self.biases), self.specs)
        return image.reshape(image.shape[0], -1)

    def fused_mse(self, latents: list[torch.Tensor], target: torch.Tensor, kernels):
        """MSE against target (3, H * W) by the fused kernels, or None for a synthesis that
        they do not implement (see `fused_mlp_layers`)."""
        n_mlp = fused_mlp_layers(self.specs, self.n_inputs)
        if n_mlp is None:
            return None
        features = kernels.learned_upsample(latents, self.upsampling)
        mlp = [
            (w.reshape(w.shape[0], w.shape[1]), b)
            for w, b in zip(self.weights[:n_mlp], self.biases[:n_mlp], strict=True)
        ]
        convs = [
            (w, b, spec.residual, spec.relu)
            for w, b, spec in zip(
                self.weights[n_mlp:], self.biases[n_mlp:], self.specs[n_mlp:], strict=True
            )
        ]
        return kernels.conv_synthesis_mse(features, target, mlp, convs)

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
        self.kernels = None  # set by training.fit when the fused CPU kernels are used

    def synthesize(self, latents: list[torch.Tensor]) -> torch.Tensor:
        return self.synthesis(latents, self.kernels)

    def fused_mse(self, latents: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor | None:
        return self.synthesis.fused_mse(latents, target, self.kernels)
