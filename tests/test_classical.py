"""Classical codecs (bench.classical): round trips, ladders, determinism, settings, errors.

Fast tests use two 128x96 crops of Kodak images; the acceptance check on two full Kodak
images (HEVC and AVIF save over 30 % rate against JPEG, WebP saves some) is marked slow,
and a smaller version of it runs on two 256x192 crops in the fast suite.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.classical import INSTALL_HINT, available_codecs, codec_names, get_codec
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.image_io import read_image, rgb8_to_float
from coolchic_core.metrics import psnr_db, rate_bpp
from reports.bd_rate import bd_rate_pct

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak"
ALL_CODECS = ["hevc", "avif", "jxl", "webp", "jpeg"]
INSTALLED = available_codecs()


def _kodak(image_id: str) -> np.ndarray:
    path = KODAK / f"{image_id}.png"
    if not path.is_file():
        pytest.skip(f"Kodak image not found at {path} (tests expect ../shared)")
    return read_image(path)


def _crop(image_id: str, height: int, width: int) -> np.ndarray:
    image = _kodak(image_id)
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def _codec(name: str):
    if name not in INSTALLED:
        pytest.skip(f"codec {name} not installed here ({INSTALL_HINT})")
    return get_codec(name)


def _curve(codec, image: np.ndarray, qualities) -> tuple[np.ndarray, np.ndarray]:
    """(rate_bpp, psnr_db) of `image` at each quality, measured from the bytes."""
    rates, psnrs = [], []
    for quality in qualities:
        data = codec.encode(image, quality)
        decoded = codec.decode(data)
        rates.append(rate_bpp(len(data), image.shape[0] * image.shape[1]))
        psnrs.append(psnr_db(rgb8_to_float(decoded), rgb8_to_float(image)))
    return np.array(rates), np.array(psnrs)


@pytest.fixture(scope="module")
def small_images() -> dict[str, np.ndarray]:
    return {"kodim05": _crop("kodim05", 96, 128), "kodim23": _crop("kodim23", 96, 128)}


@pytest.fixture(scope="module")
def ladder_curves(small_images) -> dict:
    """(codec, image) -> curve over the codec's default ladder, computed once."""
    curves = {}
    for name in ALL_CODECS:
        if name in INSTALLED:
            codec = get_codec(name)
            for image_id, image in small_images.items():
                curves[name, image_id] = _curve(codec, image, codec.default_qualities)
    return curves


def test_every_codec_is_known_and_installed_here():
    assert codec_names() == ALL_CODECS
    # The project's [codecs] extra is installed in the dev environment.
    assert INSTALLED == ALL_CODECS


@pytest.mark.parametrize("name", ALL_CODECS)
def test_round_trip_keeps_shape_and_reaches_high_quality(name, small_images):
    codec = _codec(name)
    for image in small_images.values():
        decoded = codec.decode(codec.encode(image, codec.default_qualities[-1]))
        assert decoded.dtype == np.uint8
        assert decoded.shape == image.shape
        assert psnr_db(rgb8_to_float(decoded), rgb8_to_float(image)) > 35.0


@pytest.mark.parametrize("name", ALL_CODECS)
def test_ladder_gives_distinct_points_with_rising_rate(name, ladder_curves, small_images):
    _codec(name)
    for image_id in small_images:
        rates, psnrs = ladder_curves[name, image_id]
        assert len(set(zip(rates.tolist(), psnrs.tolist(), strict=True))) >= 4
        assert np.all(np.diff(rates) > 0), f"{name} {image_id}: rates {rates}"
        assert psnrs[-1] > psnrs[0] + 10.0


@pytest.mark.parametrize("name", ALL_CODECS)
def test_ladder_is_at_least_six_points_in_range(name):
    codec = _codec(name)
    qualities = codec.default_qualities
    assert len(qualities) >= 6
    assert len(set(qualities)) == len(qualities)
    for quality in qualities:
        assert codec.check_quality(quality) == quality


@pytest.mark.parametrize("name", ALL_CODECS)
def test_encode_is_deterministic(name, small_images):
    codec = _codec(name)
    image = small_images["kodim23"]
    quality = codec.default_qualities[len(codec.default_qualities) // 2]
    assert codec.encode(image, quality) == codec.encode(image, quality)


@pytest.mark.parametrize("name", ALL_CODECS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (17, 33)])
def test_tiny_and_odd_sizes_round_trip(name, shape):
    codec = _codec(name)
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    decoded = codec.decode(codec.encode(image, codec.default_qualities[-1]))
    assert decoded.shape == image.shape


