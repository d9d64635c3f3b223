"""The v2 header: declared fields, parsing, validation and writing (docs/formats.md, "v2").

All integers are unsigned big-endian. The header follows the 5-byte prefix
(magic b"CCv2", version 1) and ends where the first segment starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coolchic_core.errors import BitstreamError
from coolchic_core.formats import container
from coolchic_core.formats.v2.architecture import (
    ConvLayer,
    V2Config,
    check_architecture,
    multiplications,
)
from coolchic_core.limits import (
    MAX_DECODE_MULTIPLICATIONS,
    MAX_LATENT_GRIDS,
    MAX_MLP_HIDDEN_LAYERS,
    MAX_MLP_WIDTH,
    MAX_N_CTX_ROWCOL,
    image_size_problem,
)
from coolchic_core.mlp_params import N_ARM_Q_STEPS, N_SYNTHESIS_Q_STEPS
from coolchic_core.scale_table import N_SCALES

MAGIC = b"CCv2"
VERSION = 1
# The network parameter sets, in stream order, and the q-step table each one uses.
PARAMETER_SETS = (
    ("arm_weight", "arm"),
    ("arm_bias", "arm"),
    ("synthesis_weight", "synthesis"),
    ("synthesis_bias", "synthesis"),
    ("upsampling", "synthesis"),
)
_N_STEPS = {"arm": N_ARM_Q_STEPS, "synthesis": N_SYNTHESIS_Q_STEPS}
_RESIDUAL, _RELU = 1, 2  # bits of a synthesis layer's flags byte

# (name, bytes, meaning) of the fields before the synthesis layers, in stream order.
SIZE_FIELDS = (
    ("height", 2, "image height in pixels"),
    ("width", 2, "image width in pixels"),
    ("latent_n_grids", 1, "number of latent grids N (1 to 12)"),
    ("n_ctx_rowcol", 1, "ARM context half-size n: 2n(n+1) causal neighbours (1 to 8)"),
    ("arm_n_hidden_layers", 1, "hidden layers of the ARM (0 to 16)"),
    ("arm_hidden_width", 1, "width of every ARM hidden layer (0 to 64)"),
    ("synthesis_n_layers", 1, "synthesis layers L (1 to 17)"),
)
LAYER_FIELDS = (
    ("out_channels", 1, "output channels (1 to 64; the last layer: 3)"),
    ("kernel_size", 1, "1 or 3"),
    ("flags", 1, "bit 0: residual (adds the input), bit 1: ReLU after"),
)
BOUND_FIELDS = (
    ("ac_max_val_nn", 2, "symbol bound A of the parameter streams (>= 2)"),
    ("ac_max_val_latent", 2, "symbol bound A of the latent streams (>= 2)"),
)
SET_FIELDS = (
    ("q_step_index", 1, "index of the set's quantization step"),
    ("scale_index", 2, "index of the set's Laplace scale in the scale table"),
    ("n_bytes", 4, "bytes of the set's segment (a multiple of 4)"),
)
LATENT_FIELD = ("n_bytes_latent", 4, "bytes of a latent grid's segment (a multiple of 4)")


@dataclass(frozen=True)
class ParameterSet:
    q_step_index: int
    scale_index: int
    n_bytes: int


@dataclass(frozen=True)
class HeaderV2:
    """Every field of a v2 header."""

    height: int
    width: int
    config: V2Config
    ac_max_val_nn: int
    ac_max_val_latent: int
    parameter_sets: tuple[ParameterSet, ...]  # in PARAMETER_SETS order
    n_bytes_per_latent: tuple[int, ...]

    @property
    def n_bytes_header(self) -> int:
        n_layers = len(self.config.synthesis)
        return (
            container.PREFIX_N_BYTES
            + sum(width for _, width, _ in SIZE_FIELDS)
            + n_layers * sum(width for _, width, _ in LAYER_FIELDS)
            + sum(width for _, width, _ in BOUND_FIELDS)
            + len(PARAMETER_SETS) * sum(width for _, width, _ in SET_FIELDS)
            + self.config.latent_n_grids * LATENT_FIELD[1]
        )

    def parameter_set(self, name: str) -> ParameterSet:
        return self.parameter_sets[[n for n, _ in PARAMETER_SETS].index(name)]

    def segment_lengths(self) -> list[int]:
        return [s.n_bytes for s in self.parameter_sets] + list(self.n_bytes_per_latent)

    def total_bytes(self) -> int:
        return self.n_bytes_header + sum(self.segment_lengths())

    def to_dict(self) -> dict:
        fields = {
            "height": self.height,
            "width": self.width,
            "latent_n_grids": self.config.latent_n_grids,
            "n_ctx_rowcol": self.config.n_ctx_rowcol,
            "layers_arm": list(self.config.layers_arm),
            "synthesis": [dataclasses.asdict(layer) for layer in self.config.synthesis],
            "ac_max_val_nn": self.ac_max_val_nn,
            "ac_max_val_latent": self.ac_max_val_latent,
            "n_bytes_header": self.n_bytes_header,
            "n_bytes_per_latent": list(self.n_bytes_per_latent),
        }
        for (name, _), params in zip(PARAMETER_SETS, self.parameter_sets, strict=True):
            fields[name] = dataclasses.asdict(params)
        return fields


class _Reader:
    """Reads big-endian unsigned fields, refusing to run past the end of the data."""

    def __init__(self, data: bytes, at: int) -> None:
        self.data, self.at = data, at

    def take(self, n_bytes: int, name: str) -> int:
        if self.at + n_bytes > len(self.data):
            raise BitstreamError(f"truncated header: it ends inside field {name}")
        value = int.from_bytes(self.data[self.at : self.at + n_bytes], "big")
        self.at += n_bytes
        return value

    def fields(self, declared) -> dict:
        return {name: self.take(width, name) for name, width, _ in declared}


def parse_header(data: bytes) -> HeaderV2:
    """Parse and validate the header of a v2 bitstream (prefix included)."""
    version = container.read_version(data, MAGIC, "v2")
    if version != VERSION:
        raise BitstreamError(f"v2 bitstream of version {version}: this decoder reads {VERSION}")
    reader = _Reader(data, container.PREFIX_N_BYTES)
    sizes = reader.fields(SIZE_FIELDS)
    _check_sizes(sizes)
    layers = tuple(_layer(reader.fields(LAYER_FIELDS)) for _ in range(sizes["synthesis_n_layers"]))
    bounds = reader.fields(BOUND_FIELDS)
    sets = tuple(ParameterSet(**reader.fields(SET_FIELDS)) for _ in PARAMETER_SETS)
    latents = tuple(reader.take(4, "n_bytes_latent") for _ in range(sizes["latent_n_grids"]))
    config = V2Config(
        latent_n_grids=sizes["latent_n_grids"],
        n_ctx_rowcol=sizes["n_ctx_rowcol"],
        layers_arm=(sizes["arm_hidden_width"],) * sizes["arm_n_hidden_layers"],
        synthesis=layers,
    )
    header = HeaderV2(sizes["height"], sizes["width"], config, *bounds.values(), sets, latents)
    validate_header(header, len(data))
    return header


def _layer(fields: dict) -> ConvLayer:
    if fields["flags"] & ~(_RESIDUAL | _RELU):
        raise BitstreamError(f"synthesis layer flags {fields['flags']:#x}: unknown bits set")
    return ConvLayer(
        out_channels=fields["out_channels"],
        kernel_size=fields["kernel_size"],
        residual=bool(fields["flags"] & _RESIDUAL),
        relu=bool(fields["flags"] & _RELU),
    )


def _check_sizes(sizes: dict) -> None:
    """The counts that size the rest of the header, before it is read."""
    if not 1 <= sizes["latent_n_grids"] <= MAX_LATENT_GRIDS:
        raise BitstreamError(f"{sizes['latent_n_grids']} latent grids (1 to {MAX_LATENT_GRIDS})")
    if not 1 <= sizes["synthesis_n_layers"] <= MAX_MLP_HIDDEN_LAYERS + 1:
        raise BitstreamError(
            f"{sizes['synthesis_n_layers']} synthesis layers (1 to {MAX_MLP_HIDDEN_LAYERS + 1})"
        )


def validate_header(header: HeaderV2, n_bytes_file: int | None = None) -> None:
    """Refuse a header outside the format's tables or the documented limits."""
    problem = image_size_problem(header.height, header.width) or _architecture_problem(
        header.config
    )
    if problem is None:
        cost = multiplications(header.config, header.height, header.width)["total_count"]
        if cost > MAX_DECODE_MULTIPLICATIONS:
            problem = f"decoding would take {cost:.2e} multiplications, more than supported"
    if problem is None:
        problem = _indices_problem(header) or _lengths_problem(header, n_bytes_file)
    if problem is not None:
        raise BitstreamError(problem)


