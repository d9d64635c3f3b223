"""Wavefront decoding of all latent grids at once.

Each grid is its own range-coded stream, but all share the ARM, so step t of
every grid is decoded in one batch: one context gather and one ARM
evaluation per step, then one constriction call per grid still active.
The grids live zero-padded in one flat float64 buffer (contexts are read
straight from it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from coolchic_core import native_decoding
from coolchic_core.arm_fixed_point import FixedPointArm, means_scales_from_outputs
from coolchic_core.context import (
    coding_order,
    context_offsets,
    decoding_steps,
    padded_shape,
)
from coolchic_core.entropy import LaplaceDecoder
from coolchic_core.grids import grid_shapes  # noqa: F401 (decoders import it from here)


@dataclass
class _Schedule:
    """Every latent in decoding order, with its buffer position and context indices."""

    positions: np.ndarray  # flat index in the buffer, decoding order
    context_offsets: np.ndarray  # (C,) flat offsets of the context values from a position
    step_bounds: np.ndarray  # decoding-order index where each step starts (n_steps + 1)
    runs: list  # per step: list of (grid, start, end) in decoding order
    grid_slices: list  # per grid: (base, padded_shape)
    buffer_size: int


@functools.lru_cache(maxsize=2)
def _cached_schedule(shapes: tuple[tuple[int, int], ...], n_ctx_rowcol: int) -> _Schedule:
    """Images of one size (a dataset) share their schedule; its arrays are read-only."""
    schedule = _build_schedule(list(shapes), n_ctx_rowcol)
    for array in (schedule.positions, schedule.context_offsets, schedule.step_bounds):
        array.setflags(write=False)
    return schedule


def _build_schedule(shapes: list[tuple[int, int]], n_ctx_rowcol: int) -> _Schedule:
    # Every grid is stored with the padded width of the largest one, so that one set of
    # context offsets serves all grids.
    padded_width = padded_shape(*shapes[0], n_ctx_rowcol)[1]
    offsets = context_offsets(n_ctx_rowcol, padded_width)
    positions, steps, grids, grid_slices, base = [], [], [], [], 0
    for grid, (height, width) in enumerate(shapes):
        padded = (height + n_ctx_rowcol, padded_width)
        order = coding_order(height, width, n_ctx_rowcol)
        rows, cols = np.divmod(order, width)
        positions.append(base + (rows + n_ctx_rowcol) * padded_width + cols + n_ctx_rowcol)
        steps.append(decoding_steps(height, width, n_ctx_rowcol)[order])
        grids.append(np.full(order.size, grid, dtype=np.int64))
        grid_slices.append((base, padded))
        base += padded[0] * padded[1]
    step, grid, position = (np.concatenate(x) for x in (steps, grids, positions))
    # Each grid is already in step order: a stable sort on (step, grid) merges the runs.
    order = np.argsort(step * len(shapes) + grid, kind="stable")
    step, grid, position = step[order], grid[order], position[order]
    return _Schedule(position, offsets, *_step_runs(step, grid), grid_slices, base)


def _step_runs(step: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, list]:
    n_steps = int(step[-1]) + 1
    step_bounds = np.searchsorted(step, np.arange(n_steps + 1))
    key = step * (int(grid.max()) + 1) + grid
    change = np.flatnonzero(np.diff(key)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [step.size]))
    runs = [[] for _ in range(n_steps)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        runs[int(step[start])].append((int(grid[start]), start, end))
    return step_bounds, runs


def decode_latents(
    segments: list[bytes],
    shapes: list[tuple[int, int]],
    n_ctx_rowcol: int,
    arm: FixedPointArm,
    bound: int,
) -> list[np.ndarray]:
    """Decode every grid's stream; returns int32 grids of the given shapes.

    The native decoder does it when it is available and the ARM is exact in float64.
    """
    native = native_decoding.decoder()
    if native is not None and arm.exact_in_float:
        return native_decoding.decode_latents(native, segments, shapes, n_ctx_rowcol, arm, bound)
    return decode_latents_numpy(segments, shapes, n_ctx_rowcol, arm, bound)


def decode_latents_numpy(segments, shapes, n_ctx_rowcol, arm, bound) -> list[np.ndarray]:
    """`decode_latents` in numpy and constriction: one ARM batch per wavefront step."""
    schedule = _cached_schedule(tuple(shapes), n_ctx_rowcol)
    decoders = [LaplaceDecoder(segment, bound) for segment in segments]
    buffer = np.zeros(schedule.buffer_size, dtype=np.float64)
    bounds, runs = schedule.step_bounds, schedule.runs
    for step in range(len(runs)):
        first, last = int(bounds[step]), int(bounds[step + 1])
        context_index = schedule.positions[first:last, None] + schedule.context_offsets
        outputs = arm.integer_outputs(buffer[context_index])
        means, scales = means_scales_from_outputs(outputs)
        for grid, start, end in runs[step]:
            symbols = decoders[grid].decode_rounded(
                means[start - first : end - first], scales[start - first : end - first]
            )
            buffer[schedule.positions[start:end]] = symbols
    return _unpad(buffer, schedule, shapes, n_ctx_rowcol)


def _unpad(
    buffer: np.ndarray, schedule: _Schedule, shapes: list[tuple[int, int]], n_ctx_rowcol: int
) -> list[np.ndarray]:
    grids = []
    for (base, padded), (_, width) in zip(schedule.grid_slices, shapes, strict=True):
        block = buffer[base : base + padded[0] * padded[1]].reshape(padded)
        grids.append(block[n_ctx_rowcol:, n_ctx_rowcol : n_ctx_rowcol + width].astype(np.int32))
    return grids