@pytest.mark.parametrize("name", ALL_CODECS)
def test_settings_and_version_describe_the_encoder(name):
    codec = _codec(name)
    assert codec.name == name
    settings = codec.settings
    assert settings["library"]
    settings["library"] = "changed"
    assert codec.settings["library"] != "changed"
    assert codec.version().strip()


def test_hevc_file_is_heif_444_10bit(small_images):
    import pillow_heif

    codec = _codec("hevc")
    data = codec.encode(small_images["kodim05"], 32)
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    assert heif.info["bit_depth"] == 10
    assert heif.info["chroma"] == 444
    assert heif.info["nclx_profile"]["matrix_coefficients"] == 6
    assert heif.info["nclx_profile"]["full_range_flag"] == 1


def test_hevc_quality_is_the_qp(small_images):
    codec = _codec("hevc")
    image = small_images["kodim05"]
    sizes = [len(codec.encode(image, qp)) for qp in (40, 30, 20)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_jpeg_file_is_444(small_images):
    from PIL import Image, JpegImagePlugin

    data = _codec("jpeg").encode(small_images["kodim05"], 50)
    with Image.open(io.BytesIO(data)) as image:
        assert JpegImagePlugin.get_sampling(image) == 0


def test_unknown_codec_is_an_input_error():
    with pytest.raises(InputError, match="unknown codec 'h266'.*hevc"):
        get_codec("h266")


@pytest.mark.parametrize(
    ("name", "quality"),
    [
        ("hevc", 52),
        ("hevc", -1),
        ("hevc", 30.5),
        ("jpeg", 0),
        ("jpeg", 101),
        ("avif", 100.5),
        ("jxl", -0.5),
        ("webp", "50"),
        ("webp", True),
        ("jxl", float("nan")),
    ],
)
def test_quality_outside_range_is_an_input_error(name, quality, small_images):
    codec = _codec(name)
    with pytest.raises(InputError, match=name):
        codec.encode(small_images["kodim05"], quality)


def test_integral_float_quality_is_accepted():
    assert _codec("jpeg").check_quality(50.0) == 50
    assert _codec("jxl").check_quality(42.5) == 42.5
    assert isinstance(_codec("jxl").check_quality(30), int)  # kept as given, for the tables


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
    ],
)
def test_bad_image_is_an_input_error(image):
    with pytest.raises(InputError, match="jpeg"):
        _codec("jpeg").encode(image, 50)


@pytest.mark.parametrize("name", ALL_CODECS)
def test_foreign_or_truncated_data_is_a_bitstream_error(name, small_images):
    codec = _codec(name)
    other = "webp" if name != "webp" else "jpeg"
    foreign = _codec(other).encode(small_images["kodim05"], 50)
    own = codec.encode(small_images["kodim05"], codec.default_qualities[-1])
    for data in (b"", b"not an image" * 8, foreign, own[: len(own) // 2]):
        with pytest.raises(BitstreamError, match=name):
            codec.decode(data)


@pytest.mark.parametrize(("name", "module"), [("hevc", "pillow_heif"), ("jxl", "pillow_jxl")])
def test_missing_library_is_an_input_error_with_the_install_hint(name, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(InputError, match=r"pip install -e '\.\[codecs\]'"):
        get_codec(name)
    assert name not in available_codecs()


def _mean_curve(codec, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    curves = [_curve(codec, image, codec.default_qualities) for image in images]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def _bd_against_jpeg(images: list[np.ndarray]) -> dict[str, float]:
    jpeg_rate, jpeg_psnr = _mean_curve(_codec("jpeg"), images)
    results = {}
    for name in ("hevc", "avif", "webp"):
        rate, psnr = _mean_curve(_codec(name), images)
        results[name] = bd_rate_pct(jpeg_rate, jpeg_psnr, rate, psnr)
    return results


def test_modern_codecs_beat_jpeg_on_two_crops():
    images = [_crop("kodim05", 192, 256), _crop("kodim23", 192, 256)]
    bd = _bd_against_jpeg(images)
    assert bd["hevc"] < -30.0, bd
    assert bd["avif"] < -30.0, bd
    assert bd["webp"] < 0.0, bd


@pytest.mark.slow
def test_acceptance_on_two_full_kodak_images():
    """The issue's check: HEVC and AVIF save over 30 % rate against JPEG, WebP saves some."""
    bd = _bd_against_jpeg([_kodak("kodim05"), _kodak("kodim23")])
    assert bd["hevc"] < -30.0, bd
    assert bd["avif"] < -30.0, bd
    assert bd["webp"] < 0.0, bd
