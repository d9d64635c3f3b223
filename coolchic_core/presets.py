"""Named, typed configurations of the model and of its training.

`ModelConfig` is the architecture (what the bitstream header describes);
`TrainingConfig` is how one image is overfitted. `PRESETS` maps a name to a
`TrainingConfig`:

- "paper": the published COOL-CHIC v1 recipe (Ladune et al. 2023,
  arXiv 2212.05458, code of April 2023): uniform noise then straight-through
  rounding, Adam at 1e-2, ReduceLROnPlateau every 100 iterations, 5 warm-up
  trials of 200 iterations, stop when the learning rate falls below 4e-4.
- "fast": at most 150 s per 768x512 image on one CPU thread (3,300
  iterations at about 40 ms, plus the q-step search and writing), with the
  recipe of later work on the same family: cosine learning-rate decay, soft
  rounding with annealed noise, then a short straight-through phase (C3, Kim
  et al. 2023, arXiv 2312.02753; Cool-chic 3, Leguay et al. 2023, arXiv
  2307.12706), warm-up inside the budget, the SOAP optimizer for the MLPs
  (Cool-chic 5; Adam during the warm-up trials, under which the finest latent
  grid survives them) and a latent learning rate that grows as lambda falls
  ((0.02 / lambda) ** 0.4 times the schedule's below lambda 0.02: 8.3x at
  lambda 0.0001). The model and the bitstream stay v1.
- "medium": the same recipe with 9,000 iterations (2.7x fast's time for v1; a
  768x512 v2 encode in under 15 minutes on one thread at about 90 ms per iteration).
- "smoke": a few iterations, seconds on a 64x64 image, for tests and CI.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coolchic_core.context import n_context
from coolchic_core.errors import InputError

# The optimizers of the synthesis and ARM weights (coolchic_core.optimizers builds them).
MLP_OPTIMIZERS = ("adam", "soap")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture: latent grids, MLP hidden layers, ARM context size."""

    latent_n_grids: int = 7
    layers_synthesis: tuple[int, ...] = (12, 12)
    layers_arm: tuple[int, ...] = (12, 12)
    n_ctx_rowcol: int = 2

    @property
    def n_ctx(self) -> int:
        """Number of causal context values of the ARM: 2n(n+1)."""
        return n_context(self.n_ctx_rowcol)

    uses_fused_kernels = True  # the fused CPU kernels implement this architecture

    def training_model(self, height: int, width: int, generator):
        """The v1 model to train (`coolchic_core.model.CoolChic`)."""
        from coolchic_core.model.coolchic import CoolChic

        return CoolChic(height, width, self, generator)


@dataclass(frozen=True)
class TrainingConfig:
    """How one image is overfitted.

    Main phase: `n_itr` iterations at most, learning rate `start_lr`, either
    `schedule="plateau"` (the v1 recipe, ReduceLROnPlateau on the evaluated
    loss, early stop below `stop_below_lr`) or `schedule="cosine"` (decay to
    `end_lr` over exactly `n_itr` iterations). `quantizer="noise_ste"`
    (v1: uniform noise, then straight-through once the learning rate is
    below `ste_below_lr`) or `"softround"` (soft rounding at temperature
    annealed over `softround_temperature`, with Kumaraswamy noise whose
    parameter is annealed over `noise_parameter`; 1.0 is uniform noise).
    Optional final straight-through phase of `n_itr_final_ste` iterations
    at learning rate `final_ste_lr` (cosine decayed to 0); the latents' factor
    there is `final_ste_latent_lr_factor` at every lambda, or the main phase's
    (lambda-dependent) factor if None.
    Warm-up: `n_trial_warmup` fresh initialisations trained for
    `n_itr_warmup` iterations each with the main phase's first settings,
    their MLPs by `warmup_mlp_optimizer` (None: `mlp_optimizer`); the best
    (evaluated with rounding) is trained on. With `n_warmup_survivors` k > 0,
    a second stage (Cool-chic 5's two-stage warm-up) trains the k best trials
    `n_itr_warmup_survivors` more iterations each before the best is chosen.
    Optimizer (coolchic_core.optimizers): Adam for the latents, `mlp_optimizer`
    ("adam" or "soap") for the synthesis and ARM; each group's learning rate
    is the schedule's times `mlp_lr_factor` (MLPs) or, for the latents,
    `latent_lr_factor * max(1, latent_lr_lambda_ref / lambda) ** latent_lr_exponent`,
    times `latent_grid_lr_factors[i]` for grid i (finest first) of that tuple.
    `impl`: "auto" (fused C++ kernels when they build, else PyTorch),
    "cpp" or "torch".
    """

    n_itr: int = 1_000_000
    start_lr: float = 1e-2
    n_trial_warmup: int = 5
    n_itr_warmup: int = 200
    schedule: str = "plateau"
    quantizer: str = "noise_ste"
    eval_every: int = 100
    plateau_patience: int = 15
    plateau_factor: float = 0.5
    ste_below_lr: float = 9e-4
    stop_below_lr: float = 4e-4
    end_lr: float = 0.0
    grad_clip_norm: float = 10.0
    softround_temperature: tuple[float, float] = (0.3, 0.1)
    noise_parameter: tuple[float, float] = (2.0, 1.0)
    n_itr_final_ste: int = 0
    final_ste_lr: float = 1e-4
    final_ste_latent_lr_factor: float | None = None
    mlp_optimizer: str = "adam"
    warmup_mlp_optimizer: str | None = None
    n_warmup_survivors: int = 0
    n_itr_warmup_survivors: int = 0
    mlp_lr_factor: float = 1.0
    latent_lr_factor: float = 1.0
    latent_lr_exponent: float = 0.0
    latent_lr_lambda_ref: float = 0.02
    latent_grid_lr_factors: tuple[float, ...] = ()
    impl: str = "auto"

    def __post_init__(self) -> None:
        _check_training_config(self)

    @property
    def n_itr_planned(self) -> int:
        """Iterations planned: warm-up trials, main phase (maximum), final phase."""
        warmup = self.n_trial_warmup * self.n_itr_warmup
        warmup += self.n_warmup_survivors * self.n_itr_warmup_survivors
        return warmup + self.n_itr + self.n_itr_final_ste


