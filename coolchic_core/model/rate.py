"""Rate of the latents under the ARM's Laplace distributions (format spec section 5)."""

from __future__ import annotations

import torch

LOG_SCALE_MIN = -10.0
LOG_SCALE_MAX = 13.8155
PROBA_MIN = 2.0**-16


def laplace_scale(log_scale: torch.Tensor) -> torch.Tensor:
    """scale = exp(-0.5 * clamp(log_scale, -10, 13.8155))."""
    return torch.exp(-0.5 * torch.clamp(log_scale, LOG_SCALE_MIN, LOG_SCALE_MAX))


def laplace_cdf(x: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """CDF of Laplace(mu, scale) at x."""
    d = x - mu
    return 0.5 - 0.5 * torch.sign(d) * torch.expm1(-d.abs() / scale)


def laplace_rate_bits(y: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log2(max(CDF(y + 0.5) - CDF(y - 0.5), 2^-16)) for every latent."""
    scale = laplace_scale(log_scale)
    proba = laplace_cdf(y + 0.5, mu, scale) - laplace_cdf(y - 0.5, mu, scale)
    return -torch.log2(torch.clamp(proba, min=PROBA_MIN))
