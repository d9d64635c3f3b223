"""The native decoder (kernels/decoder.cpp: v1; v2 too), used when it builds and agrees.

`decoder()` returns the extension module, or None: no compiler (one-line notice,
then the Python decoder is used), `COOLCHIC_NATIVE_DECODER=0` in the environment,
or a self-check that finds it disagreeing with constriction on this machine. The
self-check decodes, with both, a fixed pseudo-random set of streams (valid ones
encoded by constriction, and random words) under Laplace models that spread over the
means and scales of the format; constriction's own symbols are the reference.
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np
import torch

from coolchic_core import entropy
from coolchic_core.arm_fixed_point import scale_table
from coolchic_core.errors import BitstreamError
from coolchic_core.mlp_params import Layer

logger = logging.getLogger(__name__)

DISABLE_VARIABLE = "COOLCHIC_NATIVE_DECODER"


@functools.cache
def decoder():
    """The native decoder module, or None (the Python decoder is used)."""
    if os.environ.get(DISABLE_VARIABLE) == "0":
        return None
    from coolchic_core.kernels import DECODER
    from coolchic_core.kernels.build import load_kernel

    try:
        module = load_kernel(DECODER)
    except Exception as exc:  # a missing compiler shows up as many exception types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        logger.warning("native decoder unavailable (%s); using the Python decoder", reason)
        return None
    if not agrees_with_constriction(module):
        logger.warning("native decoder disagrees with constriction here; using the Python decoder")
        return None
    return module


def _words(segment: bytes) -> torch.Tensor:
    if len(segment) % 4:
        raise BitstreamError(
            f"segment of {len(segment)} bytes is not a whole number of 32-bit words"
        )
    words = np.frombuffer(segment, dtype="<u4").astype(np.uint32).view(np.int32)
    return torch.from_numpy(words.copy())


def _bitstream_error(exc: RuntimeError) -> BitstreamError:
    line = (str(exc).strip().splitlines() or ["corrupt range-coded segment"])[0]
    if not line.startswith("corrupt range-coded segment"):
        line = f"corrupt range-coded segment: {line}"
    return BitstreamError(line)


def range_decode(module, segment: bytes, means: np.ndarray, scales: np.ndarray, bound: int):
    """Symbols of one stream under per-symbol Laplace parameters (rounded, scales > 0)."""
    try:
        return module.range_decode_laplace(
            _words(segment),
            torch.from_numpy(np.ascontiguousarray(means, dtype=np.float64)),
            torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float64)),
            int(bound),
        ).numpy()
    except RuntimeError as exc:
        raise _bitstream_error(exc) from None


def _check_cases(seed: int = 20260):
    """(segment, means, scales, bound): valid streams and random words, fixed by `seed`."""
    rng = np.random.default_rng(seed)
    table, _ = scale_table()
    for case in range(24):
        bound = int(rng.choice([1, 7, 54, 300]))
        n = 400
        means = np.round(rng.normal(0.0, [0.3, 2.0, 20.0][case % 3], n) * 128) / 128
        scales = rng.choice(table, n)
        if case % 2:
            symbols = np.clip(np.round(rng.laplace(means, 1.0)), -bound, bound)
            segment = entropy.encode_laplace(symbols, means, scales, bound)
        else:
            segment = rng.integers(0, 2**32, 8, dtype=np.uint32).astype("<u4").tobytes()
        yield segment, means, scales, bound


def _reference(segment, means, scales, bound):
    try:
        return entropy.LaplaceDecoder(segment, bound).decode_rounded(means, scales)
    except BitstreamError:
        return None


def agrees_with_constriction(module) -> bool:
    """Whether the native range decoder gives constriction's symbols on the check cases."""
    for segment, means, scales, bound in _check_cases():
        try:
            ours = range_decode(module, segment, means, scales, bound)
        except BitstreamError:
            ours = None
        reference = _reference(segment, means, scales, bound)
        if (ours is None) != (reference is None):
            return False
        if ours is not None and not np.array_equal(ours, reference):
            return False
    return True


@functools.cache
def _scale_table_tensor() -> tuple[torch.Tensor, int]:
    table, v1_low = scale_table()
    return torch.from_numpy(table.copy()), v1_low


def decode_latents(module, segments, shapes, n_ctx_rowcol, arm, bound) -> list[np.ndarray]:
    """`latent_decoding.decode_latents` by the native `module` (the ARM is exact in float64)."""
    if not arm.exact_in_float:
        raise ValueError("the native decoder evaluates the ARM in float64: it must be exact there")
    layers = arm.affine_layers()
    table, v1_low = _scale_table_tensor()
    words = [_words(segment) for segment in segments]
    try:
        grids = module.decode_latents(
            words,
            [list(shape) for shape in shapes],
            int(n_ctx_rowcol),
            [torch.from_numpy(weight) for weight, _ in layers],
            [torch.from_numpy(bias) for _, bias in layers],
            table,
            int(v1_low),
            int(bound),
            torch.get_num_threads() > 1,
        )
    except RuntimeError as exc:
        raise _bitstream_error(exc) from None
    return [grid.numpy() for grid in grids]


def upsample(module, latents: list[np.ndarray]) -> torch.Tensor:
    """The synthesis input (N, H, W) from the integer grids."""
    grids = [torch.from_numpy(np.asarray(grid, dtype=np.float32)) for grid in latents]
    return module.upsample_cascade(grids)


def synthesize(module, features: torch.Tensor, layers: list[Layer]) -> np.ndarray:
    """Float32 image (H, W, 3) in [0, 1] from the synthesis input (N, H, W)."""
    return module.synthesize(
        features,
        [torch.from_numpy(np.ascontiguousarray(layer.weight)) for layer in layers],
        [torch.from_numpy(np.ascontiguousarray(layer.bias)) for layer in layers],
        [layer.is_residual(index, len(layers)) for index, layer in enumerate(layers)],
    ).numpy()
