"""Range coding with quantized Laplace models: the one module that imports constriction.

The v1 format (spec, section 3) codes every symbol with
`QuantizedLaplace(-A, A + 1)` through constriction's queue range coder; the
compressed words are little-endian uint32. Means and scales are rounded to a
multiple of 1/128 (half to even) before use, on both sides.
"""

from __future__ import annotations

import numpy as np

from coolchic_core.errors import BitstreamError

PARAMETER_GRID = 128.0
# constriction 0.3 (the original's) accepted a scale of zero, which the v1 ARM reaches once its
# log-scale output exceeds 2 ln 256; newer releases refuse it. A tiny positive scale codes the
# same way (checked on the published bitstreams that hold such symbols).
TINY_SCALE = 1e-30


def round_model_parameter(values: np.ndarray) -> np.ndarray:
    """Round means or scales to a multiple of 1/128, half to even, as float64."""
    return np.round(np.asarray(values, dtype=np.float64) * PARAMETER_GRID) / PARAMETER_GRID


def _family(bound: int):
    import constriction

    return constriction.stream.model.QuantizedLaplace(-int(bound), int(bound) + 1)


def _checked_parameters(means: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rounded parameters; constriction panics (not raises) on a scale that is not positive."""
    means_r = round_model_parameter(means)
    scales_r = round_model_parameter(scales)
    scales_r[scales_r == 0.0] = TINY_SCALE
    if scales_r.size and not (np.all(scales_r > 0) and np.all(np.isfinite(scales_r))):
        raise BitstreamError("a symbol's Laplace scale rounds to zero or is not finite")
    if means_r.size and not np.all(np.isfinite(means_r)):
        raise BitstreamError("a symbol's Laplace mean is not finite")
    return means_r, scales_r


class LaplaceDecoder:
    """Decodes one segment (one range-coded stream) symbol batch by symbol batch."""

    def __init__(self, segment: bytes, bound: int):
        import constriction

        if len(segment) % 4:
            raise BitstreamError(
                f"segment of {len(segment)} bytes is not a whole number of 32-bit words"
            )
        words = np.frombuffer(segment, dtype="<u4").astype(np.uint32)
        self._decoder = constriction.stream.queue.RangeDecoder(words)
        self._family = _family(bound)

    def decode(self, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Decode len(means) symbols as int32."""
        means_r, scales_r = _checked_parameters(means, scales)
        if means_r.size == 0:
            return np.zeros(0, dtype=np.int32)
        return self.decode_rounded(means_r, scales_r)

    def decode_rounded(self, means_r: np.ndarray, scales_r: np.ndarray) -> np.ndarray:
        """Decode with parameters already rounded to 1/128, scales positive (hot loop)."""
        try:
            return self._decoder.decode(self._family, means_r, scales_r)
        except (AssertionError, ValueError, RuntimeError) as exc:
            raise BitstreamError(f"corrupt range-coded segment: {exc}") from None


def encode_laplace(symbols: np.ndarray, means: np.ndarray, scales: np.ndarray, bound: int) -> bytes:
    """Range-code int symbols in [-bound, bound] into one segment of little-endian words."""
    import constriction

    symbols = np.asarray(symbols, dtype=np.int32).ravel()
    if symbols.size and int(np.max(np.abs(symbols))) > bound:
        raise BitstreamError(
            f"symbol magnitude {int(np.max(np.abs(symbols)))} exceeds the bound {bound}"
        )
    means_r, scales_r = _checked_parameters(np.ravel(means), np.ravel(scales))
    encoder = constriction.stream.queue.RangeEncoder()
    if symbols.size:
        encoder.encode(symbols, _family(bound), means_r, scales_r)
    return encoder.get_compressed().astype("<u4").tobytes()
