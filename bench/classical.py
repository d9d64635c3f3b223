"""Classical image codecs (HEVC, AVIF, JPEG XL, WebP, JPEG) behind one small interface.

`get_codec(name)` returns a `ClassicalCodec`: `encode(rgb8, quality) -> bytes` gives the
whole file (the rate counts every byte of it), `decode(bytes) -> rgb8` gives the RGB image
the PSNR is measured on. Every encoder runs single-threaded with fixed settings, so that
repeated encodes give the same bytes and parallel bench workers do not oversubscribe CPUs.
Settings were chosen for RGB PSNR and measured on Kodak; the README section "Classical
anchors" gives the numbers.

- hevc: x265 through libheif (pillow-heif), HEIF file, 4:4:4, 10-bit YCbCr (BT.601 full
  range), preset slow, psy-rd and psy-rdoq off, RDOQ level 2; quality = the QP (0-51,
  lower is better), fixed over the picture. The 8-bit RGB input is scaled to 10 bits before
  libheif's RGB->YCbCr conversion and the decoded 10-bit RGB is rounded back to 8 bits here.
- avif: libaom through Pillow's AVIF plugin, 4:4:4 full range, speed 4, tune psnr.
- jxl: libjxl through pillow-jxl-plugin, effort 7, quality 0-100 (maps to the distance).
- webp: libwebp through Pillow, lossy (always 4:2:0), method 6.
- jpeg: libjpeg(-turbo) through Pillow, 4:4:4 (subsampling=0), optimized Huffman tables.
"""

from __future__ import annotations

import io
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from coolchic_core.errors import BitstreamError, InputError

INSTALL_HINT = "pip install -e '.[codecs]'"

# Exceptions the codec libraries raise on data they cannot decode.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, RuntimeError, EOFError)


