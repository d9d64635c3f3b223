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

from coolchic_core.entropy import round_model_parameter
from coolchic_core.errors import InputError
from coolchic_core.laplace import laplace_bits
from coolchic_core.mlp_params import Layer, flat_biases, flat_weights, layers_from_flat, q_steps
from coolchic_core.scale_table import nearest_scale_index, scale_table
from coolchic_core.symbol_bound import fits_symbol_bound


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
    layers: list[Layer],
    mlp: str,
    distortion_and_rate,
    lmbda: float,
    n_pixels: int,
    exhaustive: bool = True,
) -> tuple[QuantizedMlp, float]:
    """Find the (weight, bias) q-step pair with the lowest J.

    `distortion_and_rate(quantized) -> (mse, other_rate_bits)` measures what the
    quantized MLP does to the image (synthesis) or to the latents' rate (ARM).
    `exhaustive` tries every pair (the original's search); otherwise a coordinate
    search (weights with the finest bias step, then biases, then weights again)
    evaluates about a sixth as many pairs for the ARM and an eleventh for the synthesis.
    Returns the best quantized MLP and its J.
    """
    n_steps = len(q_steps(mlp))
    cache: dict[tuple[int, int], tuple[float, QuantizedMlp]] = {}

    def loss_of(pair: tuple[int, int]) -> float:
        if pair not in cache:
            candidate = quantize_mlp(layers, mlp, *pair)
            mse, other_bits = distortion_and_rate(candidate)
            cache[pair] = (mse + lmbda * (other_bits + candidate.rate_bits) / n_pixels, candidate)
        return cache[pair][0]

    if exhaustive:
        pairs = [(w, b) for w in range(n_steps) for b in range(n_steps)]
        best = min(pairs, key=loss_of)
    else:
        best = (0, _finest_fitting_index(flat_biases(layers), mlp))
        for axis in (0, 1, 0):
            options = [(i, best[1]) if axis == 0 else (best[0], i) for i in range(n_steps)]
            best = min(options, key=loss_of)
    if not math.isfinite(cache[best][0]):
        raise InputError(f"no q-step of the v1 table can code this {mlp}'s parameters")
    return cache[best][1], cache[best][0]


def _finest_fitting_index(values: np.ndarray, mlp: str) -> int:
    """The finest q-step whose integers fit the symbol bound."""
    largest = float(np.max(np.abs(values), initial=0.0))
    for index, step in enumerate(q_steps(mlp)):
        if fits_symbol_bound(round(largest / step)):
            return index
    return len(q_steps(mlp)) - 1
