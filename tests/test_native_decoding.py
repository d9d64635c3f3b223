"""The native decoder reproduces constriction's range decoder and the Python decoder exactly."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bench import isa_check
from coolchic_core import entropy, native_decoding
from coolchic_core.arm_fixed_point import scale_table
from coolchic_core.context import n_context
from coolchic_core.errors import BitstreamError
from coolchic_core.grids import grid_shapes
from coolchic_core.latent_decoding import decode_latents_numpy

NATIVE = native_decoding.decoder()
pytestmark = pytest.mark.skipif(NATIVE is None, reason="no C++ compiler for the native decoder")
BITSTREAMS = Path(__file__).resolve().parents[2] / "shared/reference/coolchic-v1/bitstreams"


def random_models(rng, n):
    """Means on the 1/128 grid spread over small and large values; scales from the v1 table."""
    spread = rng.choice([0.2, 2.0, 40.0])
    means = np.round(rng.normal(0.0, spread, n) * 128) / 128
    scales = rng.choice(scale_table()[0], n)
    return means, scales


def constriction_symbols(segment, means, scales, bound):
    try:
        return entropy.LaplaceDecoder(segment, bound).decode_rounded(means, scales)
    except BitstreamError:
        return None


def native_symbols(segment, means, scales, bound):
    try:
        return native_decoding.range_decode(NATIVE.latents, segment, means, scales, bound)
    except BitstreamError:
        return None


@pytest.mark.parametrize("seed", range(12))
def test_streams_encoded_by_constriction_decode_to_their_symbols(seed):
    rng = np.random.default_rng(seed)
    bound = int(rng.choice([1, 5, 54, 1000]))
    n = int(rng.integers(1, 3000))
    means, scales = random_models(rng, n)
    symbols = np.clip(np.round(rng.laplace(means, rng.choice([0.3, 3.0]))), -bound, bound)
    segment = entropy.encode_laplace(symbols, means, scales, bound)
    ours = native_symbols(segment, means, scales, bound)
    np.testing.assert_array_equal(ours, symbols.astype(np.int32))


@pytest.mark.parametrize("seed", range(40))
def test_random_words_decode_as_constriction_decodes_them(seed):
    """Garbage streams: the same symbols, or an error from both (quantile out of range)."""
    rng = np.random.default_rng(1000 + seed)
    bound = int(rng.choice([1, 7, 54, 255]))
    n = int(rng.integers(1, 2000))
    means, scales = random_models(rng, n)
    segment = rng.integers(0, 2**32, int(rng.integers(0, 40)), dtype=np.uint32).tobytes()
    reference = constriction_symbols(segment, means, scales, bound)
    ours = native_symbols(segment, means, scales, bound)
    assert (ours is None) == (reference is None)
    if reference is not None:
        np.testing.assert_array_equal(ours, reference)


def constriction_left_cumulative(mean, scale, bound, symbol):
    """Smallest 24-bit quantile that constriction decodes to `symbol` or above.

    A fresh decoder has lower = 0 and range = 2^64 - 1, so the point q (2^40 - 1) in
    the first two words gives the quantile q exactly.
    """

    def decoded(quantile):
        point = quantile * (2**40 - 1)
        words = np.array([point >> 32, point & 0xFFFFFFFF], dtype="<u4").tobytes()
        return int(constriction_symbols(words, np.array([mean]), np.array([scale]), bound)[0])

    low, high = 0, 2**24  # decoded(high - 1) >= symbol is not known; search the first q
    while low < high:
        mid = (low + high) // 2
        if decoded(mid) >= symbol:
            high = mid
        else:
            low = mid + 1
    return low


@pytest.mark.parametrize("seed", range(6))
def test_integer_cumulatives_are_constriction_s(seed):
    rng = np.random.default_rng(2000 + seed)
    bound = int(rng.choice([3, 54]))
    means, scales = random_models(rng, 1)
    ours = NATIVE.latents.laplace_cumulatives(float(means[0]), float(scales[0]), bound).numpy()
    for symbol in rng.integers(-bound + 1, bound + 2, 4):
        expected = constriction_left_cumulative(means[0], scales[0], bound, int(symbol))
        assert ours[int(symbol) + bound] == expected


def published(name):
    path = BITSTREAMS / f"{name}.bin"
    if not path.is_file():
        pytest.skip("published bitstreams not found")
    return path.read_bytes()


def test_native_latents_are_the_python_decoder_s():
    inputs = isa_check.latent_inputs(published("kodim23-lambda004"))
    ours = native_decoding.decode_latents(NATIVE, *inputs)
    for a, b in zip(ours, decode_latents_numpy(*inputs), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(4))
def test_garbage_segments_give_a_bitstream_error_or_grids(seed):
    """Random segment bytes under a real header: grids in range, or one BitstreamError."""
    segments, shapes, n_ctx, arm, bound = isa_check.latent_inputs(published("kodim23-lambda004"))
    rng = np.random.default_rng(3000 + seed)
    garbage = [
        rng.integers(0, 256, len(s) - len(s) % 4, dtype=np.uint8).tobytes() for s in segments
    ]
    try:
        grids = native_decoding.decode_latents(NATIVE, garbage, shapes, n_ctx, arm, bound)
    except BitstreamError as exc:
        assert "\n" not in str(exc)
        return
    for grid, shape in zip(grids, shapes, strict=True):
        assert grid.shape == shape and np.abs(grid).max() <= bound + 1


def test_a_segment_that_is_not_whole_words_is_refused():
    segments, shapes, n_ctx, arm, bound = isa_check.latent_inputs(published("kodim23-lambda004"))
    with pytest.raises(BitstreamError, match="32-bit words"):
        native_decoding.decode_latents(
            NATIVE, [segments[0][:-1], *segments[1:]], shapes, n_ctx, arm, bound
        )


def test_the_self_check_rejects_a_decoder_that_differs():
    class OffByOne:
        def range_decode_laplace(self, *args):
            return NATIVE.latents.range_decode_laplace(*args) + 1

    assert native_decoding.agrees_with_constriction(NATIVE.latents)
    assert not native_decoding.agrees_with_constriction(OffByOne())


def test_the_self_check_rejects_a_latent_decoder_that_differs():
    class OneLatentOff:
        def decode_latents(self, *args):
            grids = NATIVE.latents.decode_latents(*args)
            grids[0][0, 0] += 1
            return grids

    assert native_decoding.decodes_written_latents(NATIVE)
    broken = native_decoding.NativeDecoder(OneLatentOff(), NATIVE.reconstruction)
    assert not native_decoding.decodes_written_latents(broken)


def test_the_self_check_runs_the_arm_shapes_with_code_of_their_own():
    """12-12-12-2 and 12-16-16-2 (latent_decoder.cpp's compiled widths) and one other."""
    hidden = [
        tuple(weight.shape[1] for weight, _ in case[1].affine_layers()[:-1])
        for case in native_decoding._latent_check_cases()
    ]
    assert hidden == [(12, 12), (16, 16), (7,)]


def test_without_a_compiler_the_python_decoder_is_used_with_one_notice(monkeypatch, caplog):
    from coolchic_core.kernels import build

    def no_compiler(kernel):
        raise OSError("c++: command not found")

    monkeypatch.setattr(build, "load_kernel", no_compiler)
    native_decoding.decoder.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="coolchic_core.native_decoding"):
            assert native_decoding.decoder() is None
            assert native_decoding.decoder() is None
        notices = [r.getMessage() for r in caplog.records]
        assert notices == [
            "native decoder unavailable (c++: command not found); using the Python decoder"
        ]
    finally:
        native_decoding.decoder.cache_clear()


