"""The formats registry: listing, look-up, recognition from the bytes, plugins."""

from __future__ import annotations

import json

import numpy as np
import pytest

import coolchic_core
from coolchic_cli import main as cli_main
from coolchic_core import formats
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats import container
from coolchic_core.formats.base import DecodedImage, Format, HeaderField
from coolchic_core.formats.v1.header import FIXED_HEADER_BYTES, parse_header
from coolchic_core.presets import ModelConfig

BITSTREAM = "bitstreams/kodim19-lambda0001.bin"


class _RawHeader:
    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width}


class RawFormat(Format):
    """A second format for the tests: magic, version, 2+2 bytes of size, then 8-bit RGB."""

    name = "raw-test"
    version = 3
    magic = b"RAWt"
    description = "uncompressed RGB, to test the registry"

    def header_fields(self):
        return (HeaderField("height", 2, "rows"), HeaderField("width", 2, "columns"))

    def recognizes(self, data):
        return data.startswith(self.magic)

    def read_header(self, data):
        version = container.read_version(data, self.magic, self.name)
        if version != self.version or len(data) < container.PREFIX_N_BYTES + 4:
            raise BitstreamError("bad raw-test header")
        at = container.PREFIX_N_BYTES
        header = _RawHeader(
            int.from_bytes(data[at : at + 2], "big"), int.from_bytes(data[at + 2 : at + 4], "big")
        )
        if len(data) != at + 4 + 3 * header.height * header.width:
            raise BitstreamError("raw-test: wrong length")
        return header

    def model_config(self, header):
        return ModelConfig()

    def decode(self, data):
        header = self.read_header(data)
        pixels = np.frombuffer(data[container.PREFIX_N_BYTES + 4 :], dtype=np.uint8)
        image = pixels.reshape(header.height, header.width, 3).astype(np.float32) / 255
        return DecodedImage(self.name, self.version, header, [], image, len(data))

    def mac_per_pixel(self, header):
        return {"total": 0}

    def info(self, data):
        header = self.read_header(data)
        return {"format": self.name, "format_version": self.version, **header.to_dict()}

    def default_model_config(self):
        return ModelConfig()

    def check_model(self, model_config, height, width):
        return None

    def write(self, fitted, original, lmbda, model_config, exhaustive):
        raise InputError("raw-test does not train")

    def bytes_of(self, rgb8: np.ndarray) -> bytes:
        height, width, _ = rgb8.shape
        prefix = container.write_prefix(self.magic, self.version)
        return prefix + height.to_bytes(2, "big") + width.to_bytes(2, "big") + rgb8.tobytes()


@pytest.fixture
def raw_format():
    fmt = formats.register(RawFormat())
    yield fmt
    formats.unregister(fmt.name)


def test_registry_lists_v1_first_and_is_reachable_from_the_package():
    assert coolchic_core.formats.available()[0] == "v1"
    v1 = formats.get("v1")
    assert (v1.name, v1.version, v1.magic) == ("v1", 1, None)


def test_unknown_format_names_the_known_ones():
    with pytest.raises(InputError, match="unknown format 'v9'.*v1"):
        formats.get("v9")


def test_v1_declares_its_header_fields():
    fields = formats.get("v1").header_fields()
    fixed = [f for f in fields if not f.name.startswith("n_bytes_per_latent")]
    assert sum(f.n_bytes for f in fixed) == FIXED_HEADER_BYTES
    assert fields[0].name == "n_bytes_header" and fields[-1].n_bytes == 3
    assert formats.get("v1").describe()["header_fields"][1]["name"] == "height"


def test_published_bitstream_is_detected_as_v1(reference_dir):
    data = (reference_dir / BITSTREAM).read_bytes()
    fmt = formats.detect(data)
    assert fmt.name == "v1"
    header = fmt.read_header(data)
    assert fmt.model_config(header) == ModelConfig()


def test_v1_errors_keep_their_reason():
    with pytest.raises(BitstreamError, match="v1 bitstream: truncated header"):
        coolchic_core.decode(b"\x00\x39")


def test_info_names_format_and_version(reference_dir, capsys):
    assert cli_main(["info", str(reference_dir / BITSTREAM)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "v1" and info["format_version"] == 1
    header = parse_header((reference_dir / BITSTREAM).read_bytes())
    n_latents = sum(h * w for h, w in info["architecture"]["latent_grid_shapes"])
    arm = (12 * 12 + 12 * 12 + 12 * 2) * n_latents / (header.height * header.width)
    assert info["mac_per_pixel"]["total"] == pytest.approx((7 * 12 + 12 * 12 + 12 * 3) + arm)


def test_a_registered_format_is_found_by_its_magic(raw_format, tmp_path, capsys):
    rgb8 = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = raw_format.bytes_of(rgb8)
    assert formats.detect(data) is raw_format
    assert "raw-test" in formats.available()
    np.testing.assert_array_equal(coolchic_core.decode(data), rgb8)
    path = tmp_path / "x.bin"
    path.write_bytes(data)
    assert cli_main(["info", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["format_version"] == 3


def test_a_registered_format_is_offered_by_encode(raw_format, capsys):
    assert cli_main(["encode", "--help"]) == 0
    assert "raw-test" in capsys.readouterr().out


def test_magic_numbers_cannot_look_like_v1_or_repeat(raw_format):
    class Clash(RawFormat):
        name = "clash"

    class LowByte(RawFormat):
        name = "low"
        magic = b"\x00abc"

    with pytest.raises(ValueError, match="reuses the magic"):
        formats.register(Clash())
    with pytest.raises(ValueError, match="first is >= 0x20"):
        formats.register(LowByte())
    with pytest.raises(ValueError, match="already registered"):
        formats.register(RawFormat())


def test_container_prefix_round_trip():
    prefix = container.write_prefix(b"CCx2", 7)
    assert container.read_version(prefix + b"rest", b"CCx2", "x") == 7
    with pytest.raises(BitstreamError, match="not a x bitstream"):
        container.read_version(b"CCx", b"CCx2", "x")
    with pytest.raises(ValueError):
        container.write_prefix(b"CCx2", 256)
