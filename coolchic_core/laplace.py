"""Rate of integer symbols under a discretised Laplace, in numpy (the encoder's estimate)."""

from __future__ import annotations

import numpy as np

# The range coder gives every symbol of the alphabet at least one unit of its 24-bit
# probability precision (constriction's leaky quantization): no symbol costs more than 24 bits.
# (Training uses the original's floor of 2^-16 in its loss; this is the coder's.)
MIN_PROBABILITY = 2.0**-24


def laplace_bits(symbols: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """-log2 P(y) with P(y) = CDF(y + 1/2) - CDF(y - 1/2), floored as the range coder does."""
    distance = np.abs(np.asarray(symbols, dtype=np.float64) - means)
    scales = np.maximum(np.asarray(scales, dtype=np.float64), 1e-300)
    with np.errstate(over="ignore", under="ignore"):
        near = np.exp(-np.maximum(distance - 0.5, 0.0) / scales)
        far = np.exp(-(distance + 0.5) / scales)
        inside = 1.0 - 0.5 * (np.exp(-(0.5 - distance) / scales) + far)
    probability = np.where(distance < 0.5, inside, 0.5 * (near - far))
    return -np.log2(np.maximum(probability, MIN_PROBABILITY))
