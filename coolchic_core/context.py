"""Causal context of the ARM and the decoding order of a latent grid (format spec, section 6).

The context of (r, c) is 2n(n+1) values of the same grid, zero outside it:
rows r-n..r-1 at columns c-n..c+n, then row r at columns c-n..c-1.
Grids are stored zero-padded by n rows on top and n columns on each side,
so a context is a fixed set of offsets from the position's flat index.
"""

from __future__ import annotations

import numpy as np


def n_context(n_ctx_rowcol: int) -> int:
    """Number of causal context values, 2n(n+1)."""
    return 2 * n_ctx_rowcol * (n_ctx_rowcol + 1)


def padded_shape(height: int, width: int, n_ctx_rowcol: int) -> tuple[int, int]:
    return height + n_ctx_rowcol, width + 2 * n_ctx_rowcol


def context_neighbours(n_ctx_rowcol: int) -> list[tuple[int, int]]:
    """(row, column) offsets of the 2n(n+1) causal neighbours, in raster order:
    rows r-n..r-1 at columns c-n..c+n, then row r at columns c-n..c-1."""
    n = n_ctx_rowcol
    above = [(dr, dc) for dr in range(-n, 0) for dc in range(-n, n + 1)]
    return above + [(0, dc) for dc in range(-n, 0)]


def context_offsets(n_ctx_rowcol: int, padded_width: int) -> np.ndarray:
    """Flat offsets of the context values from a position, in the padded grid, in raster order."""
    neighbours = context_neighbours(n_ctx_rowcol)
    return np.array([dr * padded_width + dc for dr, dc in neighbours], dtype=np.int64)


def padded_flat_positions(height: int, width: int, n_ctx_rowcol: int) -> np.ndarray:
    """Flat index (in the padded grid) of every grid position, raster order, shape (H*W,)."""
    _, padded_width = padded_shape(height, width, n_ctx_rowcol)
    rows = np.arange(height, dtype=np.int64)[:, None] + n_ctx_rowcol
    cols = np.arange(width, dtype=np.int64)[None, :] + n_ctx_rowcol
    return (rows * padded_width + cols).ravel()


def context_chunks(grid: np.ndarray, n_ctx_rowcol: int, chunk: int = 1 << 18):
    """Contexts of every position of a fully known grid (the encoder's case), raster order,
    as float64 arrays of at most `chunk` rows: memory stays bounded on large images."""
    height, width = grid.shape
    padded = np.zeros(padded_shape(height, width, n_ctx_rowcol), dtype=np.float64)
    padded[n_ctx_rowcol:, n_ctx_rowcol : n_ctx_rowcol + width] = grid
    flat = padded.ravel()
    positions = padded_flat_positions(height, width, n_ctx_rowcol)
    offsets = context_offsets(n_ctx_rowcol, padded.shape[1])
    for start in range(0, positions.size, chunk):
        yield flat[positions[start : start + chunk, None] + offsets[None, :]]


def decoding_steps(height: int, width: int, n_ctx_rowcol: int) -> np.ndarray:
    """Step of every position (raster order): the wavefront t = c + r(n+1) when W > n,
    else raster order t = r W + c (what the v1 encoder did for narrow grids)."""
    rows = np.arange(height, dtype=np.int64)[:, None]
    cols = np.arange(width, dtype=np.int64)[None, :]
    if width > n_ctx_rowcol:
        steps = cols + rows * (n_ctx_rowcol + 1)
    else:
        steps = rows * width + cols
    return steps.ravel()


def coding_order(height: int, width: int, n_ctx_rowcol: int) -> np.ndarray:
    """Raster indices of the positions in stream order: by step, then by row."""
    steps = decoding_steps(height, width, n_ctx_rowcol)
    rows = np.repeat(np.arange(height, dtype=np.int64), width)
    return np.lexsort((rows, steps))
