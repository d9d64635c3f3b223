"""Writing a v2 bitstream: quantize the upsampling filters, then the synthesis, then the ARM
(each step keeps the quantization steps of lowest J = MSE + lambda * rate / pixels), then
code every segment."""

from __future__ import annotations

import numpy as np
import torch

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.formats.v2 import inference
from coolchic_core.formats.v2.architecture import UPSAMPLING_HALF_TAPS, V2Config
from coolchic_core.formats.v2.header import PARAMETER_SETS, HeaderV2, ParameterSet, write_header
from coolchic_core.latent_coding import LatentRate, encode_grid
from coolchic_core.metrics import mse, psnr_db_from_mse
from coolchic_core.mlp_params import Layer, q_steps
from coolchic_core.nn_quant import (
    QuantizedMlp,
    QuantizedParameters,
    quantize_parameters,
    search_q_steps,
)
from coolchic_core.parameter_coding import encode_parameter_segment
from coolchic_core.symbol_bound import fits_symbol_bound, symbol_bound


class _Image:
    """The image the decoder will make from the latents and candidate networks, by the
    decoder's own functions (`inference`: native or PyTorch, as the decoder on this machine)."""

    def __init__(self, latents: list[np.ndarray], config: V2Config, original: np.ndarray):
        self.grids = inference.float_grids(latents)
        self.config, self.original = config, original

    def features(self, half_taps: np.ndarray) -> torch.Tensor:
        taps = torch.from_numpy(half_taps.astype(np.float32).reshape(-1, UPSAMPLING_HALF_TAPS))
        return inference.upsample(self.grids, taps, self.config.synthesis)

    def mse(self, features: torch.Tensor, conv_layers: list[Layer]) -> float:
        weights, biases = _conv_tensors(conv_layers, self.config)
        image = inference.synthesize(features, weights, biases, self.config.synthesis)
        return mse(image, self.original)


def _conv_tensors(conv_layers: list[Layer], config: V2Config):
    weights, biases = [], []
    for layer, (out, n_in, k) in zip(conv_layers, config.synthesis_shapes(), strict=True):
        weights.append(torch.from_numpy(layer.weight.astype(np.float32).reshape(out, n_in, k, k)))
        biases.append(torch.from_numpy(layer.bias.astype(np.float32)))
    return weights, biases


def _float_networks(fitted, config: V2Config):
    state = fitted.state_dict
    conv = [
        Layer(
            state[f"synthesis.weights.{i}"].numpy().reshape(out, -1).astype(np.float32),
            state[f"synthesis.biases.{i}"].numpy().astype(np.float32),
        )
        for i, (out, _, _) in enumerate(config.synthesis_shapes())
    ]
    arm = [Layer(w.astype(np.float32), b.astype(np.float32)) for w, b in fitted.arm_layers]
    return conv, arm, state["synthesis.upsampling"].numpy().astype(np.float64).ravel()


def _quantize_upsampling(taps, image: _Image, conv: list[Layer], lmbda, n_pixels):
    """The q-step of the upsampling filters with the lowest J (the synthesis still float)."""
    best, best_loss = None, np.inf
    for index in range(len(q_steps("synthesis"))):
        candidate = quantize_parameters(taps, index, "synthesis")
        if not fits_symbol_bound(int(np.max(np.abs(candidate.integers), initial=0))):
            continue
        dequantized = candidate.integers * q_steps("synthesis")[index]
        loss = image.mse(image.features(dequantized), conv) + lmbda * candidate.rate_bits / n_pixels
        if loss < best_loss:
            best, best_loss = candidate, loss
    return best


def quantize_and_write(fitted, original, lmbda, config: V2Config, exhaustive: bool = False):
    """The bitstream and the encoder's estimates (psnr, rate_latent/mlp/all_bpp)."""
    latents = [np.asarray(grid, dtype=np.int32) for grid in fitted.latents_int]
    n_pixels = original.shape[0] * original.shape[1]
    image = _Image(latents, config, original)
    conv, arm_layers, taps = _float_networks(fitted, config)
    upsampling = _quantize_upsampling(taps, image, conv, lmbda, n_pixels)
    features = image.features(upsampling.integers * q_steps("synthesis")[upsampling.q_step_index])

    def synthesis_cost(candidate: QuantizedMlp):
        if not fits_symbol_bound(candidate.max_abs_integer):
            return np.inf, 0.0
        return image.mse(features, candidate.layers), 0.0

    synthesis, _ = search_q_steps(conv, "synthesis", synthesis_cost, lmbda, n_pixels, exhaustive)
    distortion = image.mse(features, synthesis.layers)
    bound_latent = symbol_bound(max(int(np.max(np.abs(g), initial=0)) for g in latents))
    latent_rate = LatentRate(latents, config.n_ctx_rowcol, bound_latent)

    def arm_cost(candidate: QuantizedMlp):
        if not fits_symbol_bound(candidate.max_abs_integer):
            return np.inf, 0.0
        return distortion, latent_rate.bits(candidate.layers)

    arm, _ = search_q_steps(arm_layers, "arm", arm_cost, lmbda, n_pixels, exhaustive)
    bitstream = _assemble(latents, config, arm, synthesis, upsampling, bound_latent)
    latent_bits = latent_rate.bits(arm.layers)
    mlp_bits = arm.rate_bits + synthesis.rate_bits + upsampling.rate_bits
    return bitstream, {
        "psnr": psnr_db_from_mse(distortion),
        "rate_latent_bpp": latent_bits / n_pixels,
        "rate_mlp_bpp": mlp_bits / n_pixels,
        "rate_all_bpp": (latent_bits + mlp_bits) / n_pixels,
    }


def _assemble(
    latents, config, arm: QuantizedMlp, synthesis: QuantizedMlp, upsampling, bound_latent: int
) -> bytes:
    sets: dict[str, QuantizedParameters] = {
        "arm_weight": arm.weights,
        "arm_bias": arm.biases,
        "synthesis_weight": synthesis.weights,
        "synthesis_bias": synthesis.biases,
        "upsampling": upsampling,
    }
    bound_nn = symbol_bound(max(int(np.max(np.abs(s.integers), initial=0)) for s in sets.values()))
    parameter_segments = [
        encode_parameter_segment(sets[name].integers, sets[name].scale_index, bound_nn)
        for name, _ in PARAMETER_SETS
    ]
    fixed_point_arm = FixedPointArm(arm.layers, max_abs_input=bound_latent)
    latent_segments = [
        encode_grid(grid, fixed_point_arm, config.n_ctx_rowcol, bound_latent) for grid in latents
    ]
    header = HeaderV2(
        height=latents[0].shape[0],
        width=latents[0].shape[1],
        config=config,
        ac_max_val_nn=bound_nn,
        ac_max_val_latent=bound_latent,
        parameter_sets=tuple(
            ParameterSet(sets[name].q_step_index, sets[name].scale_index, len(segment))
            for (name, _), segment in zip(PARAMETER_SETS, parameter_segments, strict=True)
        ),
        n_bytes_per_latent=tuple(len(segment) for segment in latent_segments),
    )
    return write_header(header) + b"".join(parameter_segments) + b"".join(latent_segments)


__all__ = ["quantize_and_write"]
