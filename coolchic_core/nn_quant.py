"""Quantization of the MLP parameters and the v1 q-step search.

Every parameter set (weights or biases of one MLP) is sent as integers
k = round(p / q_step) under a centred Laplace whose scale is the table entry
nearest to std(k) / sqrt(2). For each MLP, every (weight step, bias step)
pair of its table is tried and the pair with the lowest
J = MSE + lambda * rate / pixels is kept (encoder spec, "MLP quantization").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coolchic_core.bitstream.scale_table import nearest_scale_index, scale_table
from coolchic_core.entropy import round_model_parameter
from coolchic_core.laplace import laplace_bits
from coolchic_core.mlp_params import Layer, flat_biases, flat_weights, layers_from_flat, q_steps


@dataclass(frozen=True)
class QuantizedParameters:
    """One parameter set as sent: integers, q-step index and scale index."""

    integers: np.ndarray  # int64, stream order
    q_step_index: int
    scale_index: int

    @property
    def rate_bits(self) -> float:
        scale = round_model_parameter(np.array([scale_table()[self.scale_index]]))[0]
        return float(np.sum(laplace_bits(self.integers, 0.0, scale)))


@dataclass(frozen=True)
class QuantizedMlp:
    """Weights and biases of one MLP as sent, and the layers the decoder rebuilds."""

    weights: QuantizedParameters
    biases: QuantizedParameters
    layers: list[Layer]

    @property
    def rate_bits(self) -> float:
        return self.weights.rate_bits + self.biases.rate_bits

    @property
    def max_abs_integer(self) -> int:
        return int(
            max(
                np.max(np.abs(self.weights.integers), initial=0),
                np.max(np.abs(self.biases.integers), initial=0),
            )
        )


def quantize_parameters(values: np.ndarray, q_step_index: int, mlp: str) -> QuantizedParameters:
    integers = np.round(np.asarray(values, dtype=np.float64) / q_steps(mlp)[q_step_index])
    integers = integers.astype(np.int64)
    # torch.std, as the original encoder: unbiased (n - 1).
    std = float(np.std(integers, ddof=1)) if integers.size > 1 else 0.0
    return QuantizedParameters(integers, q_step_index, nearest_scale_index(std / math.sqrt(2)))


def quantize_mlp(layers: list[Layer], mlp: str, weight_index: int, bias_index: int) -> QuantizedMlp:
    """Quantize every layer's weights and biases with the given q-step indices."""
    weights = quantize_parameters(flat_weights(layers), weight_index, mlp)
    biases = quantize_parameters(flat_biases(layers), bias_index, mlp)
    steps = q_steps(mlp)
    shapes = [layer.weight.shape for layer in layers]
    rebuilt = layers_from_flat(
        shapes, weights.integers * steps[weight_index], biases.integers * steps[bias_index]
    )
    return QuantizedMlp(weights, biases, rebuilt)


def search_q_steps(
    layers: list[Layer], mlp: str, distortion_and_rate, lmbda: float, n_pixels: int
) -> tuple[QuantizedMlp, float]:
    """Try every (weight, bias) q-step pair; keep the lowest J.

    `distortion_and_rate(quantized) -> (mse, other_rate_bits)` measures what the
    quantized MLP does to the image (synthesis) or to the latents' rate (ARM).
    Returns the best quantized MLP and its J.
    """
    best, best_loss = None, math.inf
    n_steps = len(q_steps(mlp))
    for weight_index in range(n_steps):
        for bias_index in range(n_steps):
            candidate = quantize_mlp(layers, mlp, weight_index, bias_index)
            mse, other_bits = distortion_and_rate(candidate)
            loss = mse + lmbda * (other_bits + candidate.rate_bits) / n_pixels
            if loss < best_loss:
                best, best_loss = candidate, loss
    return best, best_loss
