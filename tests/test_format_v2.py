"""The v2 format: round trip at the smoke preset, header, MAC count, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coolchic_cli import main
from coolchic_core import decode_bitstream, encode, formats, native_decoding
from coolchic_core.errors import BitstreamError
from coolchic_core.formats.v2 import inference, layers
from coolchic_core.formats.v2.architecture import ConvLayer, V2Config, multiplications
from coolchic_core.formats.v2.header import parse_header, write_header
from coolchic_core.formats.v2.segments import NetworksV2
from coolchic_core.grids import grid_shapes
from tests.fuzzing import assert_decodes_or_refuses, mutate


def _test_image(height: int = 38, width: int = 50) -> np.ndarray:
    """A small synthetic image of odd-sized grids (not a Kodak image)."""
    rows, cols = np.mgrid[0:height, 0:width]
    red = 128 + 100 * np.sin(rows / 5.0)
    green = 2.5 * cols + 40
    blue = 255 * ((rows // 8 + cols // 8) % 2)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def encoded():
    return encode(_test_image(), 0.002, preset="smoke", seed=3, format="v2", threads=1)


def test_round_trip_decoder_equals_encoder(encoded):
    assert encoded.bitstream[:5] == b"CCv2\x01"
    decoded = decode_bitstream(encoded.bitstream)
    assert decoded.format_name == "v2" and decoded.format_version == 1
    np.testing.assert_array_equal(decoded.image, encoded.decoded.image)
    assert encoded.metrics["psnr"] == encoded.metrics["decoder_psnr_db"]
    assert decoded.image.shape == (38, 50, 3)
    assert encoded.metrics["decoder_psnr_db"] > 12.0  # it learned something in 60 iterations


def test_same_seed_same_bytes(encoded):
    again = encode(_test_image(), 0.002, preset="smoke", seed=3, format="v2", threads=1)
    assert again.bitstream == encoded.bitstream


def test_header_round_trips(encoded):
    header = parse_header(encoded.bitstream)
    assert write_header(header) == encoded.bitstream[: header.n_bytes_header]
    assert header.config == V2Config()


def test_info_names_format_and_counts_multiplications(encoded, tmp_path, capsys):
    path = tmp_path / "a.bin"
    path.write_bytes(encoded.bitstream)
    assert main(["info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["format"], info["format_version"]) == ("v2", 1)
    assert info["n_bytes"] == len(encoded.bitstream)
    kodak = multiplications(V2Config(), 512, 768)
    assert 1000 <= kodak["total"] <= 1500
    assert kodak["total"] == pytest.approx(kodak["arm"] + kodak["synthesis"] + kodak["upsampling"])


def test_bicubic_initial_filters_are_bicubic():
    x = torch.randn(2, 6, 9, dtype=torch.float64)
    half = torch.tensor(layers.BICUBIC_HALF_TAPS, dtype=torch.float64)
    ours = layers.upsample2x(x, half, (12, 18))
    reference = F.interpolate(x[None], size=(12, 18), mode="bicubic", align_corners=False)[0]
    torch.testing.assert_close(ours, reference)
    assert layers.upsample2x(x, half, (11, 17)).shape == (2, 11, 17)


def _decode_cli(tmp_path, data: bytes, capsys):
    source, output = tmp_path / "in.bin", tmp_path / "out.png"
    source.write_bytes(data)
    status = main(["decode", "-i", str(source), "-o", str(output)])
    err = capsys.readouterr().err
    return status, err, output


def test_half_a_bitstream_is_refused(encoded, tmp_path, capsys):
    half = encoded.bitstream[: len(encoded.bitstream) // 2]
    status, err, output = _decode_cli(tmp_path, half, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "v2" in err
    assert "Traceback" not in err and not output.exists()


def test_oversized_header_is_refused_before_decoding(encoded):
    header = parse_header(encoded.bitstream)
    huge = dataclasses.replace(header, height=16384, width=16384)
    with pytest.raises(BitstreamError, match="exceeds"):
        write_header(huge)
    data = bytearray(encoded.bitstream)
    data[5:9] = (16384).to_bytes(2, "big") * 2  # height and width
    with pytest.raises(BitstreamError, match="exceeds the supported maximum"):
        decode_bitstream(bytes(data))


def test_v1_architecture_options_are_refused_for_v2(tmp_path, capsys):
    from coolchic_core.image_io import write_png

    write_png(tmp_path / "i.png", _test_image())
    argv = ["encode", "-i", str(tmp_path / "i.png"), "-o", str(tmp_path / "o.bin")]
    status = main([*argv, "--format", "v2", "--layers_arm", "8,8", "--preset", "smoke"])
    err = capsys.readouterr().err
    assert status == 2 and "v1 architecture" in err and not (tmp_path / "o.bin").exists()


def test_v2_is_registered_with_its_magic():
    fmt = formats.get("v2")
    assert fmt.magic == b"CCv2" and fmt.version == 1
    assert formats.available()[:2] == ["v1", "v2"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_v2_bitstreams_decode_or_raise_own_error(encoded, data):
    assert_decodes_or_refuses(mutate(encoded.bitstream, data))


needs_native = pytest.mark.skipif(
    native_decoding.decoder() is None, reason="no C++ compiler for the native decoder"
)

# The default synthesis, and one with every branch of the native one: a 3x3 first layer,
# a residual 1x1 layer after a 3x3 one, a 3x3 layer of more than 3 channels.
CONFIGS = (
    V2Config(),
    V2Config(
        latent_n_grids=4,
        synthesis=(
            ConvLayer(8, 3, residual=False, relu=True),
            ConvLayer(8, 1, residual=True, relu=True),
            ConvLayer(3, 3, residual=False, relu=False),
        ),
    ),
)


def _random_model(config: V2Config, height: int, width: int, seed: int):
    """Integer latents and networks whose image is mostly inside (0, 1) (not all clamped)."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    latents = [
        rng.integers(-3, 4, shape).astype(np.int32)
        for shape in grid_shapes(height, width, config.latent_n_grids)
    ]
    weights, biases = [], []
    for (out, n_in, k), spec in zip(config.synthesis_shapes(), config.synthesis, strict=True):
        weights.append(torch.randn(out, n_in, k, k, generator=generator) / (n_in * k * k))
        centre = 0.5 if out == 3 and not spec.residual else 0.0  # the image around 0.5
        biases.append(centre + 0.1 * torch.randn(out, generator=generator))
    half = torch.tensor(layers.BICUBIC_HALF_TAPS).repeat(config.latent_n_grids - 1, 1)
    taps = half + 0.05 * torch.randn(half.shape, generator=generator)
    return latents, NetworksV2([], weights, biases, taps)


