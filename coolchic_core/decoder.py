"""Decoding a COOL-CHIC bitstream of any registered format into an image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats import DecodedImage, detect

__all__ = ["DecodedImage", "decode", "decode_bitstream", "read_bitstream", "bitstream_info"]

# Largest file we agree to read: far above any real bitstream of the maximum image.
MAX_BITSTREAM_BYTES = 1 << 30


def read_bitstream(bitstream: str | os.PathLike | bytes) -> bytes:
    """The bytes of a bitstream given as bytes or as a path."""
    if isinstance(bitstream, (bytes, bytearray, memoryview)):
        return bytes(bitstream)
    path = Path(bitstream)
    try:
        if path.is_dir():
            raise InputError(f"bitstream path is a folder: {path}")
        if not path.is_file():
            raise InputError(f"no such bitstream file: {path}")
        size = path.stat().st_size
        if size > MAX_BITSTREAM_BYTES:
            raise BitstreamError(f"{path} is {size} bytes, more than any supported bitstream")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def decode_bitstream(bitstream: str | os.PathLike | bytes) -> DecodedImage:
    """Decode a bitstream (path or bytes); its format is found from its bytes."""
    data = read_bitstream(bitstream)
    return detect(data).decode(data)


def decode(bitstream: str | os.PathLike | bytes) -> np.ndarray:
    """Decode a bitstream to a uint8 (H, W, 3) image."""
    return decode_bitstream(bitstream).rgb8


def bitstream_info(bitstream: str | os.PathLike | bytes) -> dict:
    """JSON-ready description of a bitstream (format, header, sizes, MAC/pixel), not decoded."""
    data = read_bitstream(bitstream)
    return detect(data).info(data)
