"""Checks shared by the tests of the fused kernels of v1 and v2 against their PyTorch models."""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from coolchic_core.model.coolchic import Proxy


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to `n` inside the block, restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def loss_and_grads(model, target, kernels, mode="ste"):
    """(MSE, rate in bits, every parameter's gradient) of a step on `kernels` (None: PyTorch)."""
    model.kernels = kernels
    model.zero_grad()
    out = model(target, Proxy(mode), torch.Generator().manual_seed(5))
    (out.mse + 0.01 * out.rate_bits).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return float(out.mse.detach()), float(out.rate_bits.detach()), grads


def assert_fused_matches_pytorch(model, n_pixels: int, kernels, threads: int, mse_rel: float):
    """The kernels' loss and gradients are PyTorch's (float32 sums in another order)."""
    target = torch.rand(3, n_pixels, generator=torch.Generator().manual_seed(1))
    with torch_threads(threads):
        mse_t, rate_t, grads_t = loss_and_grads(model, target, None)
        mse_f, rate_f, grads_f = loss_and_grads(model, target, kernels)
    assert mse_f == pytest.approx(mse_t, rel=mse_rel)
    assert rate_f == pytest.approx(rate_t, rel=1e-4)
    for name, grad in grads_t.items():
        # float32 differences (expm1, the p = CDF - CDF cancellation) stay ~1e-4.
        error = float((grads_f[name] - grad).norm()) / (float(grad.norm()) + 1e-12)
        assert error < 2e-3, name


def smooth_image(height: int = 24, width: int = 40) -> np.ndarray:
    """A flat colour with a little noise, (height, width, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.random((1, 1, 3)) + 0.1 * rng.standard_normal((height, width, 3)), 0, 1)
    return image.astype(np.float32)


def assert_fit_deterministic_and_close_to_pytorch(image, model_config, cfg) -> None:
    """Two fits on the kernels (2 threads) give the same parameters, near PyTorch's PSNR."""
    from coolchic_core.training import fit

    with torch_threads(2):  # two parts: the order of the partial sums is exercised
        first = fit(image, 0.003, model_config, cfg, seed=3)
        second = fit(image, 0.003, model_config, cfg, seed=3)
    assert first.impl == "cpp" and first.backend == "fused-cpp"
    for key, value in first.state_dict.items():
        assert torch.equal(value, second.state_dict[key]), key
    torch_cfg = dataclasses.replace(cfg, impl="torch")
    with torch_threads(1):
        reference = fit(image, 0.003, model_config, torch_cfg, seed=3)
        reference_again = fit(image, 0.003, model_config, torch_cfg, seed=3)
    assert reference.impl == "torch"
    for key, value in reference.state_dict.items():
        assert torch.equal(value, reference_again.state_dict[key]), key
    assert abs(first.est_psnr_db - reference.est_psnr_db) < 1.0