def _architecture_problem(config: V2Config) -> str | None:
    n_hidden, widths = len(config.layers_arm), set(config.layers_arm)
    if n_hidden > MAX_MLP_HIDDEN_LAYERS or any(not 1 <= w <= MAX_MLP_WIDTH for w in widths):
        return f"ARM of {n_hidden} hidden layers of width {widths} is beyond the limits"
    if not 1 <= config.n_ctx_rowcol <= MAX_N_CTX_ROWCOL:
        return f"n_ctx_rowcol {config.n_ctx_rowcol} (1 to {MAX_N_CTX_ROWCOL})"
    if any(layer.out_channels > MAX_MLP_WIDTH for layer in config.synthesis):
        return f"a synthesis layer is wider than {MAX_MLP_WIDTH} channels"
    return check_architecture(config)


def _indices_problem(header: HeaderV2) -> str | None:
    for (name, table), params in zip(PARAMETER_SETS, header.parameter_sets, strict=True):
        if params.q_step_index >= _N_STEPS[table]:
            return f"{name} q-step index {params.q_step_index} is outside its table"
        if params.scale_index >= N_SCALES:
            return f"{name} scale index {params.scale_index} is outside its table"
    if header.ac_max_val_nn < 2 or header.ac_max_val_latent < 2:
        return "symbol bounds must be at least 2"
    return None


