"""The COOL-CHIC v1 header: declared fields, parsing and writing (format spec, section 2).

All integers are unsigned big-endian. The header holds no magic number nor
version: v1 is recognised by its self-consistent lengths.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coolchic_core.context import n_context
from coolchic_core.errors import BitstreamError
from coolchic_core.grids import n_latents
from coolchic_core.limits import (
    MAX_DECODE_MULTIPLICATIONS,
    MAX_LATENT_GRIDS,
    MAX_MLP_HIDDEN_LAYERS,
    MAX_MLP_WIDTH,
    MAX_N_CTX_ROWCOL,
    image_size_problem,
)
from coolchic_core.mlp_params import N_ARM_Q_STEPS, N_SYNTHESIS_Q_STEPS, n_multiplications

FIXED_HEADER_BYTES = 36
BYTES_PER_LATENT_LENGTH = 3
MLP_NAMES = ("arm", "synthesis")
PARAM_KINDS = ("weight", "bias")

# (field name, width in bytes), in stream order, before the per-grid lengths.
_FIXED_FIELDS = (
    ("n_bytes_header", 2),
    ("height", 2),
    ("width", 2),
    ("n_ctx_rowcol", 1),
    ("arm_n_hidden_layers", 1),
    ("arm_hidden_width", 1),
    ("synthesis_n_hidden_layers", 1),
    ("synthesis_hidden_width", 1),
    ("ac_max_val_nn", 2),
    ("ac_max_val_latent", 2),
    ("q_step_index_arm_weight", 1),
    ("q_step_index_arm_bias", 1),
    ("q_step_index_synthesis_weight", 1),
    ("q_step_index_synthesis_bias", 1),
    ("scale_index_arm_weight", 2),
    ("scale_index_arm_bias", 2),
    ("scale_index_synthesis_weight", 2),
    ("scale_index_synthesis_bias", 2),
    ("n_bytes_arm_weight", 2),
    ("n_bytes_arm_bias", 2),
    ("n_bytes_synthesis_weight", 2),
    ("n_bytes_synthesis_bias", 2),
    ("latent_n_grids", 1),
)
assert sum(width for _, width in _FIXED_FIELDS) == FIXED_HEADER_BYTES


@dataclass(frozen=True)
class HeaderV1:
    """Every field of a v1 header, with the per-grid stream lengths."""

    height: int
    width: int
    n_ctx_rowcol: int
    arm_n_hidden_layers: int
    arm_hidden_width: int
    synthesis_n_hidden_layers: int
    synthesis_hidden_width: int
    ac_max_val_nn: int
    ac_max_val_latent: int
    q_step_index_arm_weight: int
    q_step_index_arm_bias: int
    q_step_index_synthesis_weight: int
    q_step_index_synthesis_bias: int
    scale_index_arm_weight: int
    scale_index_arm_bias: int
    scale_index_synthesis_weight: int
    scale_index_synthesis_bias: int
    n_bytes_arm_weight: int
    n_bytes_arm_bias: int
    n_bytes_synthesis_weight: int
    n_bytes_synthesis_bias: int
    n_bytes_per_latent: tuple[int, ...]

    @property
    def latent_n_grids(self) -> int:
        return len(self.n_bytes_per_latent)

    @property
    def n_bytes_header(self) -> int:
        return FIXED_HEADER_BYTES + BYTES_PER_LATENT_LENGTH * self.latent_n_grids

    @property
    def layers_arm(self) -> tuple[int, ...]:
        return (self.arm_hidden_width,) * self.arm_n_hidden_layers

    @property
    def layers_synthesis(self) -> tuple[int, ...]:
        return (self.synthesis_hidden_width,) * self.synthesis_n_hidden_layers

    @property
    def n_ctx(self) -> int:
        """Number of context values of the ARM: 2n(n+1)."""
        return n_context(self.n_ctx_rowcol)

    def q_step_index(self, mlp: str, kind: str) -> int:
        return getattr(self, f"q_step_index_{mlp}_{kind}")

    def scale_index(self, mlp: str, kind: str) -> int:
        return getattr(self, f"scale_index_{mlp}_{kind}")

    def n_bytes_nn(self, mlp: str, kind: str) -> int:
        return getattr(self, f"n_bytes_{mlp}_{kind}")

    def segment_lengths(self) -> list[int]:
        """Byte lengths of the segments after the header, in stream order."""
        nn = [self.n_bytes_nn(mlp, kind) for mlp in MLP_NAMES for kind in PARAM_KINDS]
        return nn + list(self.n_bytes_per_latent)

    def total_bytes(self) -> int:
        return self.n_bytes_header + sum(self.segment_lengths())

    def to_dict(self) -> dict:
        """A JSON-friendly view, close to the original's field names."""
        fields = dataclasses.asdict(self)
        fields["n_bytes_per_latent"] = list(self.n_bytes_per_latent)
        fields.update(
            n_bytes_header=self.n_bytes_header,
            latent_n_grids=self.latent_n_grids,
            layers_arm=list(self.layers_arm),
            layers_synthesis=list(self.layers_synthesis),
        )
        return fields


