"""Overfitting one image: `fit(image, lmbda, model_config, training_config)`.

The loss is J = MSE + lambda * R / (H * W), R the rate of the latents in
bits under the ARM. The schedule follows the TrainingConfig (see presets):
warm-up trials, a main phase (v1 plateau schedule or cosine decay) and an
optional final straight-through phase. The model kept is the one with the
lowest loss evaluated with true rounding. Progress goes to a callback;
nothing is printed.

The device is a parameter (`coolchic_core.devices`): latents, networks,
optimizer and loss live on it. The backend is chosen per device: the fused
C++ kernels (`model.fused`) on the CPU, the PyTorch model elsewhere, on CUDA
with deterministic algorithms and its training step replayed as a CUDA graph
(`cuda_graphs`). The model is initialised on the CPU, so a seed starts from
the same weights on every device; the training noise is drawn on the device.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from coolchic_core import devices
from coolchic_core.errors import InputError
from coolchic_core.metrics import psnr_db_from_mse
from coolchic_core.model.allocator import keep_freed_memory
from coolchic_core.model.coolchic import CoolChic, Proxy
from coolchic_core.optimizers import make_optimizer, set_learning_rate
from coolchic_core.presets import ModelConfig, TrainingConfig

logger = logging.getLogger(__name__)


@dataclass
class TrainingProgress:
    """One training iteration, as reported to the progress callback."""

    iteration: int
    n_iterations: int
    phase: str
    loss: float
    psnr_db: float
    rate_bpp: float
    learning_rate: float


@dataclass
class FitResult:
    """The trained model: sent latents, float MLPs, estimates and a state_dict."""

    latents_int: list[np.ndarray]
    synthesis_layers: list[tuple[np.ndarray, np.ndarray]]
    arm_layers: list[tuple[np.ndarray, np.ndarray]]
    n_iterations: int
    training_time_s: float
    est_rate_latent_bpp: float
    est_psnr_db: float
    est_loss: float
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    impl: str = "torch"
    device: str = "cpu"
    device_name: str = ""
    backend: str = "torch"


@dataclass
class _Evaluation:
    loss: float
    mse: float
    rate_bits: float


# On CUDA, progress is reported every this many iterations (each report waits for the GPU).
CUDA_PROGRESS_EVERY = 25


class TrainingSession:
    """State shared by the phases of one fit: image, lambda, generators, counters.

    `generator` (CPU) initialises the models; `noise_generator` (on the
    target's device; the same object on the CPU) draws the training noise.
    `graphs` (a `cuda_graphs.StepGraphs`, or None) replays the step on CUDA.
    Public for the speed bench, which times `step` alone.
    """

    def __init__(self, target, lmbda, model_config, training_config, generator, progress, seed=0):
        self.target = target
        self.lmbda = lmbda
        self.model_config = model_config
        self.cfg = training_config
        self.generator = generator
        self.device = str(target.device)
        self.noise_generator = generator
        if target.device.type != "cpu":
            self.noise_generator = torch.Generator(device=target.device).manual_seed(int(seed))
        self.progress = progress
        self.n_pixels = target.shape[1]
        self.iteration = 0
        self.kernels = None
        self.graphs = None

    @property
    def backend(self) -> str:
        """fused-cpp (CPU kernels), torch-cudagraph (replayed step) or torch (eager)."""
        if self.kernels is not None:
            return "fused-cpp"
        if self.graphs is not None and self.graphs.failed is None:
            return "torch-cudagraph"
        return "torch"

    def new_model(self, height: int, width: int) -> CoolChic:
        model = self.model_config.training_model(height, width, self.generator)
        model = model.to(self.target.device)
        model.kernels = self.kernels
        return model

    def loss_of(self, mse: torch.Tensor, rate_bits: torch.Tensor) -> torch.Tensor:
        return mse + self.lmbda * rate_bits / self.n_pixels

    @torch.no_grad()
    def evaluate(self, model: CoolChic) -> _Evaluation:
        out = model(self.target, Proxy("round"))
        loss = self.loss_of(out.mse, out.rate_bits)
        return _Evaluation(float(loss), float(out.mse), float(out.rate_bits))

    def step(self, model, optimizer, proxy: Proxy, lr: float, phase: str) -> None:
        """One iteration: forward with the proxy, backward, clip, optimizer step."""
        if self.graphs is not None:
            loss, mse, rate_bits = self.graphs.step(model, optimizer, proxy, lr)
        else:
            set_learning_rate(optimizer, lr)
            loss, mse, rate_bits = self.train_step(model, optimizer, proxy)
        self.iteration += 1
        if self.progress is None:
            return
        if self.device != "cpu" and self.iteration % CUDA_PROGRESS_EVERY:
            return
        self.progress(
            TrainingProgress(
                iteration=self.iteration,
                n_iterations=self.cfg.n_itr_planned,
                phase=phase,
                loss=float(loss),
                psnr_db=psnr_db_from_mse(float(mse)),
                rate_bpp=float(rate_bits) / self.n_pixels,
                learning_rate=lr,
            )
        )

    def train_step(self, model, optimizer, proxy: Proxy, uniforms=None):
        """Forward, backward, clip, optimizer step; (loss, mse, rate_bits) as detached tensors.

        No host synchronisation: `cuda_graphs` captures this function as is.
        """
        optimizer.zero_grad(set_to_none=True)
        out = model(self.target, proxy, self.noise_generator, uniforms=uniforms)
        loss = self.loss_of(out.mse, out.rate_bits)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.cfg.grad_clip_norm)
        optimizer.step()
        return loss.detach(), out.mse.detach(), out.rate_bits.detach()


class _Best:
    """The best model seen so far, by loss evaluated with rounding."""

    def __init__(self, model: CoolChic, evaluation: _Evaluation) -> None:
        self.evaluation = evaluation
        self.state = copy.deepcopy(model.state_dict())

    def offer(self, model: CoolChic, evaluation: _Evaluation) -> bool:
        if evaluation.loss < self.evaluation.loss:
            self.evaluation = evaluation
            self.state = copy.deepcopy(model.state_dict())
            return True
        return False

    def restore(self, model: CoolChic) -> None:
        model.load_state_dict(self.state)


def _interpolate(bounds: tuple[float, float], fraction: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * min(max(fraction, 0.0), 1.0)


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))


def _main_proxy(cfg: TrainingConfig, fraction: float, lr: float) -> Proxy:
    """Proxy of the main phase at `fraction` of it, with learning rate `lr`."""
    if cfg.quantizer == "noise_ste":
        return Proxy("ste") if lr < cfg.ste_below_lr else Proxy("noise")
    return Proxy(
        "softround",
        temperature=_interpolate(cfg.softround_temperature, fraction),
        noise_parameter=_interpolate(cfg.noise_parameter, fraction),
    )


def _warmup(session: TrainingSession, height: int, width: int) -> CoolChic:
    """Train `n_trial_warmup` fresh models briefly (then the survivors more); return the best."""
    cfg = session.cfg
    if cfg.n_trial_warmup == 0:
        return session.new_model(height, width)
    trials = [_warmup_trial(session, height, width) for _ in range(cfg.n_trial_warmup)]
    for index, (loss, _, _) in enumerate(trials):
        logger.debug("warm-up trial %d: loss %.6g", index, loss)
    if cfg.n_warmup_survivors > 0:
        survivors = sorted(trials, key=lambda trial: trial[0])[: cfg.n_warmup_survivors]
        trials = [
            _train_on(session, model, opt, cfg.n_itr_warmup_survivors)
            for _, model, opt in survivors
        ]
    return min(trials, key=lambda trial: trial[0])[1]


def _warmup_trial(session: TrainingSession, height: int, width: int):
    """(loss, model, optimizer) of a fresh model after `n_itr_warmup` iterations."""
    model = session.new_model(height, width)
    optimizer = make_optimizer(
        model, session.cfg.start_lr, _warmup_config(session.cfg), session.lmbda
    )
    return _train_on(session, model, optimizer, session.cfg.n_itr_warmup)


def _train_on(session: TrainingSession, model: CoolChic, optimizer, n_itr: int):
    """(loss, model, optimizer) after `n_itr` warm-up iterations at the starting settings."""
    cfg = session.cfg
    proxy = _main_proxy(cfg, 0.0, cfg.start_lr)
    for _ in range(n_itr):
        session.step(model, optimizer, proxy, cfg.start_lr, "warmup")
    return session.evaluate(model).loss, model, optimizer


def _warmup_config(cfg: TrainingConfig) -> TrainingConfig:
    """The configuration whose optimizer the warm-up trials use (their MLPs' own optimizer).

    SOAP adapts the synthesis within a few steps: on some initialisations it
    learns to ignore the finest latent grid, still all zeros and masked by the
    training noise, before that grid carries anything, and the trial that
    dropped it has the lowest loss after the warm-up (docs/encoder.md, "The
    warm-up's optimizer").
    """
    if cfg.warmup_mlp_optimizer is None:
        return cfg
    return dataclasses.replace(cfg, mlp_optimizer=cfg.warmup_mlp_optimizer)


def _main_plateau(session: TrainingSession, model: CoolChic, best: _Best) -> None:
    """COOL-CHIC v1: ReduceLROnPlateau on the evaluated loss, back to the best on each cut."""
    cfg = session.cfg
    lr, n_bad = cfg.start_lr, 0
    optimizer = make_optimizer(model, lr, cfg, session.lmbda)
    for index in range(cfg.n_itr):
        session.step(model, optimizer, _main_proxy(cfg, 0.0, lr), lr, "main")
        if (index + 1) % cfg.eval_every:
            continue
        evaluation = session.evaluate(model)
        # ReduceLROnPlateau's default relative threshold (1e-4) decides "better".
        if evaluation.loss < best.evaluation.loss * (1.0 - 1e-4):
            n_bad = 0
        else:
            n_bad += 1
        best.offer(model, evaluation)
        if n_bad > cfg.plateau_patience:
            lr, n_bad = lr * cfg.plateau_factor, 0
            best.restore(model)
            logger.debug("iteration %d: learning rate cut to %.3g", session.iteration, lr)
        if lr < cfg.stop_below_lr:
            break


def _main_cosine(session: TrainingSession, model: CoolChic, best: _Best) -> None:
    """Cosine decay from start_lr to end_lr over n_itr iterations (C3, Cool-chic 3)."""
    cfg = session.cfg
    optimizer = make_optimizer(model, cfg.start_lr, cfg, session.lmbda)
    for index in range(cfg.n_itr):
        fraction = index / max(cfg.n_itr, 1)
        lr = _cosine(cfg.start_lr, cfg.end_lr, fraction)
        session.step(model, optimizer, _main_proxy(cfg, fraction, lr), lr, "main")
        if (index + 1) % cfg.eval_every == 0 or index + 1 == cfg.n_itr:
            best.offer(model, session.evaluate(model))


def _final_ste(session: TrainingSession, model: CoolChic, best: _Best) -> None:
    """Straight-through rounding at a small, cosine-decayed learning rate (C3's second stage)."""
    cfg = session.cfg
    if cfg.n_itr_final_ste == 0:
        return
    best.restore(model)
    optimizer = make_optimizer(model, cfg.final_ste_lr, _final_ste_config(cfg), session.lmbda)
    for index in range(cfg.n_itr_final_ste):
        lr = _cosine(cfg.final_ste_lr, 0.0, index / cfg.n_itr_final_ste)
        session.step(model, optimizer, Proxy("ste"), lr, "ste")
        if (index + 1) % cfg.eval_every == 0 or index + 1 == cfg.n_itr_final_ste:
            best.offer(model, session.evaluate(model))


def _final_ste_config(cfg: TrainingConfig) -> TrainingConfig:
    """The configuration whose optimizer the final phase uses (its latents' own factor)."""
    if cfg.final_ste_latent_lr_factor is None:
        return cfg
    return dataclasses.replace(
        cfg, latent_lr_factor=cfg.final_ste_latent_lr_factor, latent_lr_exponent=0.0
    )


def image_to_target(image: np.ndarray) -> torch.Tensor:
    """The (3, H * W) float32 tensor the model is trained against."""
    array = _check_image(image)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).reshape(3, -1)


def _check_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise InputError(f"image must have shape (H, W, 3), got {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
        raise InputError("image samples must be finite floats in [0, 1]")
    return array


def select_kernels(cfg: TrainingConfig, model_config: ModelConfig, device: str = "cpu"):
    """The fused kernels of `coolchic_core.model.fused` if wanted, available and on the CPU.

    On the CPU, freed memory is kept for reuse whichever implementation trains
    (`model.allocator`: the PyTorch v2 step, 563 ms, took 478 ms with it).
    """
    if device == "cpu":
        keep_freed_memory()
    if cfg.impl == "torch" or not model_config.uses_fused_kernels:
        return None
    if device != "cpu":
        if cfg.impl == "cpp":
            raise InputError(f"impl 'cpp' (the fused CPU kernels) cannot train on {device}")
        return None
    from coolchic_core.model import fused

    kernels = fused.load(model_config, required=cfg.impl == "cpp")
    if kernels is None:
        logger.info("fused kernels unavailable, using the PyTorch implementation")
    return kernels


def fit(
    image: np.ndarray,
    lmbda: float,
    model_config: ModelConfig,
    training_config: TrainingConfig,
    seed: int = 0,
    progress: Callable[[TrainingProgress], None] | None = None,
    device: str = "cpu",
    cuda_graphs: str = "auto",
) -> FitResult:
    """Overfit a COOL-CHIC v1 model to `image` (H, W, 3) floats in [0, 1] at rate weight `lmbda`.

    `device`: cpu (default), auto or cuda:N (see `coolchic_core.devices`;
    `encode` and the CLI default to auto).
    `cuda_graphs`: "auto" replays the training step as a CUDA graph on CUDA
    (eager PyTorch if the capture fails), "off" always runs it eagerly.
    """
    device = devices.resolve_device(device)
    if cuda_graphs not in ("auto", "off"):
        raise InputError(f"cuda_graphs must be auto or off, got {cuda_graphs!r}")
    if not (lmbda >= 0.0 and math.isfinite(lmbda)):
        raise InputError(f"lmbda must be a finite number >= 0, got {lmbda}")
    start = time.perf_counter()
    target = image_to_target(image)
    with devices.training_context(device):
        session = _open_session(
            target.to(device), lmbda, model_config, training_config, seed, progress, cuda_graphs
        )
        model = _train(session, *np.shape(image)[:2])
        return _result(session, model, time.perf_counter() - start)


def _open_session(target, lmbda, model_config, training_config, seed, progress, cuda_graphs):
    """The session of one fit on the target's device, its backend chosen and logged."""
    generator = torch.Generator().manual_seed(int(seed))
    session = TrainingSession(
        target, lmbda, model_config, training_config, generator, progress, seed
    )
    session.kernels = select_kernels(training_config, model_config, session.device)
    # CUDA graphs capture Adam alone (capturable=True); SOAP steps run eagerly.
    adam_only = training_config.mlp_optimizer == "adam"
    if devices.is_cuda(session.device) and cuda_graphs == "auto" and adam_only:
        from coolchic_core.cuda_graphs import StepGraphs

        session.graphs = StepGraphs(session)
    name = devices.device_name(session.device)
    logger.info("training on %s (%s), backend %s", session.device, name, session.backend)
    return session


def _train(session: TrainingSession, height: int, width: int) -> CoolChic:
    """Warm-up, main phase, final phase; the best model, restored."""
    training_config = session.cfg
    model = _warmup(session, height, width)
    best = _Best(model, session.evaluate(model))
    if training_config.schedule == "plateau":
        _main_plateau(session, model, best)
    else:
        _main_cosine(session, model, best)
    _final_ste(session, model, best)
    best.restore(model)
    return model


def load_model(
    state_dict: dict[str, torch.Tensor], height: int, width: int, model_config: ModelConfig
) -> CoolChic:
    """Rebuild the trained model of a `FitResult.state_dict` (PyTorch implementation)."""
    model = model_config.training_model(height, width, torch.Generator().manual_seed(0))
    model.load_state_dict(state_dict)
    return model


def _result(session: TrainingSession, model: CoolChic, elapsed_s: float) -> FitResult:
    model.kernels = None
    evaluation = session.evaluate(model)
    return FitResult(
        latents_int=[y.cpu().numpy() for y in model.latents.integers()],
        synthesis_layers=model.synthesis.layers_numpy(),
        arm_layers=model.arm.layers_numpy(),
        n_iterations=session.iteration,
        training_time_s=elapsed_s,
        est_rate_latent_bpp=evaluation.rate_bits / session.n_pixels,
        est_psnr_db=psnr_db_from_mse(evaluation.mse),
        est_loss=evaluation.loss,
        state_dict={k: v.detach().clone().cpu() for k, v in model.state_dict().items()},
        impl="torch" if session.kernels is None else "cpp",
        device=session.device,
        device_name=devices.device_name(session.device),
        backend=session.backend,
    )
