"""Cascaded bicubic upsampling of the latent grids (format spec section 7).

Two implementations of the same linear map:

- `F.interpolate(mode="bicubic", align_corners=False)` (CPU): what the
  decoder runs.
- `separable_bicubic` (CUDA): the same interpolation as two fixed matrices,
  one per axis, U' = A_h U A_w^T. Its backward is two matrix products, which
  are deterministic on CUDA, whereas the backward of F.interpolate's bicubic
  kernel accumulates with atomic adds (nondeterministic, refused under
  `torch.use_deterministic_algorithms(True)`). Each row of A holds the 4
  taps of the cubic convolution kernel (Keys 1981, a = -0.75, as torch uses)
  at the source position torch computes, x_src = (x + 1/2) in / out - 1/2,
  with indices clamped to the border (torch's replicated edge). For a 2x
  upsampling, the usual case, the rows alternate between two polyphase filters
  (phases 3/4 and 1/4), i.e. a transposed convolution written as a banded matrix.
  Matrices rather than cuDNN convolutions: float32 products stay float32
  (cuDNN may use TF32 on recent GPUs by default) and no algorithm search runs.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

CUBIC_A = -0.75


def upsample_cascade(latents: list[torch.Tensor]) -> torch.Tensor:
    """Stack the grids (h_i, w_i) into (N, H, W) with channels [y_0, ..., y_{N-1}].

    U = y_{N-1}; for i = N-2..0: U = bicubic(U, size of y_i) (align_corners
    False), then U = concat(y_i, U). On CUDA the bicubic step is
    `separable_bicubic` (deterministic backward), elsewhere F.interpolate.
    """
    resize = separable_bicubic if latents[0].is_cuda else _interpolate_bicubic
    upsampled = latents[-1][None]
    for latent in reversed(latents[:-1]):
        upsampled = torch.cat([latent[None], resize(upsampled, tuple(latent.shape))], dim=0)
    return upsampled


def _interpolate_bicubic(stack: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(stack[None], size=size, mode="bicubic", align_corners=False)[0]


def separable_bicubic(stack: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize (align_corners False) of (C, h, w) to (C, H, W) as A_h @ stack @ A_w^T."""
    height, width = size
    rows = bicubic_matrix(stack.shape[-2], height, stack.dtype, stack.device)
    cols = bicubic_matrix(stack.shape[-1], width, stack.dtype, stack.device)
    return torch.matmul(torch.matmul(rows, stack), cols.T)


def cubic_taps(t: float) -> tuple[float, float, float, float]:
    """Weights of the samples at offsets -1, 0, 1, 2 for a fraction t in [0, 1)."""

    def near(x: float) -> float:  # |x| <= 1
        return ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0

    def far(x: float) -> float:  # 1 < |x| < 2
        return ((CUBIC_A * x - 5.0 * CUBIC_A) * x + 8.0 * CUBIC_A) * x - 4.0 * CUBIC_A

    return far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)


@functools.lru_cache(maxsize=64)
def bicubic_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) matrix of the 1-D bicubic resize of F.interpolate (align_corners False)."""
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    scale = n_in / n_out
    for out_index in range(n_out):
        source = (out_index + 0.5) * scale - 0.5  # not clamped at 0 for cubic, as in torch
        first = math.floor(source)
        for offset, weight in zip(range(-1, 3), cubic_taps(source - first), strict=True):
            matrix[out_index, min(max(first + offset, 0), n_in - 1)] += weight
    return torch.from_numpy(matrix).to(dtype=dtype, device=device)
