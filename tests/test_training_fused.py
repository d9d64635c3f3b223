"""The fused C++ kernels give the PyTorch model's losses and gradients."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from coolchic_core.model.coolchic import CoolChic, Proxy
from coolchic_core.model.fused import load
from coolchic_core.presets import ModelConfig, get_preset
from tests.fused_checks import (
    assert_fit_deterministic_and_close_to_pytorch,
    assert_fused_matches_pytorch,
    smooth_image,
)

KERNELS = load()
pytestmark = pytest.mark.skipif(KERNELS is None, reason="no C++ compiler for the fused kernels")


def random_model(height, width, config, seed=0):
    generator = torch.Generator().manual_seed(seed)
    model = CoolChic(height, width, config, generator)
    with torch.no_grad():
        for grid in model.latents.grids:
            grid.copy_(torch.randn(grid.shape, generator=generator) * 3)
        model.latents.log2_gains.zero_()
        for mlp in (model.synthesis, model.arm):
            for w, b in zip(mlp.weights, mlp.biases, strict=True):
                w.copy_(torch.randn(w.shape, generator=generator) * 0.4)
                b.copy_(torch.randn(b.shape, generator=generator) * 0.2)
    return model


@pytest.mark.parametrize(
    ("height", "width", "config"),
    [
        (37, 45, ModelConfig()),
        (1, 1, ModelConfig()),
        (5, 2, ModelConfig(n_ctx_rowcol=3)),
        (20, 33, ModelConfig(4, layers_synthesis=(8, 8, 5), layers_arm=(5,), n_ctx_rowcol=1)),
        (9, 18, ModelConfig(2, layers_synthesis=(), layers_arm=())),
    ],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_matches_pytorch(height, width, config, threads):
    model = random_model(height, width, config)
    assert_fused_matches_pytorch(model, height * width, KERNELS, threads, mse_rel=1e-4)


@pytest.mark.parametrize("size", [(1, 1), (1, 7), (5, 3), (37, 45), (64, 48)])
def test_fused_upsampling_matches_pytorch(size):
    from coolchic_core.grids import grid_shapes
    from coolchic_core.model.upsampling import upsample_cascade

    generator = torch.Generator().manual_seed(2)
    grids = [
        torch.randn(shape, generator=generator).requires_grad_() for shape in grid_shapes(*size, 7)
    ]
    weights = torch.randn((7, *size), generator=generator)
    ours = KERNELS.upsample(grids)
    reference = upsample_cascade(grids)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)
    ours_grads = torch.autograd.grad((ours * weights).sum(), grids)
    reference_grads = torch.autograd.grad((reference * weights).sum(), grids)
    for a, b in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("mode", ["ste", "noise", "softround", "round"])
def test_fused_quantizer_matches_pytorch(mode):
    from coolchic_core.model.quantizer import quantize

    model = random_model(23, 31, ModelConfig())
    with torch.no_grad():
        model.latents.log2_gains.copy_(torch.linspace(-1.0, 2.0, 7))
    proxy = Proxy(mode, temperature=0.2, noise_parameter=1.7)
    weights = [torch.randn(g.shape) for g in model.latents.grids]
    ours = KERNELS.quantize(model.latents, proxy, torch.Generator().manual_seed(4))
    # Same uniform samples, drawn at once, then cut per grid.
    uniform = torch.rand(
        sum(g.numel() for g in model.latents.grids), generator=torch.Generator().manual_seed(4)
    )
    scaled = model.latents.scaled()
    reference, start = [], 0
    for y in scaled:
        u = uniform[start : start + y.numel()].reshape(y.shape)
        start += y.numel()
        if mode == "noise":
            reference.append(y + u - 0.5)
        elif mode == "softround":
            a, b = 1.7, (2**1.7 * 0.7 + 1) / 1.7
            noise = (1 - (1 - u) ** (1 / b)) ** (1 / a) - 0.5
            reference.append(soft_round_twice(y, noise, 0.2))
        else:
            reference.append(quantize(y, mode))
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)
    if mode == "round":
        return
    params = [*model.latents.grids, model.latents.log2_gains]

    def weighted(latents):
        return sum((w * y).sum() for w, y in zip(weights, latents, strict=True))

    ours_grads = torch.autograd.grad(weighted(ours), params)
    ref_grads = torch.autograd.grad(weighted(reference), params)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)


def soft_round_twice(y, noise, temperature):
    from coolchic_core.model.quantizer import soft_round

    return soft_round(soft_round(y, temperature) + noise, temperature)


def test_fit_with_fused_kernels_is_deterministic_and_close_to_pytorch():
    cfg = dataclasses.replace(get_preset("smoke"), impl="cpp", n_itr=60)
    assert_fit_deterministic_and_close_to_pytorch(smooth_image(), ModelConfig(), cfg)