@needs_native
@pytest.mark.parametrize("config", CONFIGS)
def test_native_reconstruction_is_pytorch_s(config, monkeypatch):
    latents, networks = _random_model(config, 37, 53, seed=5)
    native = inference.reconstruct(latents, networks, config)
    monkeypatch.setattr(native_decoding, "decoder", lambda: None)
    reference = inference.reconstruct(latents, networks, config)
    assert native.shape == reference.shape == (37, 53, 3)
    assert np.mean((reference > 0.0) & (reference < 1.0)) > 0.5
    assert np.max(np.abs(native - reference)) < 1e-5


@needs_native
def test_native_reconstruction_does_not_depend_on_the_thread_count(_keep_torch_threads):
    latents, networks = _random_model(V2Config(), 70, 90, seed=6)
    torch.set_num_threads(1)
    one = inference.reconstruct(latents, networks, V2Config())
    torch.set_num_threads(2)
    np.testing.assert_array_equal(inference.reconstruct(latents, networks, V2Config()), one)


@pytest.fixture
def _keep_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@needs_native
def test_native_path_encoder_psnr_is_decoder_psnr(encoded):
    """The `encoded` fixture ran with the native decoder: the writer's PSNR estimate went
    through the same native reconstruction as the decoder."""
    assert encoded.metrics["psnr"] == encoded.metrics["decoder_psnr_db"]
    np.testing.assert_array_equal(decode_bitstream(encoded.bitstream).image, encoded.decoded.image)


def test_pytorch_path_encoder_psnr_is_decoder_psnr(monkeypatch):
    monkeypatch.setattr(native_decoding, "decoder", lambda: None)
    result = encode(_test_image(), 0.002, preset="smoke", seed=4, format="v2", threads=1)
    assert result.metrics["psnr"] == result.metrics["decoder_psnr_db"]