def parse_header(data: bytes) -> HeaderV1:
    """Parse and validate a v1 header at the start of `data`."""
    if len(data) < FIXED_HEADER_BYTES:
        raise BitstreamError(
            f"truncated header: {len(data)} bytes, at least {FIXED_HEADER_BYTES} expected"
        )
    values, offset = {}, 0
    for name, width in _FIXED_FIELDS:
        values[name] = int.from_bytes(data[offset : offset + width], "big")
        offset += width
    n_grids = values.pop("latent_n_grids")
    n_bytes_header = values.pop("n_bytes_header")
    _check_header_length(n_bytes_header, n_grids, len(data))
    lengths = tuple(
        int.from_bytes(
            data[offset + BYTES_PER_LATENT_LENGTH * i : offset + BYTES_PER_LATENT_LENGTH * (i + 1)],
            "big",
        )
        for i in range(n_grids)
    )
    header = HeaderV1(n_bytes_per_latent=lengths, **values)
    validate_header(header, len(data))
    return header


def _check_grid_count(n_grids: int) -> None:
    if not 1 <= n_grids <= MAX_LATENT_GRIDS:
        raise BitstreamError(
            f"unsupported number of latent grids: {n_grids} (1 to {MAX_LATENT_GRIDS})"
        )


def _check_header_length(n_bytes_header: int, n_grids: int, n_bytes_file: int) -> None:
    _check_grid_count(n_grids)
    expected = FIXED_HEADER_BYTES + BYTES_PER_LATENT_LENGTH * n_grids
    if n_bytes_header != expected:
        raise BitstreamError(
            f"header length field is {n_bytes_header}, expected {expected} "
            f"for {n_grids} latent grids"
        )
    if n_bytes_file < expected:
        raise BitstreamError(f"truncated header: {n_bytes_file} bytes, {expected} expected")


def validate_header(header: HeaderV1, n_bytes_file: int | None = None) -> None:
    """Refuse headers outside the format's tables or the documented limits."""
    _check_grid_count(header.latent_n_grids)
    _check_image_size(header.height, header.width)
    _check_mlp_shape("ARM", header.arm_n_hidden_layers, header.arm_hidden_width)
    _check_mlp_shape("synthesis", header.synthesis_n_hidden_layers, header.synthesis_hidden_width)
    if not 1 <= header.n_ctx_rowcol <= MAX_N_CTX_ROWCOL:
        raise BitstreamError(
            f"unsupported n_ctx_rowcol {header.n_ctx_rowcol} (1 to {MAX_N_CTX_ROWCOL})"
        )
    _check_indices(header)
    _check_decoding_cost(header)
    for name, value in (
        ("ac_max_val_nn", header.ac_max_val_nn),
        ("ac_max_val_latent", header.ac_max_val_latent),
    ):
        if value < 1:
            raise BitstreamError(f"symbol bound {name} must be at least 1, got {value}")
    _check_segment_lengths(header, n_bytes_file)


def multiplications(header: HeaderV1) -> dict:
    """Multiplications of one ARM evaluation (one per latent), of the synthesis (one per
    pixel), and of the whole decoding."""
    arm = n_multiplications(header.n_ctx, header.layers_arm, 2)
    synthesis = n_multiplications(header.latent_n_grids, header.layers_synthesis, 3)
    n_latent_values = n_latents(header.height, header.width, header.latent_n_grids)
    total = n_latent_values * arm + header.height * header.width * synthesis
    return {"arm": arm, "synthesis": synthesis, "n_latents": n_latent_values, "total": total}


def _check_decoding_cost(header: HeaderV1) -> None:
    cost = multiplications(header)["total"]
    if cost > MAX_DECODE_MULTIPLICATIONS:
        raise BitstreamError(
            f"decoding would take {cost:.2e} multiplications, more than the supported "
            f"maximum of {MAX_DECODE_MULTIPLICATIONS:.2e} (image size times model size)"
        )


def _check_image_size(height: int, width: int) -> None:
    problem = image_size_problem(height, width)
    if problem is not None:
        raise BitstreamError(problem)


