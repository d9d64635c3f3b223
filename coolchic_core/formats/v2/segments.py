"""Splitting a v2 bitstream into its segments, and its network parameters back into arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from coolchic_core.formats.v2.architecture import UPSAMPLING_HALF_TAPS, V2Config
from coolchic_core.formats.v2.header import PARAMETER_SETS, HeaderV2, parse_header
from coolchic_core.mlp_params import Layer, layer_shapes, layers_from_flat, n_biases, n_weights
from coolchic_core.mlp_params import q_steps as q_step_table
from coolchic_core.parameter_coding import decode_parameter_segment


@dataclass
class ParsedV2:
    header: HeaderV2
    parameter_segments: dict  # set name -> bytes
    latent_segments: list[bytes]


@dataclass
class NetworksV2:
    """The dequantized networks: ARM layers, synthesis convolutions, upsampling filters."""

    arm_layers: list[Layer]
    synthesis_weights: list[torch.Tensor]  # (out, in, k, k) float32
    synthesis_biases: list[torch.Tensor]
    upsampling_half_taps: torch.Tensor  # (N - 1, 4) float32


def parse(data: bytes) -> ParsedV2:
    """The header and the segments (lengths validated against the file by the header)."""
    header = parse_header(data)
    at, segments = header.n_bytes_header, {}
    for (name, _), params in zip(PARAMETER_SETS, header.parameter_sets, strict=True):
        segments[name] = data[at : at + params.n_bytes]
        at += params.n_bytes
    latents = []
    for length in header.n_bytes_per_latent:
        latents.append(data[at : at + length])
        at += length
    return ParsedV2(header, segments, latents)


def parameter_counts(config: V2Config) -> dict:
    """How many values each parameter set holds."""
    arm = layer_shapes(config.n_ctx, config.layers_arm, 2)
    synthesis = config.synthesis_shapes()
    return {
        "arm_weight": n_weights(arm),
        "arm_bias": n_biases(arm),
        "synthesis_weight": sum(out * n_in * k * k for out, n_in, k in synthesis),
        "synthesis_bias": sum(out for out, _, _ in synthesis),
        "upsampling": (config.latent_n_grids - 1) * UPSAMPLING_HALF_TAPS,
    }


def decode_networks(parsed: ParsedV2) -> NetworksV2:
    header, config = parsed.header, parsed.header.config
    counts = parameter_counts(config)
    values = {}
    for name, table in PARAMETER_SETS:
        params = header.parameter_set(name)
        integers = decode_parameter_segment(
            parsed.parameter_segments[name], counts[name], params.scale_index, header.ac_max_val_nn
        )
        values[name] = integers * q_step_table(table)[params.q_step_index]
    arm_shapes = layer_shapes(config.n_ctx, config.layers_arm, 2)
    arm = layers_from_flat(arm_shapes, values["arm_weight"], values["arm_bias"])
    weights, biases = split_synthesis(config, values["synthesis_weight"], values["synthesis_bias"])
    taps = torch.from_numpy(values["upsampling"].astype(np.float32))
    return NetworksV2(arm, weights, biases, taps.reshape(-1, UPSAMPLING_HALF_TAPS))


def split_synthesis(config: V2Config, weights: np.ndarray, biases: np.ndarray):
    """Flat synthesis weights and biases (stream order) to per-layer float32 tensors."""
    out_weights, out_biases, w_at, b_at = [], [], 0, 0
    for out, n_in, k in config.synthesis_shapes():
        size = out * n_in * k * k
        weight = weights[w_at : w_at + size].astype(np.float32).reshape(out, n_in, k, k)
        out_weights.append(torch.from_numpy(weight))
        out_biases.append(torch.from_numpy(biases[b_at : b_at + out].astype(np.float32)))
        w_at, b_at = w_at + size, b_at + out
    return out_weights, out_biases
