"""Facts about a bitstream that need no decoding: header, segment sizes, complexity."""

from __future__ import annotations

import os

from coolchic_core.bitstream import v1
from coolchic_core.decoder import read_bitstream
from coolchic_core.latent_decoding import grid_shapes
from coolchic_core.mlp_params import n_weights


def mac_per_pixel(header: v1.HeaderV1) -> dict:
    """Multiplications per decoded pixel: synthesis per pixel, ARM per latent (1.33 per pixel)."""
    n_pixels = header.height * header.width
    n_latents = sum(
        h * w for h, w in grid_shapes(header.height, header.width, header.latent_n_grids)
    )
    synthesis = n_weights(v1.mlp_shapes(header, "synthesis"))
    arm = n_weights(v1.mlp_shapes(header, "arm")) * n_latents / n_pixels
    return {"synthesis": synthesis, "arm": arm, "total": synthesis + arm}


def bitstream_info(bitstream: str | os.PathLike | bytes) -> dict:
    """JSON-ready description of a v1 bitstream (validated, not decoded)."""
    data = read_bitstream(bitstream)
    header = v1.parse(data).header
    n_pixels = header.height * header.width
    shapes = grid_shapes(header.height, header.width, header.latent_n_grids)
    return {
        "format": "coolchic-v1",
        "n_bytes": len(data),
        "rate_bpp": 8.0 * len(data) / n_pixels,
        "img_size": [header.height, header.width],
        "n_pixels": n_pixels,
        "header": header.to_dict(),
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
        "mac_per_pixel": mac_per_pixel(header),
    }
