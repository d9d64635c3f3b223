"""The optimizer of a fit (coolchic_core.optimizers): groups, factors, SOAP, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from coolchic_core.encoder import encode
from coolchic_core.errors import InputError
from coolchic_core.model.coolchic import CoolChic
from coolchic_core.optimizers import (
    SplitOptimizer,
    latent_lr_factor_at,
    make_optimizer,
    set_learning_rate,
)
from coolchic_core.presets import ModelConfig, get_preset
from coolchic_core.training import fit
from tests.test_training import kodak_crop, one_thread, smoke  # noqa: F401  (fixture)


def model() -> CoolChic:
    return CoolChic(16, 16, ModelConfig(), torch.Generator().manual_seed(0))


def ids(params) -> set[int]:
    return {id(p) for p in params}


def test_default_is_one_adam_over_every_parameter():
    m = model()
    optimizer = make_optimizer(m, 1e-2)
    assert isinstance(optimizer, torch.optim.Adam)
    grouped = [p for group in optimizer.param_groups for p in group["params"]]
    assert ids(grouped) == ids(m.parameters()) and len(grouped) == len(list(m.parameters()))


def test_soap_takes_the_mlps_and_adam_the_latents():
    m = model()
    cfg = dataclasses.replace(get_preset("smoke"), mlp_optimizer="soap")
    optimizer = make_optimizer(m, 1e-2, cfg)
    assert isinstance(optimizer, SplitOptimizer)
    adam, soap = optimizer.optimizers
    assert isinstance(adam, torch.optim.Adam) and type(soap).__name__ == "SOAP"
    assert ids(adam.param_groups[0]["params"]) == ids(m.latents.parameters())
    mlps = list(m.synthesis.parameters()) + list(m.arm.parameters())
    assert ids(soap.param_groups[0]["params"]) == ids(mlps)


def test_learning_rate_factors_scale_each_group():
    m = model()
    cfg = dataclasses.replace(get_preset("smoke"), latent_lr_factor=2.0, mlp_lr_factor=0.5)
    for name in ("adam", "soap"):
        optimizer = make_optimizer(m, 1e-2, dataclasses.replace(cfg, mlp_optimizer=name))
        set_learning_rate(optimizer, 4e-3)
        lrs = [group["lr"] for group in optimizer.param_groups]
        assert lrs == pytest.approx([8e-3, 2e-3]), name


def test_bad_optimizer_settings_raise_input_error():
    with pytest.raises(InputError, match="mlp_optimizer"):
        dataclasses.replace(get_preset("fast"), mlp_optimizer="sgd")
    with pytest.raises(InputError, match="factor"):
        dataclasses.replace(get_preset("fast"), latent_lr_factor=0.0)
    with pytest.raises(InputError, match="factor"):
        dataclasses.replace(get_preset("fast"), mlp_lr_factor=-1.0)


def test_soap_fit_is_deterministic_trains_and_differs_from_adam():
    image = kodak_crop(24)
    first = fit(image, 0.001, ModelConfig(), smoke(mlp_optimizer="soap"), seed=3)
    second = fit(image, 0.001, ModelConfig(), smoke(mlp_optimizer="soap"), seed=3)
    adam = fit(image, 0.001, ModelConfig(), smoke(), seed=3)
    for key, value in first.state_dict.items():
        assert torch.equal(value, second.state_dict[key]), key
    assert any(not torch.equal(v, adam.state_dict[k]) for k, v in first.state_dict.items())
    short = fit(image, 0.001, ModelConfig(), smoke(mlp_optimizer="soap", n_itr=5), seed=3)
    assert first.est_loss < short.est_loss


def test_soap_encode_gives_the_same_bytes_twice():
    rgb8 = (kodak_crop(24) * 255).round().astype(np.uint8)
    first = encode(rgb8, 0.002, preset="smoke", impl="torch", mlp_optimizer="soap")
    second = encode(rgb8, 0.002, preset="smoke", impl="torch", mlp_optimizer="soap")
    assert first.bitstream == second.bitstream
    assert first.decoded.rate_bpp > 0


def test_fast_and_medium_budgets_and_optimizer():
    fast, medium = get_preset("fast"), get_preset("medium")
    assert fast.n_itr_planned == 3 * 100 + 2700 + 300  # 150 s at ~40 ms per 768x512 iteration
    assert fast.n_itr_planned < medium.n_itr_planned <= 4 * fast.n_itr_planned
    assert fast.mlp_optimizer == medium.mlp_optimizer == "soap"
    assert (fast.schedule, fast.quantizer) == (medium.schedule, medium.quantizer)


def test_latent_factor_grows_as_lambda_falls():
    cfg = dataclasses.replace(get_preset("smoke"), latent_lr_factor=1.5, latent_lr_exponent=0.5)
    assert latent_lr_factor_at(cfg, 0.08) == 1.5  # above the reference lambda: constant
    assert latent_lr_factor_at(cfg, 0.02) == 1.5
    assert latent_lr_factor_at(cfg, 0.005) == pytest.approx(1.5 * 2.0)
    assert latent_lr_factor_at(cfg, 0.00125) == pytest.approx(1.5 * 4.0)
    optimizer = make_optimizer(model(), 1e-2, cfg, lmbda=0.005)
    assert [g["lr_factor"] for g in optimizer.param_groups] == pytest.approx([3.0, 1.0])
    with pytest.raises(InputError, match="latent_lr_exponent"):
        dataclasses.replace(cfg, latent_lr_exponent=-1.0)


def test_fast_latent_factor_at_the_paper_lambdas():
    fast = get_preset("fast")
    factors = [latent_lr_factor_at(fast, x) for x in (0.02, 0.004, 0.0005, 0.0001)]
    assert factors == pytest.approx([1.0, 5**0.4, 40**0.4, 200**0.4])


@pytest.mark.parametrize(("ste_factor", "expected"), [(None, 3.0), (0.7, 0.7)])
def test_the_final_straight_through_phase_takes_its_own_latent_factor(
    monkeypatch, ste_factor, expected
):
    import coolchic_core.training as training

    factors = []

    def recording(model, lr, cfg=None, lmbda=None):
        optimizer = make_optimizer(model, lr, cfg, lmbda)
        factors.append(optimizer.param_groups[0]["lr_factor"])  # the latents' group
        return optimizer

    monkeypatch.setattr(training, "make_optimizer", recording)
    cfg = dataclasses.replace(
        get_preset("smoke"),
        latent_lr_factor=1.5,
        latent_lr_exponent=0.5,
        final_ste_latent_lr_factor=ste_factor,
    )
    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    fit(image, 0.005, ModelConfig(), cfg, seed=0)
    assert factors[:-1] == pytest.approx([3.0] * (len(factors) - 1))  # warm-up, main phase
    assert factors[-1] == pytest.approx(expected)
    with pytest.raises(InputError, match="factors must be > 0"):
        dataclasses.replace(cfg, final_ste_latent_lr_factor=0.0)


@pytest.mark.parametrize(
    ("warmup_optimizer", "expected"), [(None, "SplitOptimizer"), ("adam", "Adam")]
)
def test_the_warm_up_trials_take_their_own_mlp_optimizer(monkeypatch, warmup_optimizer, expected):
    import coolchic_core.training as training

    kinds = []

    def recording(model, lr, cfg=None, lmbda=None):
        optimizer = make_optimizer(model, lr, cfg, lmbda)
        kinds.append(type(optimizer).__name__)
        return optimizer

    monkeypatch.setattr(training, "make_optimizer", recording)
    cfg = smoke(mlp_optimizer="soap", warmup_mlp_optimizer=warmup_optimizer)
    fit(np.random.default_rng(0).random((16, 16, 3)).astype(np.float32), 0.005, ModelConfig(), cfg)
    # One optimizer per warm-up trial, then the main and the final phases': SOAP for the MLPs.
    assert kinds == [expected] * cfg.n_trial_warmup + ["SplitOptimizer"] * 2
    with pytest.raises(InputError, match="warmup_mlp_optimizer"):
        dataclasses.replace(cfg, warmup_mlp_optimizer="sgd")


def test_a_grid_factor_scales_that_grid_alone():
    m = model()
    cfg = dataclasses.replace(
        get_preset("smoke"), latent_lr_factor=1.5, latent_grid_lr_factors=(2.0, 0.5)
    )
    for name in ("adam", "soap"):
        optimizer = make_optimizer(m, 1e-2, dataclasses.replace(cfg, mlp_optimizer=name))
        groups = optimizer.param_groups
        assert [g["lr_factor"] for g in groups] == pytest.approx([3.0, 0.75, 1.5, 1.0]), name
        assert groups[0]["params"] == [m.latents.grids[0]]
        assert groups[1]["params"] == [m.latents.grids[1]]
        rest = list(m.latents.grids[2:]) + [m.latents.log2_gains]
        assert ids(groups[2]["params"]) == ids(rest) and len(groups[2]["params"]) == len(rest)
    with pytest.raises(InputError, match="factors must be > 0"):
        dataclasses.replace(cfg, latent_grid_lr_factors=(1.0, 0.0))
