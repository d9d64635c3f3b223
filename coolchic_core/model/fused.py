"""Fused C++ training kernels (coolchic_core/kernels/fused_training.cpp), built at first use.

Two autograd Functions replace the memory-bound chains of the PyTorch model:
- `synthesis_mse`: synthesis MLP, MSE and their backward in one pass;
- `arm_rate`: causal context, ARM MLP, Laplace rate and their backward.
Each computes its gradients during the forward (the output is a scalar) and
saves only them, never the hidden layers. `load()` returns None when the
build fails (no compiler) and the PyTorch model is used instead.
"""

from __future__ import annotations

import functools
import logging

import torch

from coolchic_core.errors import CoolChicError
from coolchic_core.kernels import FUSED_TRAINING
from coolchic_core.kernels.build import load_kernel

logger = logging.getLogger(__name__)


class _SynthesisMse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, features, target, n_layers, *params):
        weights, biases = list(params[:n_layers]), list(params[n_layers:])
        loss, d_features, *d_params = ext.synthesis_mse(
            features.detach().contiguous(),
            target.contiguous(),
            [w.detach().contiguous() for w in weights],
            [b.detach().contiguous() for b in biases],
        )
        ctx.save_for_backward(d_features, *d_params)
        return loss

    @staticmethod
    def backward(ctx, grad):
        d_features, *d_params = ctx.saved_tensors
        if float(grad) != 1.0:  # the loss weights the MSE by 1: skip a full-size product
            d_features = d_features * grad
        return (None, d_features, None, None, *(d * grad for d in d_params))


class _ArmRate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, n_ctx_rowcol, n_grids, n_layers, *tensors):
        grids = [y.detach().contiguous() for y in tensors[:n_grids]]
        params = [p.detach().contiguous() for p in tensors[n_grids:]]
        bits, *grads = ext.arm_rate(grids, params[:n_layers], params[n_layers:], n_ctx_rowcol)
        ctx.save_for_backward(*grads)
        return bits

    @staticmethod
    def backward(ctx, grad):
        return (None, None, None, None, *(d * grad for d in ctx.saved_tensors))


class _UpsampleCascade(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, *latents):
        grids = [y.detach().contiguous() for y in latents]
        ctx.ext = ext
        ctx.save_for_backward(*grids)
        return ext.upsample_cascade(grids)

    @staticmethod
    def backward(ctx, grad):
        return (
            None,
            *ctx.ext.upsample_cascade_backward(grad.contiguous(), list(ctx.saved_tensors)),
        )


class _LearnedUpsample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, half_taps, *latents):
        grids = [y.detach().contiguous() for y in latents]
        taps = half_taps.detach().contiguous()
        features, *saved = ext.learned_upsample(grids, taps)
        ctx.ext, ctx.n_grids = ext, len(grids)
        ctx.save_for_backward(taps, *saved)
        return features

    @staticmethod
    def backward(ctx, grad):
        taps, *saved = ctx.saved_tensors
        inputs, rows = saved[: ctx.n_grids - 1], saved[ctx.n_grids - 1 :]
        *d_grids, d_taps = ctx.ext.learned_upsample_backward(
            grad.contiguous(), list(inputs), list(rows), taps
        )
        return (None, d_taps, *d_grids)


class _ConvSynthesisMse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, features, target, n_mlp, flags, *params):
        params = [p.detach().contiguous() for p in params]
        n_conv = len(flags)
        mlp_w, mlp_b = params[:n_mlp], params[n_mlp : 2 * n_mlp]
        conv_w, conv_b = params[2 * n_mlp : 2 * n_mlp + n_conv], params[2 * n_mlp + n_conv :]
        loss, d_features, *d_params = ext.conv_synthesis_mse(
            features.detach().contiguous(),
            target.contiguous(),
            mlp_w,
            mlp_b,
            conv_w,
            conv_b,
            list(flags),
        )
        ctx.save_for_backward(d_features, *d_params)
        return loss

    @staticmethod
    def backward(ctx, grad):
        d_features, *d_params = ctx.saved_tensors
        if float(grad) != 1.0:
            d_features = d_features * grad
        return (None, d_features, None, None, None, *(d * grad for d in d_params))


_MODES = {"round": 0, "ste": 1, "noise": 2, "softround": 3}


