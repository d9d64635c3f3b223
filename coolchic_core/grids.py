"""Sizes of the latent grids: grid i is ceil(H / 2^i) x ceil(W / 2^i) (format spec, section 3)."""

from __future__ import annotations


def grid_shapes(height: int, width: int, n_grids: int) -> list[tuple[int, int]]:
    """(rows, columns) of grid i = 0 .. n_grids - 1, full resolution first."""
    return [(-(-height // 2**i), -(-width // 2**i)) for i in range(n_grids)]


def n_latents(height: int, width: int, n_grids: int) -> int:
    """Number of latent values of all grids together."""
    return sum(rows * cols for rows, cols in grid_shapes(height, width, n_grids))