def _lengths_problem(header: HeaderV2, n_bytes_file: int | None) -> str | None:
    if any(length % 4 for length in header.segment_lengths()):
        return "a segment length is not a multiple of 4"
    if n_bytes_file is not None and header.total_bytes() != n_bytes_file:
        return (
            f"header and segment lengths add up to {header.total_bytes()} bytes, "
            f"the file has {n_bytes_file}"
        )
    return None


def write_header(header: HeaderV2) -> bytes:
    """The header's bytes, prefix included; BitstreamError if a value does not fit."""
    validate_header(header)
    config = header.config
    sizes = {
        "height": header.height,
        "width": header.width,
        "latent_n_grids": config.latent_n_grids,
        "n_ctx_rowcol": config.n_ctx_rowcol,
        "arm_n_hidden_layers": len(config.layers_arm),
        "arm_hidden_width": config.layers_arm[0] if config.layers_arm else 0,
        "synthesis_n_layers": len(config.synthesis),
    }
    out = bytearray(container.write_prefix(MAGIC, VERSION))
    out += _pack(SIZE_FIELDS, sizes)
    for layer in config.synthesis:
        flags = (_RESIDUAL if layer.residual else 0) | (_RELU if layer.relu else 0)
        values = {"out_channels": layer.out_channels, "kernel_size": layer.kernel_size}
        out += _pack(LAYER_FIELDS, {**values, "flags": flags})
    bounds = {"ac_max_val_nn": header.ac_max_val_nn, "ac_max_val_latent": header.ac_max_val_latent}
    out += _pack(BOUND_FIELDS, bounds)
    for params in header.parameter_sets:
        out += _pack(SET_FIELDS, dataclasses.asdict(params))
    for length in header.n_bytes_per_latent:
        out += _pack((LATENT_FIELD,), {"n_bytes_latent": length})
    return bytes(out)


def _pack(declared, values: dict) -> bytes:
    out = bytearray()
    for name, width, _ in declared:
        value = int(values[name])
        if not 0 <= value < 256**width:
            raise BitstreamError(f"header field {name}={value} does not fit in {width} bytes")
        out += value.to_bytes(width, "big")
    return bytes(out)
