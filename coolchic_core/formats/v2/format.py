"""v2: this project's second format (learned upsampling, convolutional synthesis), as a
registry entry. Bitstream specification: docs/formats.md, section "v2"."""

from __future__ import annotations

import numpy as np

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats.base import DecodedImage, Format, HeaderField
from coolchic_core.formats.v2 import header as v2_header
from coolchic_core.formats.v2 import inference, segments
from coolchic_core.formats.v2.architecture import V2Config, check_architecture, multiplications
from coolchic_core.grids import grid_shapes
from coolchic_core.latent_decoding import decode_latents

SETS = v2_header.PARAMETER_SETS


class V2Format(Format):
    name = "v2"
    version = v2_header.VERSION
    magic = v2_header.MAGIC
    description = (
        "this project's second format: learned separable upsampling, convolutional "
        "synthesis, fixed-point ARM (not the bitstream of Cool-chic 2.0)"
    )

    def header_fields(self) -> tuple[HeaderField, ...]:
        groups = (
            (("magic", 4, "b'CCv2'"), ("version", 1, "1")),
            v2_header.SIZE_FIELDS,
            tuple((f"layer[l].{n}", w, m) for n, w, m in v2_header.LAYER_FIELDS),
            v2_header.BOUND_FIELDS,
            tuple((f"set[s].{n}", w, m) for n, w, m in v2_header.SET_FIELDS),
            (("n_bytes_latent[i]", 4, v2_header.LATENT_FIELD[2]),),
        )
        return tuple(HeaderField(*field) for group in groups for field in group)

    def recognizes(self, data: bytes) -> bool:
        return data.startswith(self.magic)

    def read_header(self, data: bytes) -> v2_header.HeaderV2:
        return _with_context(v2_header.parse_header, data)

    def model_config(self, header: v2_header.HeaderV2) -> V2Config:
        return header.config

    def decode(self, data: bytes) -> DecodedImage:
        parsed = _with_context(segments.parse, data)
        header = parsed.header
        networks = segments.decode_networks(parsed)
        config = header.config
        arm = FixedPointArm(networks.arm_layers, max_abs_input=header.ac_max_val_latent + 1)
        shapes = grid_shapes(header.height, header.width, config.latent_n_grids)
        latents = decode_latents(
            parsed.latent_segments, shapes, config.n_ctx_rowcol, arm, header.ac_max_val_latent
        )
        image = reconstruct(latents, networks, config)
        return DecodedImage(self.name, self.version, header, latents, image, len(data))

    def mac_per_pixel(self, header: v2_header.HeaderV2) -> dict:
        counts = multiplications(header.config, header.height, header.width)
        return {key: value for key, value in counts.items() if key != "total_count"}

    def info(self, data: bytes) -> dict:
        header = self.read_header(data)
        return {
            **self.common_info(data, header),
            "n_bytes_per_segment": {
                "header": header.n_bytes_header,
                **{name: header.parameter_set(name).n_bytes for name, _ in SETS},
                "latents": list(header.n_bytes_per_latent),
            },
            "mac_per_pixel": self.mac_per_pixel(header),
        }

    def check_model(self, model_config, height: int, width: int) -> None:
        if not isinstance(model_config, V2Config):
            raise InputError("the v2 format trains a v2 model (V2Config), not a v1 architecture")
        problem = check_architecture(model_config)
        if problem is not None:
            raise InputError(f"this model cannot be written as v2: {problem}")

    def default_model_config(self) -> V2Config:
        return V2Config()

    def write(self, fitted, original, lmbda, model_config, exhaustive: bool):
        from coolchic_core.formats.v2.writer import quantize_and_write

        return quantize_and_write(fitted, original, lmbda, model_config, exhaustive)


def _with_context(function, data: bytes):
    try:
        return function(data)
    except BitstreamError as exc:
        raise BitstreamError(f"not a valid v2 bitstream: {exc}") from None


def reconstruct(latents: list[np.ndarray], networks, config: V2Config) -> np.ndarray:
    """Float32 (H, W, 3) image in [0, 1] from integer latents and dequantized networks: by
    the native decoder when it is available, else by PyTorch (`inference`)."""
    return inference.reconstruct(latents, networks, config)
