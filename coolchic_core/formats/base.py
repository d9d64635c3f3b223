"""What a bitstream format is: the `Format` interface and what decoding gives.

A format declares its name, its version, its magic number (None for v1, which
has none), its header fields, how it recognises its bytes, how it builds its
model from a header, how it decodes bytes and how it writes a trained model.
Formats after v1 start with their magic number and a version byte
(`coolchic_core.formats.container`), so the registry finds the format of any
bitstream from its first bytes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from coolchic_core.image_io import float_to_rgb8


@dataclass
class DecodedImage:
    """Everything a decoder learns from a bitstream."""

    format_name: str
    format_version: int
    header: Any  # the format's header dataclass (has height, width, to_dict())
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


@dataclass(frozen=True)
class HeaderField:
    """One declared header field: its name, its width in bytes and its meaning."""

    name: str
    n_bytes: int
    meaning: str


class Format(abc.ABC):
    """A bitstream format. Subclasses set the class attributes and the methods below."""

    name: str
    version: int
    magic: bytes | None
    description: str

    @abc.abstractmethod
    def header_fields(self) -> tuple[HeaderField, ...]:
        """The header's fields in stream order."""

    @abc.abstractmethod
    def recognizes(self, data: bytes) -> bool:
        """Whether `data` starts like a bitstream of this format (cheap, no decoding)."""

    @abc.abstractmethod
    def read_header(self, data: bytes):
        """The validated header of `data`; BitstreamError if it is not one."""

    @abc.abstractmethod
    def model_config(self, header):
        """The architecture (`presets.ModelConfig`) that a header describes."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> DecodedImage:
        """Decode a whole bitstream; BitstreamError on any malformed input."""

    @abc.abstractmethod
    def mac_per_pixel(self, header) -> dict:
        """Multiplications per decoded pixel, by component, and their total."""

    @abc.abstractmethod
    def info(self, data: bytes) -> dict:
        """JSON-ready facts about a bitstream, without decoding its latents."""

    @abc.abstractmethod
    def default_model_config(self):
        """The architecture `encode` trains when none is given."""

    @abc.abstractmethod
    def check_model(self, model_config, height: int, width: int) -> None:
        """InputError, before any training, if this format cannot carry the model."""

    @abc.abstractmethod
    def write(self, fitted, original: np.ndarray, lmbda: float, model_config, exhaustive: bool):
        """Quantize a trained model (`training.FitResult` of `model_config`) and write its
        bytes; `exhaustive` asks for the full search of the network quantization steps.

        Returns (bitstream bytes, estimates dict with psnr, rate_latent_bpp,
        rate_mlp_bpp and rate_all_bpp).
        """

    def common_info(self, data: bytes, header) -> dict:
        """The first fields of every format's `info`: format, version, size and rate."""
        n_pixels = header.height * header.width
        return {
            "format": self.name,
            "format_version": self.version,
            "n_bytes": len(data),
            "rate_bpp": 8.0 * len(data) / n_pixels,
            "img_size": [header.height, header.width],
            "n_pixels": n_pixels,
            "header": header.to_dict(),
        }

    def describe(self) -> dict:
        """Name, version, magic and header fields, for listings and docs."""
        return {
            "name": self.name,
            "version": self.version,
            "magic": None if self.magic is None else self.magic.hex(),
            "description": self.description,
            "header_fields": [
                {"name": f.name, "n_bytes": f.n_bytes, "meaning": f.meaning}
                for f in self.header_fields()
            ],
        }
