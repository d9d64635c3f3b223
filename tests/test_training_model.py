"""The training model computes what the format spec (sections 4-7) says the decoder computes.

An independent numpy version of the spec checks fit()'s estimates.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coolchic_core.model.arm import causal_context
from coolchic_core.model.quantizer import kumaraswamy_noise, quantize, soft_round
from coolchic_core.presets import ModelConfig, get_preset
from coolchic_core.training import fit


def spec_context(grid: np.ndarray, n: int) -> np.ndarray:
    """(h*w, 2n(n+1)) context by the spec's definition, one position at a time."""
    height, width = grid.shape
    rows = []
    for r in range(height):
        for c in range(width):
            window = [(r + dr, c + dc) for dr in range(-n, 0) for dc in range(-n, n + 1)]
            window += [(r, c + dc) for dc in range(-n, 0)]
            rows.append(
                [grid[i, j] if 0 <= i < height and 0 <= j < width else 0.0 for i, j in window]
            )
    return np.array(rows, dtype=np.float64).reshape(height * width, -1)


def spec_mlp(x: np.ndarray, layers) -> np.ndarray:
    """x (P, in) through the spec's MLP: residual hidden layers when in == out, ReLU."""
    for index, (weight, bias) in enumerate(layers):
        y = x @ weight.astype(np.float64).T + bias
        last = index == len(layers) - 1
        if not last and weight.shape[0] == weight.shape[1]:
            y = y + x
        x = y if last else np.maximum(y, 0.0)
    return x


def spec_rate_bits(y, mu, log_scale) -> np.ndarray:
    scale = np.exp(-0.5 * np.clip(log_scale, -10.0, 13.8155))

    def cdf(x):
        return 0.5 + 0.5 * np.sign(x - mu) * (1.0 - np.exp(-np.abs(x - mu) / scale))

    return -np.log2(np.maximum(cdf(y + 0.5) - cdf(y - 0.5), 2.0**-16))


def spec_synthesis(latents: list[np.ndarray], layers) -> np.ndarray:
    up = torch.from_numpy(latents[-1].astype(np.float32))[None, None]
    for grid in reversed(latents[:-1]):
        up = F.interpolate(up, size=grid.shape, mode="bicubic", align_corners=False)
        up = torch.cat([torch.from_numpy(grid.astype(np.float32))[None, None], up], dim=1)
    features = up[0].reshape(len(latents), -1).numpy().T.astype(np.float64)
    return np.clip(spec_mlp(features, layers), 0.0, 1.0)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (6, 3), (7, 8)])
def test_causal_context_follows_the_spec(n, shape):
    grid = np.arange(1, shape[0] * shape[1] + 1, dtype=np.float32).reshape(shape)
    ours = causal_context(torch.from_numpy(grid), n).numpy().T
    np.testing.assert_array_equal(ours, spec_context(grid, n))


@pytest.mark.parametrize(
    "config",
    [ModelConfig(), ModelConfig(4, layers_synthesis=(9, 9, 5), layers_arm=(5,), n_ctx_rowcol=1)],
)
def test_fit_estimates_match_an_independent_spec_implementation(config):
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    image = np.clip(rng.random((1, 1, 3)) + 0.1 * rng.standard_normal((19, 23, 3)), 0, 1).astype(
        np.float32
    )
    cfg = dataclasses.replace(get_preset("smoke"), impl="torch", n_itr=60)
    result = fit(image, 0.002, config, cfg)
    latents = [g.astype(np.float64) for g in result.latents_int]
    assert any(np.any(g != 0) for g in latents), "training should move the latents"
    n = config.n_ctx_rowcol
    rate_bits = 0.0
    for grid in latents:
        out = spec_mlp(spec_context(grid, n), result.arm_layers)
        rate_bits += spec_rate_bits(grid.reshape(-1), out[:, 0], out[:, 1]).sum()
    assert rate_bits / (19 * 23) == pytest.approx(result.est_rate_latent_bpp, rel=1e-4)
    decoded = spec_synthesis(latents, result.synthesis_layers).reshape(19, 23, 3)
    mse = np.mean((decoded - image.astype(np.float64)) ** 2)
    assert 10 * np.log10(1 / mse) == pytest.approx(result.est_psnr_db, abs=1e-3)


def test_soft_round_keeps_integers_and_tends_to_rounding():
    y = torch.tensor([-2.0, -1.0, 0.0, 3.0, 0.2, 0.7, -1.3])
    np.testing.assert_allclose(soft_round(y, 0.3)[:4].numpy(), y[:4].numpy(), atol=1e-6)
    hard = soft_round(y, 0.01)
    np.testing.assert_allclose(hard.numpy(), torch.round(y).numpy(), atol=1e-4)
    soft = soft_round(y, 0.3)
    assert torch.all((soft[4:] - torch.round(y[4:])).abs() < (y[4:] - torch.round(y[4:])).abs())


def test_noise_is_bounded_and_uniform_at_parameter_one():
    generator = torch.Generator().manual_seed(0)
    uniform = kumaraswamy_noise(torch.Size([100_000]), 1.0, generator)
    peaked = kumaraswamy_noise(torch.Size([100_000]), 2.0, generator)
    assert uniform.min() >= -0.5 and uniform.max() <= 0.5
    assert abs(float(uniform.var()) - 1 / 12) < 2e-3
    assert peaked.min() >= -0.5 and peaked.max() <= 0.5
    assert float(peaked.var()) < float(uniform.var())


def test_straight_through_rounds_forward_and_passes_gradients():
    y = torch.tensor([0.4, 1.6, -2.5], requires_grad=True)
    out = quantize(y, "ste")
    np.testing.assert_array_equal(out.detach().numpy(), torch.round(y).detach().numpy())
    out.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.ones(3, np.float32))