@dataclass(frozen=True)
class ClassicalCodec:
    """One classical codec with fixed settings; `quality` is the codec's own parameter."""

    name: str
    quality_range: tuple[float, float]
    integer_quality: bool
    ladder: tuple[float, ...]
    encoder_settings: dict = field(repr=False)
    encode_fn: Callable[[np.ndarray, float], bytes] = field(repr=False)
    decode_fn: Callable[[bytes], np.ndarray] = field(repr=False)
    version_fn: Callable[[], str] = field(repr=False)

    @property
    def default_qualities(self) -> list:
        """The default quality ladder, ordered from the lowest to the highest rate."""
        return list(self.ladder)

    @property
    def settings(self) -> dict:
        """The exact encoder settings, for the result rows."""
        return dict(self.encoder_settings)

    def version(self) -> str:
        """Versions of the binding and of the libraries doing the work."""
        return self.version_fn()

    def check_quality(self, quality) -> int | float:
        """The quality as the encoder takes it, or InputError if it is out of range."""
        lo, hi = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, numbers.Real):
            raise InputError(f"{self.name}: quality must be a number, got {quality!r}")
        if not lo <= quality <= hi:
            raise InputError(f"{self.name}: quality {quality} outside [{lo:g}, {hi:g}]")
        if self.integer_quality:
            if float(quality) != int(quality):
                raise InputError(f"{self.name}: quality must be an integer, got {quality}")
            return int(quality)
        return quality if isinstance(quality, numbers.Integral) else float(quality)

    def encode(self, rgb8: np.ndarray, quality) -> bytes:
        """Encode a uint8 (H, W, 3) image into the codec's whole file."""
        checked = self.check_quality(quality)
        return self.encode_fn(_check_rgb8(self.name, rgb8), checked)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode a file made by `encode` into a uint8 (H, W, 3) image."""
        try:
            rgb8 = self.decode_fn(bytes(data))
        except _DECODE_ERRORS as exc:
            raise BitstreamError(f"cannot decode {self.name} data: {exc}") from None
        return np.ascontiguousarray(rgb8, dtype=np.uint8)


def _check_rgb8(name: str, rgb8) -> np.ndarray:
    array = np.asarray(rgb8)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise InputError(
            f"{name}: expected a uint8 (H, W, 3) image, got {array.dtype} {array.shape}"
        )
    if min(array.shape[:2]) < 1:
        raise InputError(f"{name}: empty image {array.shape}")
    return np.ascontiguousarray(array)


# --- HEVC (x265 in HEIF, via pillow-heif) ------------------------------------------------

_HEVC_BIT_DEPTH = 10
_HEVC_PARAMS = {
    "preset": "slow",
    # The PSNR part of x265's --tune psnr: no psycho-visual RD or RDOQ terms.
    "x265:psy-rd": "0",
    "x265:psy-rdoq": "0",
    "x265:rdoq-level": "2",
    # One thread: same bytes on every run, no oversubscription under bench workers.
    "x265:pools": "1",
    "x265:frame-threads": "1",
}
HEVC_SETTINGS = {
    "library": "pillow-heif (libheif + x265)",
    "container": "HEIF",
    "quality": "x265 QP, constant over the picture (x265:qp); lower is better",
    "chroma": "4:4:4",
    "bit_depth": _HEVC_BIT_DEPTH,
    "color": "YCbCr BT.601 matrix (matrix_coefficients=6), full range, libheif conversion",
    "preset": "slow",
    "psy_rd": 0,
    "psy_rdoq": 0,
    "rdoq_level": 2,
    "threads": 1,
}


def _pillow_heif():
    try:
        import pillow_heif
    except ImportError:
        raise InputError(f"codec hevc needs pillow-heif: {INSTALL_HINT}") from None
    if not pillow_heif.libheif_info().get("encoders", {}).get("x265"):
        raise InputError("codec hevc: this pillow-heif build has no x265 encoder")
    return pillow_heif


def _hevc_encode(rgb8: np.ndarray, quality: int) -> bytes:
    pillow_heif = _pillow_heif()
    peak = (1 << _HEVC_BIT_DEPTH) - 1
    samples = np.rint(rgb8.astype(np.float64) * (peak / 255.0)).astype("<u2")
    height, width = rgb8.shape[:2]
    heif = pillow_heif.from_bytes(
        mode=f"RGB;{_HEVC_BIT_DEPTH}", size=(width, height), data=samples.tobytes()
    )
    params = dict(_HEVC_PARAMS)
    params["x265:qp"] = str(quality)
    buffer = io.BytesIO()
    # `quality` only selects libheif's rate control; the x265:qp parameter overrides it.
    heif.save(
        buffer,
        quality=50,
        chroma="444",
        enc_params=params,
        matrix_coefficients=6,
        full_range_flag=1,
        save_nclx_profile=True,
    )
    return buffer.getvalue()


def _hevc_decode(data: bytes) -> np.ndarray:
    pillow_heif = _pillow_heif()
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
    image = heif[heif.primary_index]
    samples = np.asarray(image)
    if samples.ndim != 3 or samples.shape[2] < 3:
        raise ValueError(f"not an RGB picture: mode {image.mode}")
    if samples.dtype == np.uint8:
        return samples[:, :, :3]
    bit_depth = int(heif.info["bit_depth"])
    # pillow-heif returns high bit depths left-aligned in 16 bits.
    values = (samples[:, :, :3] >> (16 - bit_depth)).astype(np.float64)
    scaled = values * (255.0 / ((1 << bit_depth) - 1))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _hevc_version() -> str:
    pillow_heif = _pillow_heif()
    info = pillow_heif.libheif_info()
    return (
        f"pillow-heif {pillow_heif.__version__}, libheif {info['libheif']}, "
        f"{info['encoders']['x265']}, {info['decoders'].get('libde265', '')}"
    ).rstrip(", ")


# --- Pillow formats: AVIF, WebP, JPEG, JPEG XL --------------------------------------------


def _pillow_feature(feature: str, codec: str) -> None:
    from PIL import features

    if not features.check(feature):
        raise InputError(
            f"codec {codec}: this Pillow has no {feature} support (pip install -U pillow)"
        )


def _require_jxl() -> None:
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL plugin with Pillow)
    except ImportError:
        raise InputError(f"codec jxl needs pillow-jxl-plugin: {INSTALL_HINT}") from None


def _pillow_encoder(fmt: str, options: dict) -> Callable[[np.ndarray, float], bytes]:
    def encode(rgb8: np.ndarray, quality) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(rgb8).save(buffer, format=fmt, quality=quality, **options)
        return buffer.getvalue()

    return encode


def _pillow_decoder(fmt: str) -> Callable[[bytes], np.ndarray]:
    def decode(data: bytes) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.load()
                if image.mode not in ("RGB", "L"):
                    raise ValueError(f"unexpected picture mode {image.mode}")
                return np.asarray(image.convert("RGB"))
        except UnidentifiedImageError:
            raise ValueError(f"not a {fmt} file") from None

    return decode


def _pillow_version(feature: str) -> Callable[[], str]:
    def version() -> str:
        import PIL
        from PIL import features

        return f"Pillow {PIL.__version__}, {feature} {features.version(feature)}"

    return version


def _avif_version() -> str:
    from PIL import _avif

    return f"{_pillow_version('avif')()}, {_avif.codec_versions()}"


def _jxl_version() -> str:
    from importlib.metadata import version

    import PIL

    return f"Pillow {PIL.__version__}, pillow-jxl-plugin {version('pillow-jxl-plugin')}"


def _jpeg_version() -> str:
    from PIL import features

    turbo = features.version("libjpeg_turbo")
    base = _pillow_version("jpg")()
    return f"{base}, libjpeg-turbo {turbo}" if turbo else base


_AVIF_OPTIONS = {
    "subsampling": "4:4:4",
    "speed": 4,
    "codec": "aom",
    "range": "full",
    "max_threads": 1,
    "advanced": {"tune": "psnr"},
}
_AVIF_SETTINGS = {
    "library": "Pillow AVIF plugin (libavif + libaom)",
    "container": "AVIF",
    "quality": "libavif quality 0-100",
    "chroma": "4:4:4",
    "range": "full",
    "speed": 4,
    "tune": "psnr",
    "threads": 1,
}
_JXL_OPTIONS = {"effort": 7, "num_threads": 1, "lossless": False, "decoding_speed": 0}
_WEBP_OPTIONS = {"method": 6, "lossless": False}
_JPEG_OPTIONS = {"subsampling": 0, "optimize": True, "progressive": False}


def _make_hevc() -> ClassicalCodec:
    _pillow_heif()
    return ClassicalCodec(
        name="hevc",
        quality_range=(0, 51),
        integer_quality=True,
        ladder=(51, 47, 42, 37, 32, 27, 22, 17, 12),
        encoder_settings=HEVC_SETTINGS,
        encode_fn=_hevc_encode,
        decode_fn=_hevc_decode,
        version_fn=_hevc_version,
    )


def _make_avif() -> ClassicalCodec:
    _pillow_feature("avif", "avif")
    from PIL import _avif

    if not _avif.encoder_codec_available("aom"):
        raise InputError("codec avif: Pillow's libavif has no aom encoder")
    return ClassicalCodec(
        name="avif",
        quality_range=(0, 100),
        integer_quality=True,
        ladder=(0, 10, 25, 40, 55, 70, 80, 90),
        encoder_settings=_AVIF_SETTINGS,
        encode_fn=_pillow_encoder("AVIF", _AVIF_OPTIONS),
        decode_fn=_pillow_decoder("AVIF"),
        version_fn=_avif_version,
    )


def _make_jxl() -> ClassicalCodec:
    _require_jxl()
    return ClassicalCodec(
        name="jxl",
        quality_range=(0, 100),
        integer_quality=False,
        ladder=(0, 10, 30, 50, 70, 85, 92, 97),
        encoder_settings={
            "library": "pillow-jxl-plugin (libjxl)",
            "container": "none (bare codestream)",
            "quality": "libjxl quality 0-100 (distance 25 at 0)",
            "color": "XYB (libjxl default for lossy)",
            **_JXL_OPTIONS,
        },
        encode_fn=_pillow_encoder("JXL", _JXL_OPTIONS),
        decode_fn=_pillow_decoder("JXL"),
        version_fn=_jxl_version,
    )


def _make_webp() -> ClassicalCodec:
    _pillow_feature("webp", "webp")
    return ClassicalCodec(
        name="webp",
        quality_range=(0, 100),
        integer_quality=True,
        ladder=(0, 10, 30, 50, 70, 85, 95, 100),
        encoder_settings={
            "library": "Pillow (libwebp)",
            "container": "RIFF WebP",
            "quality": "libwebp quality 0-100",
            "chroma": "4:2:0 (lossy VP8 has no 4:4:4)",
            **_WEBP_OPTIONS,
        },
        encode_fn=_pillow_encoder("WEBP", _WEBP_OPTIONS),
        decode_fn=_pillow_decoder("WEBP"),
        version_fn=_pillow_version("webp"),
    )


def _make_jpeg() -> ClassicalCodec:
    _pillow_feature("jpg", "jpeg")
    return ClassicalCodec(
        name="jpeg",
        quality_range=(1, 100),
        integer_quality=True,
        ladder=(2, 5, 15, 30, 50, 70, 85, 92),
        encoder_settings={
            "library": "Pillow (libjpeg)",
            "container": "JFIF",
            "quality": "IJG quality 1-100",
            "chroma": "4:4:4",
            **_JPEG_OPTIONS,
        },
        encode_fn=_pillow_encoder("JPEG", _JPEG_OPTIONS),
        decode_fn=_pillow_decoder("JPEG"),
        version_fn=_jpeg_version,
    )


_FACTORIES: dict[str, Callable[[], ClassicalCodec]] = {
    "hevc": _make_hevc,
    "avif": _make_avif,
    "jxl": _make_jxl,
    "webp": _make_webp,
    "jpeg": _make_jpeg,
}


def codec_names() -> list[str]:
    """Every classical codec this module knows, installed or not."""
    return list(_FACTORIES)


def get_codec(name: str) -> ClassicalCodec:
    """The codec called `name`; InputError if unknown or if its library is missing."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise InputError(f"unknown codec {name!r}; classical codecs: {', '.join(_FACTORIES)}")
    return factory()


def available_codecs() -> list[str]:
    """The classical codecs whose libraries are installed here."""
    found = []
    for name, factory in _FACTORIES.items():
        try:
            factory()
        except InputError:
            continue
        found.append(name)
    return found
