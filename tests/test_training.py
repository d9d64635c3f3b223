"""Training: presets, fit() outputs, determinism, behaviour with lambda and iterations."""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from coolchic_core.errors import InputError
from coolchic_core.presets import PRESETS, ModelConfig, TrainingConfig, get_preset
from coolchic_core.training import FitResult, TrainingProgress, fit, load_model

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak"


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def kodak_crop(size: int = 32, name: str = "kodim19.png") -> np.ndarray:
    path = KODAK / name
    if path.is_file():
        from coolchic_core.image_io import read_image, rgb8_to_float

        image = rgb8_to_float(read_image(path))
        return np.ascontiguousarray(image[200 : 200 + size, 300 : 300 + size])
    rng = np.random.default_rng(3)
    base = rng.random((size // 8 + 1, size // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)
    return base[:size, :size].astype(np.float32)


def smoke(**changes) -> TrainingConfig:
    return dataclasses.replace(get_preset("smoke"), impl="torch", **changes)


def test_presets_exist_and_paper_is_the_v1_recipe():
    assert set(PRESETS) >= {"paper", "fast", "smoke"}
    paper = get_preset("paper")
    assert (paper.start_lr, paper.n_trial_warmup, paper.n_itr_warmup) == (1e-2, 5, 200)
    assert (paper.schedule, paper.quantizer, paper.eval_every) == ("plateau", "noise_ste", 100)
    assert (paper.plateau_patience, paper.plateau_factor) == (15, 0.5)
    assert (paper.ste_below_lr, paper.stop_below_lr, paper.grad_clip_norm) == (9e-4, 4e-4, 10.0)
    assert ModelConfig() == ModelConfig(7, (12, 12), (12, 12), 2)
    assert ModelConfig().n_ctx == 12


def test_unknown_preset_and_bad_values_raise_input_error():
    with pytest.raises(InputError, match="unknown preset"):
        get_preset("nope")
    with pytest.raises(InputError):
        dataclasses.replace(get_preset("fast"), schedule="linear")
    with pytest.raises(InputError):
        dataclasses.replace(get_preset("fast"), start_lr=0.0)


def test_replace_overrides():
    cfg = dataclasses.replace(get_preset("fast"), n_itr=7, start_lr=3e-3, n_trial_warmup=1)
    assert (cfg.n_itr, cfg.start_lr, cfg.n_trial_warmup) == (7, 3e-3, 1)
    assert get_preset("fast").n_itr != 7


def test_fit_outputs_have_the_documented_shapes_and_types():
    image = kodak_crop(24)[:, :21]
    seen: list[TrainingProgress] = []
    result = fit(image, 0.004, ModelConfig(), smoke(), progress=seen.append)
    assert isinstance(result, FitResult)
    assert [g.shape for g in result.latents_int] == [
        (math.ceil(24 / 2**i), math.ceil(21 / 2**i)) for i in range(7)
    ]
    assert all(g.dtype == np.int32 for g in result.latents_int)
    assert [w.shape for w, _ in result.synthesis_layers] == [(12, 7), (12, 12), (3, 12)]
    assert [w.shape for w, _ in result.arm_layers] == [(12, 12), (12, 12), (2, 12)]
    assert all(w.dtype == np.float32 and b.dtype == np.float32 for w, b in result.arm_layers)
    cfg = smoke()
    assert result.n_iterations == cfg.n_itr_planned == len(seen)
    assert seen[-1].iteration == result.n_iterations
    assert {p.phase for p in seen} == {"warmup", "main", "ste"}
    assert math.isfinite(result.est_psnr_db) and result.est_rate_latent_bpp >= 0
    buffer = io.BytesIO()
    torch.save(result.state_dict, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert loaded.keys() == result.state_dict.keys()
    model = load_model(loaded, 24, 21, ModelConfig())
    np.testing.assert_array_equal(model.latents.integers()[2].numpy(), result.latents_int[2])


def test_a_two_stage_warm_up_trains_the_survivors_further():
    cfg = dataclasses.replace(
        smoke(), n_trial_warmup=3, n_warmup_survivors=2, n_itr_warmup_survivors=4
    )
    seen: list[TrainingProgress] = []
    result = fit(kodak_crop(16), 0.004, ModelConfig(), cfg, progress=seen.append)
    warmup = [p for p in seen if p.phase == "warmup"]
    assert len(warmup) == 3 * cfg.n_itr_warmup + 2 * 4
    assert result.n_iterations == cfg.n_itr_planned == len(seen)
    one_stage = fit(kodak_crop(16), 0.004, ModelConfig(), smoke())
    assert one_stage.n_iterations == smoke().n_itr_planned
    with pytest.raises(InputError, match="n_warmup_survivors"):
        dataclasses.replace(cfg, n_warmup_survivors=4)


def test_fit_is_deterministic_for_a_seed():
    image = kodak_crop(20)
    first = fit(image, 0.001, ModelConfig(), smoke(), seed=5)
    second = fit(image, 0.001, ModelConfig(), smoke(), seed=5)
    other = fit(image, 0.001, ModelConfig(), smoke(), seed=6)
    for a, b in zip(first.latents_int, second.latents_int, strict=True):
        np.testing.assert_array_equal(a, b)
    for key, value in first.state_dict.items():
        assert torch.equal(value, second.state_dict[key]), key
    assert first.est_psnr_db == second.est_psnr_db
    assert any(not torch.equal(v, other.state_dict[k]) for k, v in first.state_dict.items())


def test_psnr_rises_with_iterations():
    image = kodak_crop(32)
    short = fit(image, 0.001, ModelConfig(), smoke(n_itr=10, n_itr_final_ste=0))
    long = fit(image, 0.001, ModelConfig(), smoke(n_itr=300, n_itr_final_ste=0))
    assert long.est_psnr_db > short.est_psnr_db + 2.0


def test_rate_falls_with_lambda():
    image = kodak_crop(32)
    low = fit(image, 0.0002, ModelConfig(), smoke(n_itr=200))
    high = fit(image, 0.05, ModelConfig(), smoke(n_itr=200))
    assert high.est_rate_latent_bpp < low.est_rate_latent_bpp
    assert high.est_psnr_db < low.est_psnr_db


def test_plateau_schedule_runs_and_stops_early():
    cfg = dataclasses.replace(
        get_preset("paper"),
        impl="torch",
        n_itr=2000,
        n_trial_warmup=1,
        n_itr_warmup=5,
        eval_every=5,
        plateau_patience=1,
        stop_below_lr=3e-3,
    )
    result = fit(kodak_crop(16), 0.004, ModelConfig(), cfg)
    assert result.n_iterations < 5 + 2000
    assert math.isfinite(result.est_psnr_db)


@pytest.mark.parametrize(
    ("height", "width", "config"),
    [
        (1, 1, ModelConfig()),
        (1, 5, ModelConfig()),
        (3, 2, ModelConfig()),
        (17, 2, ModelConfig(n_ctx_rowcol=3)),
        (13, 9, ModelConfig(3, layers_synthesis=(8,), layers_arm=(), n_ctx_rowcol=1)),
        (9, 14, ModelConfig(latent_n_grids=1, layers_synthesis=(), layers_arm=(6, 6, 4))),
    ],
)
def test_unusual_sizes_and_architectures(height, width, config):
    rng = np.random.default_rng(0)
    image = rng.random((height, width, 3), dtype=np.float32)
    result = fit(image, 0.004, config, smoke(n_itr=8, n_itr_final_ste=2))
    assert len(result.latents_int) == config.latent_n_grids
    assert len(result.synthesis_layers) == len(config.layers_synthesis) + 1
    assert len(result.arm_layers) == len(config.layers_arm) + 1
    assert result.arm_layers[0][0].shape[1] == config.n_ctx
    assert math.isfinite(result.est_psnr_db)


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 4)), np.zeros((4, 4, 4)), np.full((4, 4, 3), 2.0), np.full((4, 4, 3), np.nan)],
)
def test_bad_images_raise_input_error(image):
    with pytest.raises(InputError):
        fit(image, 0.004, ModelConfig(), smoke())


def test_bad_lambda_raises_input_error():
    with pytest.raises(InputError):
        fit(np.zeros((4, 4, 3), np.float32), -1.0, ModelConfig(), smoke())
