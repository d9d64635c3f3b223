"""Network parameters as range-coded segments: integers under a centred Laplace whose
scale is an entry of the scale table (v1 format spec, section 3; v2 does the same)."""

from __future__ import annotations

import numpy as np

from coolchic_core.entropy import LaplaceDecoder, encode_laplace
from coolchic_core.scale_table import scale_table


def encode_parameter_segment(integers: np.ndarray, scale_index: int, bound: int) -> bytes:
    """One parameter set as a segment (mean 0, the table's scale)."""
    scale = float(scale_table()[scale_index])
    count = integers.size
    return encode_laplace(integers, np.zeros(count), np.full(count, scale), bound)


def decode_parameter_segment(
    segment: bytes, count: int, scale_index: int, bound: int
) -> np.ndarray:
    """The `count` integers of a parameter segment, as float64."""
    scale = float(scale_table()[scale_index])
    decoder = LaplaceDecoder(segment, bound)
    return decoder.decode(np.zeros(count), np.full(count, scale)).astype(np.float64)
