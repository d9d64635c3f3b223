"""The fused C++ kernels give the PyTorch v2 model's losses and gradients, and a v2 fit on
them is deterministic."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from coolchic_core.formats.v2 import layers
from coolchic_core.formats.v2.architecture import ConvLayer, V2Config
from coolchic_core.formats.v2.model import ConvCoolChic, fused_mlp_layers
from coolchic_core.grids import grid_shapes
from coolchic_core.model.coolchic import Proxy
from coolchic_core.model.fused import load
from coolchic_core.presets import get_preset
from tests.fused_checks import (
    assert_fit_deterministic_and_close_to_pytorch,
    assert_fused_matches_pytorch,
    smooth_image,
)

KERNELS = load()
pytestmark = pytest.mark.skipif(KERNELS is None, reason="no C++ compiler for the fused kernels")

# 1x1 layers with a residual one, then 3x3 layers that change the channel count.
WIDE = V2Config(
    latent_n_grids=4,
    n_ctx_rowcol=1,
    layers_arm=(5,),
    synthesis=(
        ConvLayer(8, 1),
        ConvLayer(8, 1, residual=True),
        ConvLayer(3, 1, relu=False),
        ConvLayer(5, 3),
        ConvLayer(3, 3, relu=False),
        ConvLayer(3, 3, residual=True, relu=False),
    ),
)
# The synthesis at 40 channels (7-40-3: shapes compiled in the kernel).
SYN40 = V2Config(
    synthesis=(
        ConvLayer(40, 1),
        ConvLayer(3, 1, relu=False),
        ConvLayer(3, 3, residual=True),
        ConvLayer(3, 3, residual=True, relu=False),
    )
)
ONLY_1X1 = V2Config(latent_n_grids=2, layers_arm=(), synthesis=(ConvLayer(3, 1, relu=False),))
# Starts with a 3x3 layer: not the fused kernel's layout, so its synthesis runs in PyTorch.
NOT_FUSED = V2Config(synthesis=(ConvLayer(4, 3), ConvLayer(3, 1, relu=False)))


def random_model(height, width, config, seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = ConvCoolChic(height, width, config, generator)
    with torch.no_grad():
        for grid in model.latents.grids:
            grid.copy_(torch.randn(grid.shape, generator=generator) * 3)
        model.latents.log2_gains.zero_()
        synthesis = model.synthesis
        for p in [*synthesis.weights, *synthesis.biases, *model.arm.weights, *model.arm.biases]:
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
        taps = synthesis.upsampling
        taps.add_(torch.randn(taps.shape, generator=generator) * 0.1)
    return model


@pytest.mark.parametrize(
    ("height", "width", "config"),
    [
        (37, 45, V2Config()),
        (1, 1, V2Config()),
        (5, 2, V2Config()),
        (64, 48, V2Config()),
        (23, 19, SYN40),
        (20, 33, WIDE),
        (3, 17, ONLY_1X1),
        (11, 14, NOT_FUSED),
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_matches_pytorch(height, width, config, threads):
    model = random_model(height, width, config)
    assert_fused_matches_pytorch(model, height * width, KERNELS, threads, mse_rel=1e-5)


def test_fused_softround_matches_pytorch_with_the_same_noise():
    model = random_model(19, 26, V2Config())
    target = torch.rand(3, 19 * 26, generator=torch.Generator().manual_seed(1))
    model.kernels = KERNELS
    fused = model(target, Proxy("softround", 0.3, 1.5), torch.Generator().manual_seed(5))
    model.kernels = None
    uniform = torch.rand(
        sum(g.numel() for g in model.latents.grids), generator=torch.Generator().manual_seed(5)
    )
    uniforms = list(torch.split(uniform, [g.numel() for g in model.latents.grids]))
    uniforms = [u.reshape(g.shape) for u, g in zip(uniforms, model.latents.grids, strict=True)]
    reference = model(target, Proxy("softround", 0.3, 1.5), uniforms=uniforms)
    assert float(fused.mse.detach()) == pytest.approx(float(reference.mse.detach()), rel=1e-5)
    rate_bits = float(fused.rate_bits.detach())
    assert rate_bits == pytest.approx(float(reference.rate_bits.detach()), rel=1e-4)


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 3), (37, 45), (64, 48)])
def test_fused_learned_upsampling_matches_pytorch(size):
    generator = torch.Generator().manual_seed(2)
    grids = [
        torch.randn(shape, generator=generator).requires_grad_() for shape in grid_shapes(*size, 7)
    ]
    bicubic = torch.tensor(layers.BICUBIC_HALF_TAPS).repeat(6, 1)
    taps = (bicubic + 0.1 * torch.randn((6, 4), generator=generator)).requires_grad_()
    weights = torch.randn((7, *size), generator=generator)
    ours = KERNELS.learned_upsample(grids, taps)
    reference = layers.upsample_cascade(grids, taps)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)
    ours_grads = torch.autograd.grad((ours * weights).sum(), [*grids, taps])
    reference_grads = torch.autograd.grad((reference * weights).sum(), [*grids, taps])
    for a, b in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)


def test_one_grid_needs_no_upsampling():
    grid = torch.randn(4, 5, requires_grad=True)
    ours = KERNELS.learned_upsample([grid], torch.zeros(0, 4, requires_grad=True))
    torch.testing.assert_close(ours, grid[None].detach())


def test_fused_layout_of_the_synthesis():
    assert fused_mlp_layers(V2Config().synthesis, 7) == 2
    assert fused_mlp_layers(WIDE.synthesis, 4) == 3
    assert fused_mlp_layers(ONLY_1X1.synthesis, 2) == 1
    assert fused_mlp_layers(NOT_FUSED.synthesis, 7) is None
    # ReLU after the last 1x1 layer, or a missing residual, is not v1's MLP rule.
    relu_last = (ConvLayer(24, 1), ConvLayer(3, 1, relu=True), ConvLayer(3, 3, residual=True))
    assert fused_mlp_layers(relu_last, 7) is None
    plain_same_width = (ConvLayer(7, 1), ConvLayer(3, 1, relu=False))
    assert fused_mlp_layers(plain_same_width, 7) is None
    assert fused_mlp_layers((ConvLayer(3, 1, relu=False), ConvLayer(3, 1, relu=False)), 7) is None
    wide_3x3 = (ConvLayer(65, 1, relu=False), ConvLayer(3, 3, relu=False))
    assert fused_mlp_layers(wide_3x3, 7) is None


def test_kernel_refuses_layers_that_do_not_chain():
    features, target = torch.zeros(2, 4, 5), torch.zeros(3, 20)
    mlp = [(torch.zeros(3, 2), torch.zeros(3))]
    wrong_in = [(torch.zeros(3, 4, 3, 3), torch.zeros(3), False, False)]
    with pytest.raises(RuntimeError, match="weight shape"):
        KERNELS.conv_synthesis_mse(features, target, mlp, wrong_in)
    with pytest.raises(RuntimeError, match="target shape"):
        KERNELS.conv_synthesis_mse(features, torch.zeros(3, 19), mlp, [])


def test_v2_fit_is_deterministic_and_fused_close_to_pytorch():
    cfg = dataclasses.replace(get_preset("smoke"), n_itr=60)  # impl "auto" chooses the kernels
    assert_fit_deterministic_and_close_to_pytorch(smooth_image(), V2Config(), cfg)