class _Quantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ext, proxy, uniform, log2_gains, *grids):
        grids = [g.detach().contiguous() for g in grids]
        gains = log2_gains.detach().contiguous()
        *latents, deriv = ext.quantize_latents(
            grids, gains, uniform, _MODES[proxy.mode], proxy.temperature, proxy.noise_parameter
        )
        ctx.ext = ext
        ctx.save_for_backward(gains, deriv, *grids)
        return tuple(latents)

    @staticmethod
    def backward(ctx, *grads):
        gains, deriv, *grids = ctx.saved_tensors
        grads = [torch.zeros_like(y) if g is None else g for g, y in zip(grads, grids, strict=True)]
        *d_grids, d_gains = ctx.ext.quantize_latents_backward(grads, grids, gains, deriv)
        return (None, None, None, d_gains, *d_grids)


class FusedKernels:
    """The loaded extension behind the two entry points used by `CoolChic`."""

    def __init__(self, extension) -> None:
        self.extension = extension

    def synthesis_mse(self, features: torch.Tensor, target: torch.Tensor, mlp) -> torch.Tensor:
        """MSE of mlp(features) against target, features (C, P), target (3, P)."""
        n_layers = len(mlp.weights)
        return _SynthesisMse.apply(
            self.extension, features, target, n_layers, *mlp.weights, *mlp.biases
        )

    def quantize(self, latents_module, proxy, generator) -> list[torch.Tensor]:
        """y_i = Q(grid_i * 2^g_i) under `proxy` (a `coolchic.Proxy`)."""
        grids = list(latents_module.grids)
        if proxy.mode in ("noise", "softround"):
            uniform = torch.rand(sum(g.numel() for g in grids), generator=generator)
        else:
            uniform = torch.empty(0)
        return list(
            _Quantize.apply(self.extension, proxy, uniform, latents_module.log2_gains, *grids)
        )

    def upsample(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Cascaded bicubic upsampling of the grids to (N, H, W)."""
        return _UpsampleCascade.apply(self.extension, *latents)

    def learned_upsample(self, latents: list[torch.Tensor], half_taps: torch.Tensor):
        """The v2 upsampling cascade (`formats.v2.layers.upsample_cascade`) to (N, H, W)."""
        return _LearnedUpsample.apply(self.extension, half_taps, *latents)

    def conv_synthesis_mse(self, features, target, mlp_layers, conv_layers) -> torch.Tensor:
        """MSE of the v2 synthesis against target (3, H * W); features (C, H, W).

        `mlp_layers`: (weight (out, in), bias) of the leading 1x1 layers, under v1's MLP
        rules; `conv_layers`: (weight (out, in, 3, 3), bias, residual, relu) of the rest.
        """
        flags = tuple(int(residual) | 2 * int(relu) for _, _, residual, relu in conv_layers)
        params = [
            *(w for w, _ in mlp_layers),
            *(b for _, b in mlp_layers),
            *(w for w, _, _, _ in conv_layers),
            *(b for _, b, _, _ in conv_layers),
        ]
        return _ConvSynthesisMse.apply(
            self.extension, features, target, len(mlp_layers), flags, *params
        )

    def arm_rate(self, latents: list[torch.Tensor], mlp, n_ctx_rowcol: int) -> torch.Tensor:
        """Total rate in bits of the grids `latents` (each (h, w)) under the ARM `mlp`."""
        n_layers = len(mlp.weights)
        return _ArmRate.apply(
            self.extension,
            n_ctx_rowcol,
            len(latents),
            n_layers,
            *latents,
            *mlp.weights,
            *mlp.biases,
        )


@functools.cache
def _try_build() -> tuple[object | None, str]:
    try:
        return load_kernel(FUSED_TRAINING), ""
    except Exception as exc:  # a missing compiler shows up as many exception types
        return None, str(exc)


def load(model_config=None, required: bool = False) -> FusedKernels | None:
    """The fused kernels, built on first use; None (or an error if `required`) on failure.

    A failed build is not retried in the same process.
    """
    extension, error = _try_build()
    if extension is not None:
        return FusedKernels(extension)
    if required:
        raise CoolChicError(f"cannot build the fused C++ kernels: {error}")
    logger.warning("fused C++ kernels unavailable (%s); using PyTorch", error)
    return None
