"""Reading images into RGB arrays and writing 8-bit PNGs.

Input rules (documented in the README):
- RGB images are used as they are; grayscale and palette images become RGB.
- An alpha channel that is fully opaque is dropped; any transparency is refused,
  since the codec has no alpha plane.
- 16-bit grayscale samples are scaled to 8 bits with round(v / 257), which maps 65535
  to 255; 16-bit RGB is reduced to 8 bits by Pillow (the high byte); 32-bit integer
  images are taken as 8-bit when their samples are 0..255; float images are refused.
- Multi-frame files (animated GIF, PNG, WebP; multi-page TIFF) give their first frame.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from coolchic_core.atomic_io import atomic_write_bytes
from coolchic_core.errors import InputError
from coolchic_core.limits import image_size_problem

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a uint8 array of shape (H, W, 3)."""
    file_path = Path(path)
    try:
        if not file_path.is_file():
            raise InputError(f"no such image file: {file_path}")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file_path) as image:
                check_image_size(*image.size)
                image.load()
                return image_to_rgb8(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image {file_path}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image {file_path}: {exc}") from None


def check_image_size(width: int, height: int) -> None:
    """Refuse images beyond the documented limits, before decoding their pixels."""
    problem = image_size_problem(height, width)
    if problem is not None:
        raise InputError(problem)


def image_to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image to uint8 RGB following the module's input rules."""
    check_image_size(*image.size)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        gray8 = _gray_to_8bit(image)
        return np.repeat(gray8[:, :, None], 3, axis=2)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        _refuse_transparency(image)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _gray_to_8bit(image: Image.Image) -> np.ndarray:
    """16-bit samples: round(v / 257); 32-bit integer samples already in 0..255 kept;
    anything else (floats, wider ranges) refused rather than guessed."""
    gray = np.asarray(image, dtype=np.float64)
    if image.mode in _SIXTEEN_BIT_MODES and image.mode != "I":
        return np.clip(np.round(gray / 257.0), 0, 255).astype(np.uint8)
    integral = np.array_equal(gray, np.round(gray))
    if image.mode == "I" and integral and gray.min(initial=0) >= 0:
        if gray.max(initial=0) <= 255:
            return gray.astype(np.uint8)
        if gray.max(initial=0) <= 65535:
            return np.round(gray / 257.0).astype(np.uint8)
    raise InputError(
        f"image mode {image.mode} with samples outside 0..65535 integers "
        "is not supported (convert it to 8 or 16 bits first)"
    )


def _refuse_transparency(image: Image.Image) -> None:
    alpha = np.asarray(image.getchannel("A"))
    if alpha.size and int(alpha.min()) < 255:
        raise InputError(
            "image has transparent pixels; COOL-CHIC codes RGB only "
            "(flatten the alpha channel first)"
        )


def rgb8_to_float(rgb8: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) to float32 in [0, 1]."""
    return np.asarray(rgb8, dtype=np.float32) / np.float32(255.0)


def float_to_rgb8(image: np.ndarray) -> np.ndarray:
    """Float32 image in [0, 1] to uint8: round(x * 255) half to even, as the original decoder."""
    scaled = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * np.float32(255.0)
    return np.rint(scaled).astype(np.uint8)


def encode_png(rgb8: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) array."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: str | os.PathLike, rgb8: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) array as an 8-bit PNG, atomically."""
    atomic_write_bytes(Path(path), encode_png(rgb8))
