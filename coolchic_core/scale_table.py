"""The v1 table of Laplace scales used for the MLP parameters (format spec, section 4)."""

from __future__ import annotations

import functools

import numpy as np
import torch

N_SCALES = 65535
_MANTISSA_BITS = 23
# (upper bound of the value, number of fraction bits kept), first match wins.
_KEPT_FRACTION_BITS = (
    (2, 9),
    (4, 10),
    (8, 11),
    (16, 12),
    (32, 13),
    (64, 14),
    (128, 15),
    (256, 16),
    (512, 17),
    (float("inf"), 18),
)


@functools.cache
def scale_table() -> np.ndarray:
    """The 65,535 float32 scales, 2 ** linspace(1/1024, 16) with truncated mantissas."""
    values = (2.0 ** torch.linspace(1 / 1024, 16, steps=N_SCALES)).to(torch.float32).numpy()
    bits = values.view(np.uint32).copy()
    for upper, kept in reversed(_KEPT_FRACTION_BITS):
        dropped = _MANTISSA_BITS - kept
        mask = np.uint32((0xFFFFFFFF >> dropped) << dropped)
        selected = values < upper
        bits[selected] &= mask
    table = bits.view(np.float32)
    table.setflags(write=False)
    return table


def nearest_scale_index(scale: float) -> int:
    """Index of the table entry nearest to `scale` (the encoder's choice)."""
    table = scale_table()
    return int(np.argmin(np.abs(table.astype(np.float64) - float(scale))))