def test_the_environment_can_turn_the_native_decoder_off(monkeypatch):
    monkeypatch.setenv(native_decoding.DISABLE_VARIABLE, "0")
    native_decoding.decoder.cache_clear()
    try:
        assert native_decoding.decoder() is None
    finally:
        native_decoding.decoder.cache_clear()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(10))
def test_random_grids_and_arms_round_trip_as_in_python(seed, threads, monkeypatch):
    """Other context sizes, ARM shapes and narrow grids (raster order) than the paper's."""
    from coolchic_core.latent_coding import encode_grid

    rng = np.random.default_rng(4000 + seed)
    n_ctx_rowcol = int(rng.integers(1, 4))
    hidden = [(), (5,), (8, 8), (12, 12)][seed % 4]
    bound = int(rng.choice([3, 20]))
    arm = native_decoding.random_arm(rng, hidden, bound, n_context(n_ctx_rowcol), (0.3, 0.5))
    height, width = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    shapes = grid_shapes(height, width, int(rng.integers(1, 5)))
    grids = [
        np.clip(np.round(rng.laplace(0, 1.5, shape)), -bound, bound).astype(np.int32)
        for shape in shapes
    ]
    segments = [encode_grid(grid, arm, n_ctx_rowcol, bound) for grid in grids]
    monkeypatch.setattr(native_decoding.torch, "get_num_threads", lambda: threads)  # 2: two threads
    ours = native_decoding.decode_latents(NATIVE, segments, shapes, n_ctx_rowcol, arm, bound)
    reference = decode_latents_numpy(segments, shapes, n_ctx_rowcol, arm, bound)
    for mine, theirs, grid in zip(ours, reference, grids, strict=True):
        np.testing.assert_array_equal(mine, theirs)
        np.testing.assert_array_equal(mine, grid)


def test_an_arm_not_exact_in_float64_is_left_to_the_python_decoder():
    segments, shapes, n_ctx, arm, bound = isa_check.latent_inputs(published("kodim23-lambda02"))
    arm.exact_in_float = False
    with pytest.raises(ValueError, match="exact"):
        native_decoding.decode_latents(NATIVE, segments, shapes, n_ctx, arm, bound)
    from coolchic_core.latent_decoding import decode_latents

    for a, b in zip(
        decode_latents(segments, shapes, n_ctx, arm, bound),
        decode_latents_numpy(segments, shapes, n_ctx, arm, bound),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
