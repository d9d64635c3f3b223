"""The v2 upsampling and synthesis, as torch functions: the trainer differentiates them and
the decoder runs them under no_grad, so both compute the same thing.

Upsampling by 2 along one axis with the 8-tap symmetric filter k (k[3 - i] = k[4 + i]),
input x of length n padded by repeating its end samples (x[-1] = x[0], ...):
out[2j] = k0 x[j-2] + k2 x[j-1] + k4 x[j] + k6 x[j+1],
out[2j+1] = k1 x[j-1] + k3 x[j] + k5 x[j+1] + k7 x[j+2];
then the first `size` outputs are kept. Rows first, then columns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# x2 bicubic (a = -0.75, as F.interpolate) taps, centre outwards: the filters' initial value.
BICUBIC_HALF_TAPS = (0.87890625, 0.26171875, -0.10546875, -0.03515625)


def symmetric_kernel(half: torch.Tensor) -> torch.Tensor:
    """8 taps from the 4 centre-outwards values: [h3, h2, h1, h0, h0, h1, h2, h3]."""
    return torch.cat((half.flip(0), half))


def _upsample_last_axis(x: torch.Tensor, kernel: torch.Tensor, size: int) -> torch.Tensor:
    n = x.shape[-1]
    padded = torch.cat((x[..., :1], x[..., :1], x, x[..., -1:], x[..., -1:]), dim=-1)
    even = sum(kernel[2 * m] * padded[..., m : m + n] for m in range(4))
    odd = sum(kernel[2 * m + 1] * padded[..., m + 1 : m + 1 + n] for m in range(4))
    out = torch.stack((even, odd), dim=-1).reshape(*x.shape[:-1], 2 * n)
    return out[..., :size]


def upsample2x(x: torch.Tensor, half_taps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) to (C, size) with size <= (2h, 2w): rows, then columns."""
    kernel = symmetric_kernel(half_taps)
    rows = _upsample_last_axis(x.transpose(-1, -2), kernel, size[0]).transpose(-1, -2)
    return _upsample_last_axis(rows, kernel, size[1])


def upsample_cascade(latents: list[torch.Tensor], half_taps: torch.Tensor) -> torch.Tensor:
    """Grids (h_i, w_i) to (N, H, W): U = y_{N-1}; for i = N-2..0:
    U = concat(y_i, upsample2x(U, filter i, size of y_i))."""
    upsampled = latents[-1][None]
    for level in range(len(latents) - 2, -1, -1):
        grid = latents[level]
        upsampled = upsample2x(upsampled, half_taps[level], tuple(grid.shape))
        upsampled = torch.cat((grid[None], upsampled), dim=0)
    return upsampled


def synthesize(
    features: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], specs
) -> torch.Tensor:
    """(C, H, W) features through the synthesis layers `specs` (architecture.ConvLayer),
    weights (out, in, k, k), replicate padding; the unclamped (3, H, W) image."""
    x = features[None]
    for weight, bias, spec in zip(weights, biases, specs, strict=True):
        pad = spec.kernel_size // 2
        source = F.pad(x, (pad, pad, pad, pad), mode="replicate") if pad else x
        y = F.conv2d(source, weight, bias)
        if spec.residual:
            y = y + x
        x = torch.relu(y) if spec.relu else y
    return x[0]
