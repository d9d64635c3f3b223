"""The whole v1 model: latents -> (upsampling, synthesis) and (ARM, rate)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from coolchic_core.model.arm import causal_context
from coolchic_core.model.latents import LatentGrids
from coolchic_core.model.mlp import Mlp
from coolchic_core.model.quantizer import quantize
from coolchic_core.model.rate import laplace_rate_bits
from coolchic_core.model.upsampling import upsample_cascade
from coolchic_core.presets import ModelConfig


@dataclass
class ForwardOutput:
    """What one forward pass gives: distortion, rate in bits, and the image if asked."""

    mse: torch.Tensor
    rate_bits: torch.Tensor
    x_hat: torch.Tensor | None = None


@dataclass(frozen=True)
class Proxy:
    """The quantization proxy of a forward pass (see `quantizer.quantize`)."""

    mode: str = "round"
    temperature: float = 0.3
    noise_parameter: float = 1.0


class CoolChic(nn.Module):
    """Latent grids, synthesis MLP (N -> 3) and ARM MLP (2n(n+1) -> 2) of one image."""

    def __init__(
        self, height: int, width: int, config: ModelConfig, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.height, self.width, self.config = height, width, config
        self.latents = LatentGrids(height, width, config.latent_n_grids)
        self.synthesis = Mlp(config.latent_n_grids, config.layers_synthesis, 3, generator)
        self.arm = Mlp(config.n_ctx, config.layers_arm, 2, generator)
        self.kernels = None

    def quantized_latents(
        self,
        proxy: Proxy,
        generator: torch.Generator | None,
        uniforms: list[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """The latents y_i = Q(grid_i * 2^g_i) under the proxy.

        `uniforms`: U(0, 1) samples of each grid's shape drawn beforehand (a
        CUDA graph's static inputs) instead of drawing from `generator`.
        """
        if self.kernels is not None:
            return self.kernels.quantize(self.latents, proxy, generator)
        scaled = self.latents.scaled()
        noise = uniforms if uniforms is not None else [None] * len(scaled)
        return [
            quantize(y, proxy.mode, generator, proxy.temperature, proxy.noise_parameter, u)
            for y, u in zip(scaled, noise, strict=True)
        ]

    def rate_bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Total rate in bits of the latents under the (float) ARM."""
        if self.kernels is not None:
            return self.kernels.arm_rate(latents, self.arm, self.config.n_ctx_rowcol)
        n = self.config.n_ctx_rowcol
        context = torch.cat([causal_context(y, n) for y in latents], dim=1)
        values = torch.cat([y.reshape(-1) for y in latents])
        mu, log_scale = self.arm(context)
        return laplace_rate_bits(values, mu, log_scale).sum()

    def features(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The synthesis input: upsampled latents, channels first, shape (N, H * W)."""
        if self.kernels is not None:
            return self.kernels.upsample(latents).reshape(len(latents), -1)
        return upsample_cascade(latents).reshape(len(latents), -1)

    def synthesize(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """The decoded image, unclamped, channels first: shape (3, H * W)."""
        return self.synthesis(self.features(latents))

    def fused_mse(self, latents: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor | None:
        """The MSE of the synthesis by the fused kernels (set), or None where they do not apply."""
        return self.kernels.synthesis_mse(self.features(latents), target, self.synthesis)

    def forward(
        self,
        target: torch.Tensor,
        proxy: Proxy,
        generator: torch.Generator | None = None,
        want_image: bool = False,
        uniforms: list[torch.Tensor] | None = None,
    ) -> ForwardOutput:
        """MSE against `target` (3, H * W) and rate; clamps the image when rounding."""
        latents = self.quantized_latents(proxy, generator, uniforms)
        rate = self.rate_bits(latents)
        if self.kernels is not None and not want_image and proxy.mode != "round":
            mse = self.fused_mse(latents, target)
            if mse is not None:
                return ForwardOutput(mse, rate)
        x_hat = self.synthesize(latents)
        if proxy.mode == "round":
            x_hat = torch.clamp(x_hat, 0.0, 1.0)
        mse = torch.mean((x_hat - target) ** 2)
        return ForwardOutput(mse, rate, x_hat if want_image else None)
