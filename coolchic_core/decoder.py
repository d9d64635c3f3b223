"""Decoding a COOL-CHIC bitstream into an image."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.bitstream import v1
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.image_io import float_to_rgb8
from coolchic_core.latent_decoding import decode_latents, grid_shapes
from coolchic_core.reconstruction import reconstruct

# Largest file we agree to read: far above any real bitstream of the maximum image.
MAX_BITSTREAM_BYTES = 1 << 30


@dataclass
class DecodedImage:
    """Everything a decoder learns from a bitstream."""

    header: v1.HeaderV1
    latents: list[np.ndarray]  # int32 grids, full resolution first
    image: np.ndarray  # float32 (H, W, 3) in [0, 1]
    n_bytes: int

    @property
    def rgb8(self) -> np.ndarray:
        """The 8-bit image, round(x * 255) half to even."""
        return float_to_rgb8(self.image)

    @property
    def n_pixels(self) -> int:
        return self.header.height * self.header.width

    @property
    def rate_bpp(self) -> float:
        return 8.0 * self.n_bytes / self.n_pixels


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
    """Decode a v1 bitstream (path or bytes)."""
    data = read_bitstream(bitstream)
    parsed = v1.parse(data)
    header = parsed.header
    arm_layers, synthesis_layers = v1.decode_mlps(parsed)
    arm = FixedPointArm(arm_layers, max_abs_input=header.ac_max_val_latent + 1)
    shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
    latents = decode_latents(
        parsed.latent_segments, shapes, header.n_ctx_rowcol, arm, header.ac_max_val_latent
    )
    image = reconstruct(latents, synthesis_layers)
    return DecodedImage(header=header, latents=latents, image=image, n_bytes=len(data))


def decode(bitstream: str | os.PathLike | bytes) -> np.ndarray:
    """Decode a v1 bitstream to a uint8 (H, W, 3) image."""
    return decode_bitstream(bitstream).rgb8
