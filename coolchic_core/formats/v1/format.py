"""The original COOL-CHIC v1 format (April 2023) as a registry entry.

Spec: ../shared/spec/coolchic-v1-format.md. A v1 bitstream has no magic
number: it is recognised by a header whose lengths agree with each other and
with the file (`header.parse_header`).
"""

from __future__ import annotations

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.errors import BitstreamError
from coolchic_core.formats.base import DecodedImage, Format, HeaderField
from coolchic_core.formats.v1 import header as v1_header
from coolchic_core.formats.v1 import segments
from coolchic_core.formats.v1.writer import check_v1_model, quantize_and_write
from coolchic_core.grids import grid_shapes
from coolchic_core.latent_decoding import decode_latents
from coolchic_core.presets import ModelConfig
from coolchic_core.reconstruction import reconstruct


class V1Format(Format):
    """COOL-CHIC v1: MLP synthesis, bicubic upsampling, ARM on 2n(n+1) causal neighbours."""

    name = "v1"
    version = 1
    magic = None
    description = "the original COOL-CHIC v1 bitstream (Ladune et al. 2023), no magic number"

    def header_fields(self) -> tuple[HeaderField, ...]:
        return tuple(HeaderField(*field) for field in v1_header.declared_fields())

    def recognizes(self, data: bytes) -> bool:
        try:
            v1_header.parse_header(data)
        except BitstreamError:
            return False
        return True

    def read_header(self, data: bytes) -> v1_header.HeaderV1:
        return segments.parse(data).header

    def model_config(self, header: v1_header.HeaderV1) -> ModelConfig:
        return ModelConfig(
            latent_n_grids=header.latent_n_grids,
            layers_synthesis=header.layers_synthesis,
            layers_arm=header.layers_arm,
            n_ctx_rowcol=header.n_ctx_rowcol,
        )

    def decode(self, data: bytes) -> DecodedImage:
        parsed = segments.parse(data)
        header = parsed.header
        arm_layers, synthesis_layers = segments.decode_mlps(parsed)
        arm = FixedPointArm(arm_layers, max_abs_input=header.ac_max_val_latent + 1)
        shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
        latents = decode_latents(
            parsed.latent_segments, shapes, header.n_ctx_rowcol, arm, header.ac_max_val_latent
        )
        image = reconstruct(latents, synthesis_layers)
        return DecodedImage(self.name, self.version, header, latents, image, len(data))

    def mac_per_pixel(self, header: v1_header.HeaderV1) -> dict:
        counts = v1_header.multiplications(header)
        n_pixels = header.height * header.width
        arm = counts["arm"] * counts["n_latents"] / n_pixels
        return {"synthesis": counts["synthesis"], "arm": arm, "total": counts["synthesis"] + arm}

    def info(self, data: bytes) -> dict:
        header = self.read_header(data)
        shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
        return {
            **self.common_info(data, header),
            "architecture": {
                "latent_n_grids": header.latent_n_grids,
                "latent_grid_shapes": [list(shape) for shape in shapes],
                "layers_arm": list(header.layers_arm),
                "layers_synthesis": list(header.layers_synthesis),
                "n_ctx_rowcol": header.n_ctx_rowcol,
            },
            "n_bytes_per_segment": {
                "header": header.n_bytes_header,
                "arm_weight": header.n_bytes_arm_weight,
                "arm_bias": header.n_bytes_arm_bias,
                "synthesis_weight": header.n_bytes_synthesis_weight,
                "synthesis_bias": header.n_bytes_synthesis_bias,
                "latents": list(header.n_bytes_per_latent),
            },
            "mac_per_pixel": self.mac_per_pixel(header),
        }

    def default_model_config(self) -> ModelConfig:
        return ModelConfig()

    def check_model(self, model_config: ModelConfig, height: int, width: int) -> None:
        check_v1_model(model_config, height, width)

    def write(self, fitted, original, lmbda, model_config: ModelConfig, exhaustive: bool):
        return quantize_and_write(fitted, original, lmbda, model_config.n_ctx_rowcol, exhaustive)
