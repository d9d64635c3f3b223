"""Quantization proxies: what replaces rounding while training.

- "noise": y + u, u ~ U(-0.5, 0.5) (COOL-CHIC v1).
- "ste": round(y) forward, identity backward (straight-through estimator).
- "softround": s_T(s_T(y) + n) with the soft rounding s_T of Agustsson &
  Theis (2020, "Universally quantized neural compression") and noise n from
  a Kumaraswamy distribution, as in C3 (Kim et al. 2023) and Cool-chic 3
  (Leguay et al. 2023), where the temperature T and the noise parameter are
  annealed during training. Noise parameter 1 is uniform noise; larger
  values concentrate the noise around 0.
- "round": evaluation, what the decoder sees.

The temperature and the noise parameter may be Python floats or 0-d tensors
(a CUDA graph replays with tensors it refills); the noise is drawn on the
latents' device, or taken from `uniform` (U(0, 1) samples drawn beforehand).
"""

from __future__ import annotations

import torch


def soft_round(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """s_T(y) = floor(y) + 1/2 + tanh(r / T) / (2 tanh(1 / (2T))), r = y - floor(y) - 1/2."""
    floor = torch.floor(y).detach()
    residual = y - floor - 0.5
    return (
        floor
        + 0.5
        + 0.5 * torch.tanh(residual / temperature) / torch.tanh(torch.as_tensor(0.5 / temperature))
    )


def kumaraswamy_noise(
    shape: torch.Size,
    parameter,
    generator: torch.Generator | None,
    device=None,
    uniform: torch.Tensor | None = None,
) -> torch.Tensor:
    """Noise in (-0.5, 0.5) from Kumaraswamy(a, b), a = parameter, b chosen so the mode is 1/2.

    b = (2^a (a - 1) + 1) / a puts the mode at 1/2 (a = b = 1: uniform),
    as in Cool-chic 3's noise model.
    """
    u = _uniform(shape, generator, device, uniform)
    if isinstance(parameter, torch.Tensor):  # no test on its value: it may change per replay
        a = parameter
    else:
        a = float(parameter)
        if a == 1.0:
            return u - 0.5
    b = (2.0**a * (a - 1.0) + 1.0) / a
    return (1.0 - (1.0 - u).pow(1.0 / b)).pow(1.0 / a) - 0.5


def _uniform(shape, generator, device, uniform: torch.Tensor | None) -> torch.Tensor:
    if uniform is not None:
        return uniform.reshape(shape)
    return torch.rand(shape, generator=generator, device=device)


def quantize(
    y: torch.Tensor,
    mode: str,
    generator: torch.Generator | None = None,
    temperature: float = 0.3,
    noise_parameter: float = 1.0,
    uniform: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply the proxy `mode` (noise, ste, softround, round) to the latents y."""
    if mode == "round":
        return torch.round(y)
    if mode == "ste":
        return y + (torch.round(y) - y).detach()
    if mode == "noise":
        return y + (_uniform(y.shape, generator, y.device, uniform) - 0.5)
    if mode == "softround":
        noise = kumaraswamy_noise(y.shape, noise_parameter, generator, y.device, uniform)
        return soft_round(soft_round(y, temperature) + noise, temperature)
    raise ValueError(f"unknown quantization mode {mode!r}")
