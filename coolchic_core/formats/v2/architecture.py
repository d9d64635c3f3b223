"""The architecture of a v2 model: what its header describes, and what it costs to decode.

Choices and their sources: a convolutional synthesis and learned upsampling
(Cool-chic 2.0, Leguay et al. 2023, arXiv 2307.12706), the upsampling as
separable, symmetric filters (Cool-chic 3.4), and an ARM sized so that the
whole decoding stays near 1,100 multiplications per pixel (Cool-chic 4.x
operating points, ../shared/notes/later-work.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from coolchic_core.context import n_context
from coolchic_core.grids import grid_shapes, n_latents
from coolchic_core.mlp_params import n_multiplications

UPSAMPLING_HALF_TAPS = 4  # 8-tap symmetric filters: 4 free values each
N_OUTPUT_CHANNELS = 3


@dataclass(frozen=True)
class ConvLayer:
    """One synthesis layer: `out_channels` of a `kernel_size` x `kernel_size` convolution
    (1 or 3, replicate padding), plus its input if `residual`, then ReLU if `relu`."""

    out_channels: int
    kernel_size: int = 1
    residual: bool = False
    relu: bool = True


@dataclass(frozen=True)
class V2Config:
    """Latent grids, ARM hidden layers and context size, and the synthesis layers."""

    latent_n_grids: int = 7
    n_ctx_rowcol: int = 2
    layers_arm: tuple[int, ...] = (16, 16)
    synthesis: tuple[ConvLayer, ...] = (
        ConvLayer(24, 1, residual=False, relu=True),
        ConvLayer(3, 1, residual=False, relu=False),
        ConvLayer(3, 3, residual=True, relu=True),
        ConvLayer(3, 3, residual=True, relu=False),
    )

    @property
    def n_ctx(self) -> int:
        return n_context(self.n_ctx_rowcol)

    # Trained by the fused CPU kernels when they build (quantization, ARM rate, learned
    # upsampling, synthesis + MSE: coolchic_core/kernels), else by PyTorch.
    uses_fused_kernels = True

    def training_model(self, height: int, width: int, generator):
        """The v2 model to train (`formats.v2.model.ConvCoolChic`)."""
        from coolchic_core.formats.v2.model import ConvCoolChic

        return ConvCoolChic(height, width, self, generator)

    def synthesis_shapes(self) -> list[tuple[int, int, int]]:
        """(out, in, kernel size) of every synthesis layer."""
        shapes, n_in = [], self.latent_n_grids
        for layer in self.synthesis:
            shapes.append((layer.out_channels, n_in, layer.kernel_size))
            n_in = layer.out_channels
        return shapes


def check_architecture(config: V2Config) -> str | None:
    """Why the architecture is not a valid v2 model, or None."""
    if not config.synthesis:
        return "the synthesis needs at least one layer"
    if config.synthesis[-1].out_channels != N_OUTPUT_CHANNELS:
        return f"the last synthesis layer must have {N_OUTPUT_CHANNELS} output channels"
    for index, (out, n_in, kernel) in enumerate(config.synthesis_shapes()):
        if kernel not in (1, 3):
            return f"synthesis layer {index}: kernel size {kernel} (1 or 3)"
        if out < 1:
            return f"synthesis layer {index}: {out} output channels"
        if config.synthesis[index].residual and out != n_in:
            return f"synthesis layer {index}: residual needs as many outputs as inputs ({n_in})"
    if config.layers_arm and len(set(config.layers_arm)) != 1:
        return "all ARM hidden layers must have one width"
    return None


def multiplications(config: V2Config, height: int, width: int) -> dict:
    """Multiplications of the whole decoding and per pixel, by component."""
    n_pixels = height * width
    arm_per_latent = n_multiplications(config.n_ctx, config.layers_arm, 2)
    arm = arm_per_latent * n_latents(height, width, config.latent_n_grids)
    synthesis = n_pixels * sum(out * n_in * k * k for out, n_in, k in config.synthesis_shapes())
    upsampling = _upsampling_multiplications(config.latent_n_grids, height, width)
    total = arm + synthesis + upsampling
    return {
        "arm": arm / n_pixels,
        "synthesis": synthesis / n_pixels,
        "upsampling": upsampling / n_pixels,
        "total": total / n_pixels,
        "total_count": total,
    }


def _upsampling_multiplications(n_grids: int, height: int, width: int) -> int:
    """Each level doubles rows then columns of every channel stacked so far (4 taps a sample)."""
    shapes = grid_shapes(height, width, n_grids)
    count = 0
    for level in range(n_grids - 1):
        n_channels = n_grids - 1 - level
        (rows, cols), (small_rows, _) = shapes[level], shapes[level + 1]
        count += n_channels * UPSAMPLING_HALF_TAPS * (small_rows * cols + rows * cols)
    return count
