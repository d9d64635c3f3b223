"""Distortion and rate measures, with units in their names."""

from __future__ import annotations

import math

import numpy as np


def mse(decoded: np.ndarray, original: np.ndarray) -> float:
    """Mean squared error over all samples, both images as floats in [0, 1]."""
    diff = np.asarray(decoded, dtype=np.float64) - np.asarray(original, dtype=np.float64)
    return float(np.mean(diff * diff))


def psnr_db_from_mse(mse_value: float) -> float:
    """PSNR in dB of a mean squared error measured on [0, 1] samples (peak 1)."""
    if mse_value <= 0.0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse_value)


def psnr_db(decoded: np.ndarray, original: np.ndarray) -> float:
    """PSNR in dB between two images given as floats in [0, 1]."""
    return psnr_db_from_mse(mse(decoded, original))


def rate_bpp(n_bytes: int, n_pixels: int) -> float:
    """Rate in bits per pixel of `n_bytes` for an image of `n_pixels` pixels."""
    return 8.0 * n_bytes / n_pixels
