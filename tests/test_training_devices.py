"""Device plumbing of training on the CPU: the bytes come from the CPU whatever trained the
model, the fused kernels only on the CPU, and a CUDA graph's static inputs give the eager step."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from coolchic_core import formats
from coolchic_core.cuda_graphs import StaticInputs, TrainingState
from coolchic_core.encoder import write_on_cpu
from coolchic_core.errors import InputError
from coolchic_core.model.coolchic import Proxy
from coolchic_core.presets import ModelConfig, get_preset
from coolchic_core.training import (
    FitResult,
    TrainingSession,
    fit,
    image_to_target,
    load_model,
    select_kernels,
)


def _image(size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(5)
    base = rng.random((size // 4 + 1, size // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)
    return base[:size, :size].astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> FitResult:
    cfg = dataclasses.replace(get_preset("smoke"), impl="torch", n_itr=20)
    return fit(_image(), 0.002, ModelConfig(), cfg, seed=2, device="cpu")


def _from_state(state: dict, device: str) -> FitResult:
    """What `fit` returns for a model with these parameters that lives on `device`."""
    model = load_model(state, 24, 24, ModelConfig()).to(device)
    return FitResult(
        latents_int=[y.cpu().numpy() for y in model.latents.integers()],
        synthesis_layers=model.synthesis.layers_numpy(),
        arm_layers=model.arm.layers_numpy(),
        n_iterations=0,
        training_time_s=0.0,
        est_rate_latent_bpp=0.0,
        est_psnr_db=0.0,
        est_loss=0.0,
        state_dict=state,
    )


def test_same_parameters_same_bytes_whatever_the_default_device(fitted):
    """The MLP quantization, the fixed-point ARM and the entropy coder run on the CPU from
    numpy arrays: torch's default device (here 'meta', where nothing can be computed) is
    not used, and the parameters rebuilt from the state_dict give the same bytes."""
    original, v1 = _image(), formats.get("v1")
    reference, estimates = write_on_cpu(v1, fitted, original, 0.002, ModelConfig(), False)
    rebuilt = _from_state(fitted.state_dict, "cpu")
    for ours, theirs in zip(rebuilt.latents_int, fitted.latents_int, strict=True):
        assert np.array_equal(ours, theirs)
    with torch.device("meta"):
        again, again_estimates = write_on_cpu(v1, rebuilt, original, 0.002, ModelConfig(), False)
    assert again == reference and again_estimates == estimates


def test_fused_kernels_are_the_cpu_backend_only():
    cfg = get_preset("smoke")
    assert select_kernels(dataclasses.replace(cfg, impl="torch"), ModelConfig(), "cpu") is None
    assert select_kernels(cfg, ModelConfig(), "cuda:0") is None
    with pytest.raises(InputError, match="fused CPU kernels"):
        select_kernels(dataclasses.replace(cfg, impl="cpp"), ModelConfig(), "cuda:0")


def test_fit_result_names_device_and_backend(fitted):
    assert (fitted.device, fitted.backend, fitted.impl) == ("cpu", "torch", "torch")
    assert fitted.device_name


def _session(seed: int) -> TrainingSession:
    cfg = dataclasses.replace(get_preset("smoke"), impl="torch")
    generator = torch.Generator().manual_seed(seed)
    return TrainingSession(image_to_target(_image()), 0.002, ModelConfig(), cfg, generator, None)


@pytest.mark.parametrize(
    "proxy",
    [Proxy("noise"), Proxy("ste"), Proxy("softround", 0.25, 2.0), Proxy("softround", 0.3, 1.0)],
)
def test_static_inputs_give_the_eager_step(proxy):
    """What a CUDA graph replays (noise drawn beforehand grid by grid, temperature and noise
    parameter as tensors, learning rate as a tensor) is the eager step, on the CPU."""
    eager, static = _session(7), _session(7)
    model = eager.new_model(24, 24)
    twin = copy.deepcopy(model)
    for session in (eager, static):
        session.noise_generator.manual_seed(11)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=torch.tensor(1e-2), foreach=False)
    inputs = StaticInputs(twin.latents.sizes, proxy.mode, torch.device("cpu"))
    for lr in (1e-2, 5e-3, 2e-3):
        for group in optimizer.param_groups:
            group["lr"] = lr
        expected = eager.train_step(model, optimizer, proxy)
        inputs.fill(proxy, static.noise_generator)
        twin_optimizer.param_groups[0]["lr"].fill_(lr)
        got = static.train_step(twin, twin_optimizer, inputs.proxy, inputs.uniforms)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(twin.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_training_state_restores_parameters_and_resets_fresh_optimizer_state():
    session = _session(1)
    model = session.new_model(24, 24)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    addresses = [p.data_ptr() for p in model.parameters()]
    state = TrainingState(model, optimizer)
    for _ in range(3):
        session.train_step(model, optimizer, Proxy("noise"))
    assert any(not torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))
    state.restore()
    assert [p.data_ptr() for p in model.parameters()] == addresses
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)
    for entry in optimizer.state.values():
        assert float(entry["step"]) == 0 and not entry["exp_avg"].any()
