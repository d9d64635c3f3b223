"""The v1 writer: re-encoding what the decoder read gives the published bytes back."""

from __future__ import annotations

import pytest

from coolchic_core.decoder import decode_bitstream
from coolchic_core.formats.v1 import segments as v1
from coolchic_core.formats.v1.writer import write_v1
from coolchic_core.nn_quant import quantize_mlp
from tests.conftest import REFERENCE

ALL_NAMES = sorted(path.stem for path in REFERENCE.glob("bitstreams/*.bin"))
FAST_NAMES = ["kodim19-lambda02", "kodim23-lambda0005", "kodim05-lambda004"]


def _rewrite(data: bytes) -> bytes:
    decoded = decode_bitstream(data)
    header = decoded.header
    arm_layers, synthesis_layers = v1.decode_mlps(v1.parse(data))
    arm = quantize_mlp(
        arm_layers, "arm", header.q_step_index_arm_weight, header.q_step_index_arm_bias
    )
    synthesis = quantize_mlp(
        synthesis_layers,
        "synthesis",
        header.q_step_index_synthesis_weight,
        header.q_step_index_synthesis_bias,
    )
    return write_v1(decoded.latents, arm, synthesis, header.n_ctx_rowcol)


@pytest.mark.parametrize("name", FAST_NAMES)
def test_rewriting_reference_bitstream_is_byte_identical(name, reference_dir):
    data = (reference_dir / "bitstreams" / f"{name}.bin").read_bytes()
    assert _rewrite(data) == data


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in FAST_NAMES])
def test_rewriting_every_reference_bitstream(name, reference_dir):
    data = (reference_dir / "bitstreams" / f"{name}.bin").read_bytes()
    assert _rewrite(data) == data
