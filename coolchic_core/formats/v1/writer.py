"""Writing a v1 bitstream: MLP q-step search, then header and segments."""

from __future__ import annotations

import numpy as np

from coolchic_core.arm_fixed_point import FixedPointArm
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats.v1 import segments
from coolchic_core.formats.v1.header import HeaderV1, validate_header, write_header
from coolchic_core.latent_coding import LatentRate, encode_grid
from coolchic_core.metrics import mse, psnr_db_from_mse
from coolchic_core.mlp_params import Layer
from coolchic_core.nn_quant import QuantizedMlp, search_q_steps
from coolchic_core.parameter_coding import encode_parameter_segment
from coolchic_core.reconstruction import synthesis_features, synthesize
from coolchic_core.symbol_bound import fits_symbol_bound, symbol_bound


def latent_symbol_bound(latents: list[np.ndarray]) -> int:
    """The symbol bound A of the latent streams."""
    return symbol_bound(max(int(np.max(np.abs(grid), initial=0)) for grid in latents))


def write_v1(
    latents: list[np.ndarray], arm: QuantizedMlp, synthesis: QuantizedMlp, n_ctx_rowcol: int
) -> bytes:
    """The complete v1 bitstream."""
    bound_nn = symbol_bound(max(arm.max_abs_integer, synthesis.max_abs_integer))
    bound_latent = latent_symbol_bound(latents)
    fixed_point_arm = FixedPointArm(arm.layers, max_abs_input=bound_latent)
    latent_segments = [
        encode_grid(grid, fixed_point_arm, n_ctx_rowcol, bound_latent) for grid in latents
    ]
    nn_segments = {}
    for name, mlp in (("arm", arm), ("synthesis", synthesis)):
        for kind, params in (("weight", mlp.weights), ("bias", mlp.biases)):
            nn_segments[(name, kind)] = encode_parameter_segment(
                params.integers, params.scale_index, bound_nn
            )
    header = _header(
        latents, arm, synthesis, n_ctx_rowcol, bound_nn, bound_latent, nn_segments, latent_segments
    )
    return segments.assemble(header, nn_segments, latent_segments)


def _hidden(mlp: QuantizedMlp) -> tuple[int, int]:
    hidden = [layer.weight.shape[0] for layer in mlp.layers[:-1]]
    if len(set(hidden)) > 1:
        raise InputError("v1 needs all hidden layers of an MLP to have the same width")
    return len(hidden), (hidden[0] if hidden else 0)


def _header(
    latents, arm, synthesis, n_ctx_rowcol, bound_nn, bound_latent, nn_segments, latent_segments
) -> HeaderV1:
    arm_layers, arm_width = _hidden(arm)
    synthesis_layers, synthesis_width = _hidden(synthesis)
    height, width = latents[0].shape
    fields = {}
    for name, mlp in (("arm", arm), ("synthesis", synthesis)):
        for kind, params in (("weight", mlp.weights), ("bias", mlp.biases)):
            fields[f"q_step_index_{name}_{kind}"] = params.q_step_index
            fields[f"scale_index_{name}_{kind}"] = params.scale_index
            fields[f"n_bytes_{name}_{kind}"] = len(nn_segments[(name, kind)])
    return HeaderV1(
        height=height,
        width=width,
        n_ctx_rowcol=n_ctx_rowcol,
        arm_n_hidden_layers=arm_layers,
        arm_hidden_width=arm_width,
        synthesis_n_hidden_layers=synthesis_layers,
        synthesis_hidden_width=synthesis_width,
        ac_max_val_nn=bound_nn,
        ac_max_val_latent=bound_latent,
        n_bytes_per_latent=tuple(len(s) for s in latent_segments),
        **fields,
    )


def check_v1_model(model_config, height: int, width: int) -> None:
    """Refuse, before any training, an architecture that the v1 format cannot describe."""
    for name, widths in (
        ("ARM", model_config.layers_arm),
        ("synthesis", model_config.layers_synthesis),
    ):
        if len(set(widths)) > 1:
            raise InputError(
                f"v1 needs all {name} hidden layers to have one width, got "
                f"{','.join(map(str, widths))}"
            )
    header = HeaderV1(
        height=height,
        width=width,
        n_ctx_rowcol=model_config.n_ctx_rowcol,
        arm_n_hidden_layers=len(model_config.layers_arm),
        arm_hidden_width=model_config.layers_arm[0] if model_config.layers_arm else 0,
        synthesis_n_hidden_layers=len(model_config.layers_synthesis),
        synthesis_hidden_width=(
            model_config.layers_synthesis[0] if model_config.layers_synthesis else 0
        ),
        ac_max_val_nn=1,
        ac_max_val_latent=1,
        q_step_index_arm_weight=0,
        q_step_index_arm_bias=0,
        q_step_index_synthesis_weight=0,
        q_step_index_synthesis_bias=0,
        scale_index_arm_weight=0,
        scale_index_arm_bias=0,
        scale_index_synthesis_weight=0,
        scale_index_synthesis_bias=0,
        n_bytes_arm_weight=0,
        n_bytes_arm_bias=0,
        n_bytes_synthesis_weight=0,
        n_bytes_synthesis_bias=0,
        n_bytes_per_latent=(0,) * model_config.latent_n_grids,
    )
    try:
        validate_header(header)
        write_header(header)
    except BitstreamError as exc:
        raise InputError(f"this model cannot be written as v1: {exc}") from None


def _as_layers(pairs) -> list[Layer]:
    return [
        Layer(np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)) for w, b in pairs
    ]


def _fits_format(candidate: QuantizedMlp) -> bool:
    return fits_symbol_bound(candidate.max_abs_integer)


def quantize_and_write(
    fitted, original: np.ndarray, lmbda: float, n_ctx_rowcol: int, exhaustive: bool = True
) -> tuple[bytes, dict]:
    """Search the MLP q-steps (synthesis, then ARM) and write the bitstream."""
    latents = [np.asarray(grid, dtype=np.int32) for grid in fitted.latents_int]
    n_pixels = original.shape[0] * original.shape[1]
    features = synthesis_features(latents)

    def synthesis_cost(candidate: QuantizedMlp):
        if not _fits_format(candidate):
            return np.inf, 0.0
        return mse(synthesize(features, candidate.layers), original), 0.0

    synthesis, _ = search_q_steps(
        _as_layers(fitted.synthesis_layers),
        "synthesis",
        synthesis_cost,
        lmbda,
        n_pixels,
        exhaustive,
    )
    distortion = mse(synthesize(features, synthesis.layers), original)
    latent_rate = LatentRate(latents, n_ctx_rowcol, latent_symbol_bound(latents))

    def arm_cost(candidate: QuantizedMlp):
        if not _fits_format(candidate):
            return np.inf, 0.0
        return distortion, latent_rate.bits(candidate.layers)

    arm, _ = search_q_steps(
        _as_layers(fitted.arm_layers), "arm", arm_cost, lmbda, n_pixels, exhaustive
    )
    bitstream = write_v1(latents, arm, synthesis, n_ctx_rowcol)
    latent_bits = latent_rate.bits(arm.layers)
    mlp_bits = arm.rate_bits + synthesis.rate_bits
    estimates = {
        "psnr": psnr_db_from_mse(distortion),
        "rate_latent_bpp": latent_bits / n_pixels,
        "rate_mlp_bpp": mlp_bits / n_pixels,
        "rate_all_bpp": (latent_bits + mlp_bits) / n_pixels,
    }
    return bitstream, estimates
