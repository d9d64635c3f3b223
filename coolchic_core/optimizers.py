"""The optimizer of one fit: Adam for the latents, Adam or SOAP for the MLPs.

`make_optimizer(model, lr, training_config)` returns an object with the
torch.optim interface the training loop uses (`param_groups`, `zero_grad`,
`step`). Each parameter group carries an `lr_factor`: the loop sets a group's
learning rate to the schedule's value times that factor.

SOAP (Vyas et al. 2024, arXiv 2409.11321: Adam run in the eigenbasis of
Shampoo's preconditioner) is what Cool-chic 5 uses for its network weights
(Adam for the latents); here from the `pytorch-optimizer` package. Its
preconditioners of the small MLP matrices (at most 12x12) cost about 0.5 ms a
step on one thread. Both optimizers are deterministic on one machine.
"""

from __future__ import annotations

import torch

from coolchic_core.errors import InputError
from coolchic_core.presets import MLP_OPTIMIZERS


class SplitOptimizer:
    """Several torch optimizers stepped together, seen as one."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for optimizer in self.optimizers for group in optimizer.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()


def _soap(params: list[torch.nn.Parameter], lr: float, lr_factor: float) -> torch.optim.Optimizer:
    try:
        from pytorch_optimizer import SOAP
    except ImportError:
        raise InputError(
            "mlp_optimizer 'soap' needs the pytorch-optimizer package "
            "(pip install pytorch-optimizer)"
        ) from None
    # No weight decay (the package's default is 0.01): the MLP is overfitted to
    # one image and its weights are coded, nothing to regularise towards zero.
    return SOAP(
        [{"params": params, "lr_factor": lr_factor}],
        lr=lr * lr_factor,
        weight_decay=0.0,
        precondition_frequency=10,
    )


def latent_lr_factor_at(training_config, lmbda: float | None) -> float:
    """The latents' learning-rate factor at rate weight `lmbda`.

    `latent_lr_factor * max(1, latent_lr_lambda_ref / lmbda) ** latent_lr_exponent`:
    constant at low rates, growing as lambda falls. High rates need large
    latents, and an Adam step moves a latent by about the learning rate.
    """
    factor = getattr(training_config, "latent_lr_factor", 1.0)
    exponent = getattr(training_config, "latent_lr_exponent", 0.0)
    if exponent == 0.0 or lmbda is None or lmbda <= 0.0:
        return factor
    ratio = max(1.0, training_config.latent_lr_lambda_ref / lmbda)
    return factor * ratio**exponent


def make_optimizer(model, lr: float, training_config=None, lmbda: float | None = None):
    """Adam over every parameter, or Adam (latents) + the configured MLP optimizer.

    Without `training_config` (or with `mlp_optimizer="adam"` and factors 1):
    one Adam over all the parameters, the v1 recipe. `lmbda` sets the latents'
    factor when it depends on lambda (`latent_lr_factor_at`).
    """
    mlp_optimizer = getattr(training_config, "mlp_optimizer", "adam")
    mlp_lr_factor = getattr(training_config, "mlp_lr_factor", 1.0)
    latent_lr_factor = latent_lr_factor_at(training_config, lmbda)
    if mlp_optimizer not in MLP_OPTIMIZERS:
        raise InputError(f"unknown mlp_optimizer {mlp_optimizer!r} (adam or soap)")
    latents = list(model.latents.parameters())
    latent_ids = {id(p) for p in latents}
    # Every other parameter is a network weight (synthesis, ARM, v2's upsampling).
    mlps = [p for p in model.parameters() if id(p) not in latent_ids]
    grid_factors = getattr(training_config, "latent_grid_lr_factors", ())
    groups = _latent_groups(model, latents, latent_lr_factor, grid_factors, lr)
    if mlp_optimizer == "adam":
        groups.append({"params": mlps, "lr_factor": mlp_lr_factor, "lr": lr * mlp_lr_factor})
        return torch.optim.Adam(groups, lr=lr)
    latent_adam = torch.optim.Adam(groups, lr=lr * latent_lr_factor)
    return SplitOptimizer([latent_adam, _soap(mlps, lr, mlp_lr_factor)])


def _latent_groups(model, latents, factor: float, grid_factors, lr: float) -> list[dict]:
    """The latents' parameter groups: one, or one per grid of `grid_factors` then the rest.

    Grid i (finest first) of `grid_factors` learns at `factor * grid_factors[i]`;
    the other grids and the per-grid gains at `factor`.
    """
    groups = []
    for grid, grid_factor in zip(model.latents.grids, grid_factors, strict=False):
        groups.append({"params": [grid], "lr_factor": factor * grid_factor})
    taken = {id(p) for group in groups for p in group["params"]}
    groups.append({"params": [p for p in latents if id(p) not in taken], "lr_factor": factor})
    for group in groups:
        group["lr"] = lr * group["lr_factor"]
    return groups


def set_learning_rate(optimizer, lr: float) -> None:
    """Every group's learning rate: `lr` times the group's `lr_factor`.

    In place when it is a tensor (Adam captured in a CUDA graph).
    """
    for group in optimizer.param_groups:
        value = lr * group.get("lr_factor", 1.0)
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value
