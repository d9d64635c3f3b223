"""MLP parameters as plain arrays: shapes, and the v1 quantization steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layer:
    """One fully connected layer: weight (out, in) and bias (out,), float32."""

    weight: np.ndarray
    bias: np.ndarray

    def is_residual(self, index: int, n_layers: int) -> bool:
        """Whether this layer, number `index` of `n_layers`, is residual (see `is_residual`)."""
        return is_residual(index, n_layers, self.weight.shape[1], self.weight.shape[0])


def is_residual(index: int, n_layers: int, n_in: int, n_out: int) -> bool:
    """Format rule: a hidden layer whose input and output widths agree is residual,
    y = Wx + b + x; the output layer never is."""
    return index < n_layers - 1 and n_in == n_out


def layer_shapes(n_inputs: int, hidden_widths: tuple[int, ...], n_outputs: int) -> list[tuple]:
    """(out, in) of every layer, first to last."""
    widths = [n_inputs, *hidden_widths, n_outputs]
    return [(widths[i + 1], widths[i]) for i in range(len(widths) - 1)]


def n_weights(shapes: list[tuple]) -> int:
    """Number of weights, which is also the multiplications of one evaluation."""
    return sum(out * inp for out, inp in shapes)


def n_multiplications(n_inputs: int, hidden_widths: tuple[int, ...], n_outputs: int) -> int:
    """Multiplications of one evaluation of the MLP."""
    return n_weights(layer_shapes(n_inputs, hidden_widths, n_outputs))


def n_biases(shapes: list[tuple]) -> int:
    return sum(out for out, _ in shapes)


N_ARM_Q_STEPS = 8  # 2^-7 .. 2^0
N_SYNTHESIS_Q_STEPS = 17  # 2^-16 .. 2^0


def arm_q_steps() -> np.ndarray:
    """ARM q-steps 2^-7 .. 2^0 (index 0..7)."""
    return 2.0 ** np.arange(1 - N_ARM_Q_STEPS, 1, dtype=np.float64)


def synthesis_q_steps() -> np.ndarray:
    """Synthesis q-steps 2^-16 .. 2^0 (index 0..16)."""
    return 2.0 ** np.arange(1 - N_SYNTHESIS_Q_STEPS, 1, dtype=np.float64)


def q_steps(mlp: str) -> np.ndarray:
    return arm_q_steps() if mlp == "arm" else synthesis_q_steps()


def layers_from_flat(shapes: list[tuple], weights: np.ndarray, biases: np.ndarray) -> list[Layer]:
    """Split flat weight and bias vectors (stream order) into layers."""
    layers, w_at, b_at = [], 0, 0
    for out, inp in shapes:
        weight = weights[w_at : w_at + out * inp].reshape(out, inp).astype(np.float32)
        bias = biases[b_at : b_at + out].astype(np.float32)
        layers.append(Layer(weight, bias))
        w_at, b_at = w_at + out * inp, b_at + out
    return layers


def flat_weights(layers: list[Layer]) -> np.ndarray:
    return np.concatenate([layer.weight.ravel() for layer in layers])


def flat_biases(layers: list[Layer]) -> np.ndarray:
    return np.concatenate([layer.bias.ravel() for layer in layers])