def _check_mlp_shape(name: str, n_hidden_layers: int, hidden_width: int) -> None:
    if n_hidden_layers > MAX_MLP_HIDDEN_LAYERS or hidden_width > MAX_MLP_WIDTH:
        raise BitstreamError(
            f"{name} of {n_hidden_layers} hidden layers of width "
            f"{hidden_width} exceeds the supported maximum "
            f"({MAX_MLP_HIDDEN_LAYERS} layers of {MAX_MLP_WIDTH})"
        )
    if (n_hidden_layers == 0) != (hidden_width == 0):
        raise BitstreamError(f"{name}: {n_hidden_layers} hidden layers of width {hidden_width}")


def _check_indices(header: HeaderV1) -> None:
    from coolchic_core.scale_table import N_SCALES

    n_steps = {"arm": N_ARM_Q_STEPS, "synthesis": N_SYNTHESIS_Q_STEPS}
    for mlp in MLP_NAMES:
        for kind in PARAM_KINDS:
            q_index = header.q_step_index(mlp, kind)
            if q_index >= n_steps[mlp]:
                raise BitstreamError(
                    f"{mlp} {kind} q-step index {q_index} is outside its "
                    f"table (0 to {n_steps[mlp] - 1})"
                )
            if header.scale_index(mlp, kind) >= N_SCALES:
                raise BitstreamError(
                    f"{mlp} {kind} scale index {header.scale_index(mlp, kind)} is outside its table"
                )


def _check_segment_lengths(header: HeaderV1, n_bytes_file: int | None) -> None:
    for length in header.segment_lengths():
        if length % 4:
            raise BitstreamError(f"segment length {length} is not a multiple of 4")
    if n_bytes_file is not None and header.total_bytes() != n_bytes_file:
        kind = "overrun" if header.total_bytes() > n_bytes_file else "leave trailing bytes in"
        raise BitstreamError(
            f"segment lengths ({header.total_bytes()} bytes in all) {kind} "
            f"the file of {n_bytes_file} bytes"
        )


def write_header(header: HeaderV1) -> bytes:
    """Serialise a header; raises BitstreamError if a field does not fit its width."""
    values = dataclasses.asdict(header)
    values["n_bytes_header"] = header.n_bytes_header
    values["latent_n_grids"] = header.latent_n_grids
    out = bytearray()
    for name, width in _FIXED_FIELDS:
        out += _to_bytes(name, values[name], width)
    for i, length in enumerate(header.n_bytes_per_latent):
        out += _to_bytes(f"n_bytes_per_latent[{i}]", length, BYTES_PER_LATENT_LENGTH)
    return bytes(out)


def _to_bytes(name: str, value: int, width: int) -> bytes:
    if not 0 <= value < 256**width:
        raise BitstreamError(f"header field {name}={value} does not fit in {width} bytes")
    return int(value).to_bytes(width, "big")


_MEANINGS = {
    "n_bytes_header": "bytes of this header, 36 + 3 x latent_n_grids",
    "height": "image height in pixels",
    "width": "image width in pixels",
    "n_ctx_rowcol": "ARM context half-size n: 2n(n+1) causal neighbours",
    "arm_n_hidden_layers": "hidden layers of the ARM",
    "arm_hidden_width": "width of every ARM hidden layer",
    "synthesis_n_hidden_layers": "hidden layers of the synthesis",
    "synthesis_hidden_width": "width of every synthesis hidden layer",
    "ac_max_val_nn": "symbol bound of the MLP parameter streams",
    "ac_max_val_latent": "symbol bound of the latent streams",
    "latent_n_grids": "number of latent grids N",
}


def _meaning(name: str) -> str:
    if name in _MEANINGS:
        return _MEANINGS[name]
    kind, mlp_param = name.split("_index_") if "_index_" in name else ("n_bytes", name[8:])
    what = {"q_step": "q-step index", "scale": "scale-table index", "n_bytes": "bytes"}[kind]
    return f"{what} of the {mlp_param.replace('_', ' ')} segment"


def declared_fields(n_grids: int | None = None) -> list[tuple[str, int, str]]:
    """(name, width in bytes, meaning) of every field in stream order; the per-grid
    lengths come last, one per grid (shown once, as `n_bytes_per_latent[i]`, if
    `n_grids` is None)."""
    fields = [(name, width, _meaning(name)) for name, width in _FIXED_FIELDS]
    per_grid = [f"n_bytes_per_latent[{i}]" for i in range(n_grids)] if n_grids else None
    for name in per_grid or ["n_bytes_per_latent[i]"]:
        fields.append((name, BYTES_PER_LATENT_LENGTH, "bytes of the segment of latent grid i"))
    return fields
