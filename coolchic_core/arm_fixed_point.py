"""The ARM in fixed point (format spec, section 5): integer outputs, exact on any machine.

With F = 256, qw = round(w F), qb = round(b F^2) and v = x F for the input:
plain layer v' = floor((v qw^T + qb + F) / F), residual layer adds v, ReLU
after hidden layers. The Laplace mean and scale are functions of the two
integer outputs only; the scale goes through a table indexed by v[1].

Evaluation here uses float64 matrix products, which are exact while every
partial sum stays below 2^45 (then v * 256 < 2^53): a static bound checked
once per ARM. Past it, int64 arithmetic is used.

The scale table takes the correctly rounded float32 exp, not a library's: torch's
and numpy's differ in the last bit, by CPU and by build, and the spec (section 5)
shows that no such difference survives the table's roundings.
"""

from __future__ import annotations

import decimal
import functools

import numpy as np

from coolchic_core.entropy import TINY_SCALE
from coolchic_core.mlp_params import Layer
from coolchic_core.model.rate import LOG_SCALE_MAX, LOG_SCALE_MIN

FIXED_POINT_FACTOR = 256
_EXACT_FLOAT_LIMIT = 2.0**45
# Integer v[1] range that maps inside the clamp; outside it, the clamped ends.
_V1_LOW = int(np.floor(LOG_SCALE_MIN * FIXED_POINT_FACTOR)) - 1
_V1_HIGH = int(np.ceil(LOG_SCALE_MAX * FIXED_POINT_FACTOR)) + 1


def _exp_exact(x: float) -> decimal.Decimal:
    return decimal.Context(prec=40).exp(decimal.Decimal(x))


def exp_float32(x: np.ndarray) -> np.ndarray:
    """exp of float32 values, correctly rounded to float32 (ties to even).

    float64 exp (error below 2^-52 relative) rounds to the right float32 except near a
    midpoint between two float32 values; those few are settled in 40-digit decimal.
    """
    x = np.asarray(x, dtype=np.float32)
    approx = np.exp(x.astype(np.float64))
    result = approx.astype(np.float32)
    below = np.nextafter(result, np.float32(-np.inf)).astype(np.float64)
    above = np.nextafter(result, np.float32(np.inf)).astype(np.float64)
    guard = 8 * np.spacing(approx)
    near = (np.abs(approx - (result + below) / 2) <= guard) | (
        np.abs(approx - (result + above) / 2) <= guard
    )
    for index in zip(*np.nonzero(near), strict=True):
        exact = _exp_exact(float(x[index]))
        candidates = [np.float32(below[index]), result[index], np.float32(above[index])]
        result[index] = min(
            candidates,
            key=lambda c: (abs(decimal.Decimal(float(c)) - exact), int(c.view(np.uint32)) & 1),
        )
    return result


@functools.cache
def _scale_by_v1() -> np.ndarray:
    """Rounded Laplace scale (multiple of 1/128) for v[1] = _V1_LOW .. _V1_HIGH: the spec's
    exp(-0.5 * clamp(v[1] / F, -10, 13.8155)) in float32, to 1/1024 in float32, to 1/128."""
    v1 = np.arange(_V1_LOW, _V1_HIGH + 1)
    log_scale = np.clip(
        v1.astype(np.float32) / np.float32(FIXED_POINT_FACTOR),
        np.float32(LOG_SCALE_MIN),
        np.float32(LOG_SCALE_MAX),
    )
    scale = exp_float32(np.float32(-0.5) * log_scale)
    scale = np.round(scale * np.float32(1024)) / np.float32(1024)
    table = np.round(scale.astype(np.float64) * 128) / 128
    table[table <= 0.0] = TINY_SCALE
    table.setflags(write=False)
    return table


def _layer_bound(in_bound: float, weight: np.ndarray, bias: np.ndarray) -> float:
    return float(in_bound * np.max(np.sum(np.abs(weight), axis=1)) + np.max(np.abs(bias)))


class FixedPointArm:
    """Integer ARM built from float layers whose parameters are multiples of their q-step."""

    def __init__(self, layers: list[Layer], max_abs_input: int):
        self.n_inputs = layers[0].weight.shape[1]
        self._weights, self._biases = [], []
        bound, self.exact_in_float = float(max_abs_input), True
        for index, layer in enumerate(layers):
            qw = np.round(layer.weight.astype(np.float64) * FIXED_POINT_FACTOR)
            qb = np.round(layer.bias.astype(np.float64) * FIXED_POINT_FACTOR**2)
            # Fold the division by F, the +F rounding term and the residual into one affine map.
            scale = 1.0 if index == 0 else 1.0 / FIXED_POINT_FACTOR
            weight = qw.T * scale
            if layer.is_residual(index, len(layers)):
                weight = weight + np.eye(qw.shape[0]) * (FIXED_POINT_FACTOR if index == 0 else 1)
            bias = (qb + FIXED_POINT_FACTOR) / FIXED_POINT_FACTOR
            pre_floor_bound = _layer_bound(bound, weight.T, bias)
            self.exact_in_float &= pre_floor_bound < _EXACT_FLOAT_LIMIT
            bound = pre_floor_bound + 1
            self._weights.append(np.ascontiguousarray(weight))
            self._biases.append(bias)
        self.n_layers = len(layers)

    def integer_outputs(self, context: np.ndarray) -> np.ndarray:
        """Integer outputs v (n, 2) as float64 holding integers, from contexts (n, C)."""
        if not self.exact_in_float:
            return self._integer_outputs_int64(context)
        values = np.asarray(context, dtype=np.float64)
        last = self.n_layers - 1
        for index, (weight, bias) in enumerate(zip(self._weights, self._biases, strict=True)):
            values = values @ weight
            values += bias
            np.floor(values, out=values)
            if index < last:
                np.maximum(values, 0.0, out=values)
        return values

    def _integer_outputs_int64(self, context: np.ndarray) -> np.ndarray:
        values = np.asarray(context, dtype=np.int64) * FIXED_POINT_FACTOR
        last = self.n_layers - 1
        for index, (weight, bias) in enumerate(zip(self._weights, self._biases, strict=True)):
            first_scale = FIXED_POINT_FACTOR if index == 0 else 1
            qw = np.round(weight * FIXED_POINT_FACTOR / first_scale).astype(np.int64)
            qb = np.round(bias * FIXED_POINT_FACTOR).astype(np.int64)
            values = np.floor_divide(values @ qw + qb, FIXED_POINT_FACTOR)
            if index < last:
                values = np.maximum(values, 0)
        return values.astype(np.float64)

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weight (in, out), bias) float64 of each layer: v' = floor(v @ weight + bias)."""
        return list(zip(self._weights, self._biases, strict=True))

    def mean_and_scale(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Laplace mean and scale, already rounded to 1/128 (float64)."""
        return means_scales_from_outputs(self.integer_outputs(context))


def means_scales_from_outputs(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rounded mean and scale from the integer outputs v (n, 2)."""
    v0 = outputs[:, 0].astype(np.float32).astype(np.float64)  # o = v / F in float32
    means = np.rint(v0 * (128.0 / FIXED_POINT_FACTOR)) / 128.0
    index = np.clip(outputs[:, 1], _V1_LOW, _V1_HIGH).astype(np.int64) - _V1_LOW
    return means, _scale_by_v1()[index]


def scale_table() -> tuple[np.ndarray, int]:
    """The rounded scale of every v[1] from the first one, and that first v[1] (native decoder)."""
    return _scale_by_v1(), _V1_LOW
