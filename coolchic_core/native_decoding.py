"""The native decoder (kernels/latent_decoder.cpp, kernels/reconstruction.cpp; v1 and v2),
used when it builds and agrees.

`decoder()` returns the two extension modules as a `NativeDecoder`, or None: no
compiler (one-line notice, then the Python decoder is used), `COOLCHIC_NATIVE_DECODER=0`
in the environment, or a self-check that finds it disagreeing on this machine. The
self-check first decodes, with both, a fixed pseudo-random set of streams (valid ones
encoded by constriction, and random words) under Laplace models that spread over the
means and scales of the format; constriction's own symbols are the reference. It then
decodes latent grids that the Python encoder wrote under random ARMs of the shapes
that the native decoder runs with code of their own (12-12-12-2, 12-16-16-2) and of
another shape, on one thread and on two; the written grids are the reference.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

import numpy as np
import torch

from coolchic_core import entropy
from coolchic_core.arm_fixed_point import FixedPointArm, scale_table
from coolchic_core.errors import BitstreamError
from coolchic_core.mlp_params import Layer

logger = logging.getLogger(__name__)

DISABLE_VARIABLE = "COOLCHIC_NATIVE_DECODER"


@dataclass(frozen=True)
class NativeDecoder:
    """The native decoder's two modules: the latents (bit-exact), the reconstruction."""

    latents: object
    reconstruction: object


@functools.cache
def decoder() -> NativeDecoder | None:
    """The native decoder, or None (the Python decoder is used)."""
    if os.environ.get(DISABLE_VARIABLE) == "0":
        return None
    from coolchic_core.kernels import LATENT_DECODER, RECONSTRUCTION
    from coolchic_core.kernels.build import load_kernel

    try:
        native = NativeDecoder(load_kernel(LATENT_DECODER), load_kernel(RECONSTRUCTION))
    except Exception as exc:  # a missing compiler shows up as many exception types
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        logger.warning("native decoder unavailable (%s); using the Python decoder", reason)
        return None
    if not agrees_with_constriction(native.latents):
        logger.warning("native decoder disagrees with constriction here; using the Python decoder")
        return None
    if not decodes_written_latents(native):
        logger.warning(
            "native decoder does not decode the Python encoder's latents here; "
            "using the Python decoder"
        )
        return None
    return native


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


def random_arm(
    rng, hidden: tuple[int, ...], bound: int, n_inputs: int = 12, spread=(0.35, 1.0)
) -> FixedPointArm:
    """An ARM with `n_inputs` context values (12: a 2-row context) and random parameters on
    the 1/64 grid: weights and biases normal with standard deviations `spread`."""
    from coolchic_core.mlp_params import layer_shapes

    weight_sd, bias_sd = spread
    layers = [
        Layer(
            (np.round(rng.normal(0.0, weight_sd, shape) * 64) / 64).astype(np.float32),
            (np.round(rng.normal(0.0, bias_sd, shape[0]) * 64) / 64).astype(np.float32),
        )
        for shape in layer_shapes(n_inputs, hidden, 2)
    ]
    return FixedPointArm(layers, max_abs_input=bound + 1)


def _latent_check_cases(seed: int = 20261):
    """(grids, arm, bound): three grids each, under ARMs of the native decoder's shapes."""
    rng = np.random.default_rng(seed)
    shapes = [(36, 44), (18, 22), (9, 11)]
    for hidden in ((12, 12), (16, 16), (7,)):
        bound = 40
        arm = random_arm(rng, hidden, bound)
        spreads = (6.0, 1.5, 0.4)  # wide, narrow, mostly zero (the all-zero context model)
        grids = [
            np.clip(np.round(rng.laplace(0.0, spread, shape)), -bound, bound).astype(np.int32)
            for spread, shape in zip(spreads, shapes, strict=True)
        ]
        yield grids, arm, bound


def decodes_written_latents(native: NativeDecoder) -> bool:
    """Whether grids written by the Python encoder decode to themselves, on one thread
    and on two (`_latent_check_cases`, context of 2 rows)."""
    from coolchic_core.latent_coding import encode_grid

    for grids, arm, bound in _latent_check_cases():
        segments = [encode_grid(grid, arm, 2, bound) for grid in grids]
        shapes = [grid.shape for grid in grids]
        for parallel in (False, True):
            try:
                decoded = decode_latents(native, segments, shapes, 2, arm, bound, parallel)
            except BitstreamError:
                return False
            if not all(np.array_equal(a, b) for a, b in zip(decoded, grids, strict=True)):
                return False
    return True


@functools.cache
def _scale_table_tensor() -> tuple[torch.Tensor, int]:
    table, v1_low = scale_table()
    return torch.from_numpy(table.copy()), v1_low


def decode_latents(
    native: NativeDecoder, segments, shapes, n_ctx_rowcol, arm, bound, parallel=None
) -> list[np.ndarray]:
    """`latent_decoding.decode_latents` by the native decoder (the ARM is exact in float64).

    `parallel`: decode grid 0 and the others in two threads (default: when torch has more
    than one thread)."""
    if parallel is None:
        parallel = torch.get_num_threads() > 1
    if not arm.exact_in_float:
        raise ValueError("the native decoder evaluates the ARM in float64: it must be exact there")
    layers = arm.affine_layers()
    table, v1_low = _scale_table_tensor()
    words = [_words(segment) for segment in segments]
    try:
        grids = native.latents.decode_latents(
            words,
            [list(shape) for shape in shapes],
            int(n_ctx_rowcol),
            [torch.from_numpy(weight) for weight, _ in layers],
            [torch.from_numpy(bias) for _, bias in layers],
            table,
            int(v1_low),
            int(bound),
            bool(parallel),
        )
    except RuntimeError as exc:
        raise _bitstream_error(exc) from None
    return [grid.numpy() for grid in grids]


def upsample(native: NativeDecoder, latents: list[np.ndarray]) -> torch.Tensor:
    """The synthesis input (N, H, W) from the integer grids."""
    grids = [torch.from_numpy(np.asarray(grid, dtype=np.float32)) for grid in latents]
    return native.reconstruction.upsample_cascade(grids)


def synthesize(native: NativeDecoder, features: torch.Tensor, layers: list[Layer]) -> np.ndarray:
    """Float32 image (H, W, 3) in [0, 1] from the synthesis input (N, H, W)."""
    return native.reconstruction.synthesize(
        features,
        [torch.from_numpy(np.ascontiguousarray(layer.weight)) for layer in layers],
        [torch.from_numpy(np.ascontiguousarray(layer.bias)) for layer in layers],
        [layer.is_residual(index, len(layers)) for index, layer in enumerate(layers)],
    ).numpy()