def _check_training_config(cfg: TrainingConfig) -> None:
    if cfg.schedule not in ("plateau", "cosine"):
        raise InputError(f"unknown schedule {cfg.schedule!r} (plateau or cosine)")
    if cfg.quantizer not in ("noise_ste", "softround"):
        raise InputError(f"unknown quantizer {cfg.quantizer!r} (noise_ste or softround)")
    if cfg.impl not in ("auto", "cpp", "torch"):
        raise InputError(f"unknown implementation {cfg.impl!r} (auto, cpp or torch)")
    if cfg.n_itr < 0 or cfg.n_itr_warmup < 0 or cfg.n_itr_final_ste < 0:
        raise InputError("iteration counts must be >= 0")
    if cfg.n_trial_warmup < 0:
        raise InputError("n_trial_warmup must be >= 0")
    if not (0 <= cfg.n_warmup_survivors <= cfg.n_trial_warmup and cfg.n_itr_warmup_survivors >= 0):
        raise InputError("n_warmup_survivors must be between 0 and n_trial_warmup")
    if not cfg.start_lr > 0:
        raise InputError(f"start_lr must be > 0, got {cfg.start_lr}")
    names = " or ".join(MLP_OPTIMIZERS)
    if cfg.mlp_optimizer not in MLP_OPTIMIZERS:
        raise InputError(f"unknown mlp_optimizer {cfg.mlp_optimizer!r} ({names})")
    if cfg.warmup_mlp_optimizer not in (None, *MLP_OPTIMIZERS):
        raise InputError(
            f"unknown warmup_mlp_optimizer {cfg.warmup_mlp_optimizer!r} ({names}, or None)"
        )
    factors = (
        cfg.mlp_lr_factor,
        cfg.latent_lr_factor,
        cfg.final_ste_latent_lr_factor,
        *cfg.latent_grid_lr_factors,
    )
    if not all(factor is None or factor > 0 for factor in factors):
        raise InputError("learning-rate factors must be > 0")
    if not (cfg.latent_lr_exponent >= 0 and cfg.latent_lr_lambda_ref > 0):
        raise InputError("latent_lr_exponent must be >= 0 and latent_lr_lambda_ref > 0")
    if cfg.eval_every < 1:
        raise InputError("eval_every must be >= 1")


_FAST = TrainingConfig(
    n_itr=2700,
    start_lr=1e-2,
    n_trial_warmup=3,
    n_itr_warmup=100,
    schedule="cosine",
    quantizer="softround",
    eval_every=100,
    n_itr_final_ste=300,
    final_ste_lr=1e-4,
    mlp_optimizer="soap",
    warmup_mlp_optimizer="adam",
    latent_lr_exponent=0.4,
)

PRESETS: dict[str, TrainingConfig] = {
    "paper": TrainingConfig(),
    "fast": _FAST,
    # The fast recipe with 2.7x its iterations.
    "medium": dataclasses.replace(_FAST, n_itr=8000, n_itr_final_ste=700),
    "smoke": TrainingConfig(
        n_itr=40,
        start_lr=1e-2,
        n_trial_warmup=2,
        n_itr_warmup=5,
        schedule="cosine",
        quantizer="softround",
        eval_every=10,
        n_itr_final_ste=10,
        final_ste_lr=1e-4,
    ),
}


# Fields added after benchmark tables were made, whose default trains as before: left
# out of `recipe` at that default, so that those tables' jobs keep their configuration
# hash (bench.runner hashes the recipe) and resume.
LATER_FIELDS = (
    "final_ste_latent_lr_factor",
    "warmup_mlp_optimizer",
    "latent_grid_lr_factors",
    "n_warmup_survivors",
    "n_itr_warmup_survivors",
)


def recipe(config: TrainingConfig) -> dict:
    """The configuration's fields as the bench hashes them (see LATER_FIELDS)."""
    fields = dataclasses.asdict(config)
    for name in LATER_FIELDS:
        if fields[name] == getattr(TrainingConfig, name):
            del fields[name]
    return fields


def get_preset(name: str) -> TrainingConfig:
    """The training configuration named `name`; InputError if there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown preset {name!r} (known: {known})") from None


def override(config: TrainingConfig, **changes) -> TrainingConfig:
    """`dataclasses.replace` that ignores None values (unset CLI options)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
