"""The v1 bitstream: header, then MLP parameter segments, then one segment per latent grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coolchic_core.errors import BitstreamError
from coolchic_core.formats.v1.header import (
    MLP_NAMES,
    PARAM_KINDS,
    HeaderV1,
    parse_header,
    validate_header,
    write_header,
)
from coolchic_core.mlp_params import Layer, layer_shapes, layers_from_flat, n_biases, n_weights
from coolchic_core.mlp_params import q_steps as q_step_table
from coolchic_core.parameter_coding import decode_parameter_segment

__all__ = ["HeaderV1", "ParsedV1", "parse", "assemble", "decode_mlps", "mlp_shapes"]


@dataclass
class ParsedV1:
    header: HeaderV1
    nn_segments: dict  # (mlp, kind) -> bytes
    latent_segments: list[bytes]


def parse(data: bytes) -> ParsedV1:
    """Parse the header and split the segments (validated against the file length)."""
    try:
        header = parse_header(data)
    except BitstreamError as exc:
        raise BitstreamError(f"not a valid COOL-CHIC v1 bitstream: {exc}") from None
    at = header.n_bytes_header
    nn_segments = {}
    for mlp in MLP_NAMES:
        for kind in PARAM_KINDS:
            length = header.n_bytes_nn(mlp, kind)
            nn_segments[(mlp, kind)] = data[at : at + length]
            at += length
    latent_segments = []
    for length in header.n_bytes_per_latent:
        latent_segments.append(data[at : at + length])
        at += length
    return ParsedV1(header, nn_segments, latent_segments)


def assemble(header: HeaderV1, nn_segments: dict, latent_segments: list[bytes]) -> bytes:
    """The inverse of `parse`: header bytes then every segment in stream order."""
    validate_header(header)
    parts = [write_header(header)]
    parts += [nn_segments[(mlp, kind)] for mlp in MLP_NAMES for kind in PARAM_KINDS]
    parts += list(latent_segments)
    data = b"".join(parts)
    validate_header(header, len(data))
    return data


def mlp_shapes(header: HeaderV1, mlp: str) -> list[tuple]:
    """(out, in) of every layer of the ARM or of the synthesis."""
    if mlp == "arm":
        return layer_shapes(header.n_ctx, header.layers_arm, 2)
    return layer_shapes(header.latent_n_grids, header.layers_synthesis, 3)


def _decode_parameters(
    segment: bytes, count: int, header: HeaderV1, mlp: str, kind: str
) -> np.ndarray:
    integers = decode_parameter_segment(
        segment, count, header.scale_index(mlp, kind), header.ac_max_val_nn
    )
    return integers * q_step_table(mlp)[header.q_step_index(mlp, kind)]


def decode_mlps(parsed: ParsedV1) -> tuple[list[Layer], list[Layer]]:
    """ARM layers and synthesis layers, dequantized to float32."""
    decoded = {}
    for mlp in MLP_NAMES:
        shapes = mlp_shapes(parsed.header, mlp)
        weights = _decode_parameters(
            parsed.nn_segments[(mlp, "weight")], n_weights(shapes), parsed.header, mlp, "weight"
        )
        biases = _decode_parameters(
            parsed.nn_segments[(mlp, "bias")], n_biases(shapes), parsed.header, mlp, "bias"
        )
        decoded[mlp] = layers_from_flat(shapes, weights, biases)
    return decoded["arm"], decoded["synthesis"]
