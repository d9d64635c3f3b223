"""Separable bicubic upsampling (used on CUDA) = F.interpolate bicubic: values, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from coolchic_core.grids import grid_shapes
from coolchic_core.model.upsampling import bicubic_matrix, cubic_taps, separable_bicubic


def _interpolate(stack, size):
    return F.interpolate(stack[None], size=size, mode="bicubic", align_corners=False)[0]


@pytest.mark.parametrize(
    ("shape_in", "shape_out"),
    [
        ((3, 4, 5), (8, 10)),
        ((1, 1, 1), (2, 2)),
        ((2, 3, 5), (5, 9)),
        ((1, 2, 1), (3, 1)),
        ((4, 24, 16), (48, 32)),
        ((2, 7, 3), (14, 5)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_separable_equals_interpolate_forward_and_gradient(shape_in, shape_out, dtype):
    generator = torch.Generator().manual_seed(sum(shape_in))
    stack = torch.randn(shape_in, generator=generator, dtype=dtype, requires_grad=True)
    reference, ours = _interpolate(stack, shape_out), separable_bicubic(stack, shape_out)
    tolerance = 1e-12 if dtype == torch.float64 else 2e-6
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, rtol=tolerance, atol=tolerance)
    weights = torch.randn(reference.shape, generator=generator, dtype=dtype)
    (grad_reference,) = torch.autograd.grad(reference, stack, weights)
    (grad_ours,) = torch.autograd.grad(ours, stack, weights)
    torch.testing.assert_close(grad_ours, grad_reference, rtol=tolerance, atol=tolerance)


def test_cascade_of_grid_sizes_of_odd_images():
    """Every step of the cascade of a 45x77 image (odd sizes at every level)."""
    sizes = grid_shapes(45, 77, 7)
    for small, large in zip(sizes[1:], sizes[:-1], strict=True):
        stack = torch.randn((3, *small), dtype=torch.float64)
        torch.testing.assert_close(separable_bicubic(stack, large), _interpolate(stack, large))


def test_2x_rows_are_two_polyphase_filters_with_replicated_border():
    matrix = bicubic_matrix(6, 12, torch.float64, torch.device("cpu"))
    even, odd = cubic_taps(0.75), cubic_taps(0.25)
    assert matrix[4, 0:4].tolist() == pytest.approx(list(even))  # output 4 = input 2 - 1/4
    assert matrix[5, 1:5].tolist() == pytest.approx(list(odd))  # output 5 = input 2 + 1/4
    assert even == pytest.approx(odd[::-1])
    assert matrix.sum(dim=1).tolist() == pytest.approx([1.0] * 12)  # border taps folded in
    assert matrix[0, 0] == pytest.approx(even[0] + even[1] + even[2])
