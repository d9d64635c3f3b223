"""The v1 format's reader and writer, field by field and limit by limit (fast: no image decode).

Headers are checked against the fields the original decoder printed for every
published bitstream (reference vectors.json); the writer is checked by
writing a tiny synthetic model and reading it back. These tests are the ones
`make mutation` runs against the bitstream modules.
"""

from __future__ import annotations

import dataclasses
import decimal
import hashlib
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from coolchic_core.decoder import decode_bitstream
from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats import container
from coolchic_core.formats.v1 import header as header_v1
from coolchic_core.formats.v1 import segments as v1
from coolchic_core.formats.v1.header import (
    HeaderV1,
    multiplications,
    parse_header,
    validate_header,
    write_header,
)
from coolchic_core.formats.v1.writer import check_v1_model, quantize_and_write, write_v1
from coolchic_core.limits import (
    MAX_DECODE_MULTIPLICATIONS,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE_PX,
    MAX_LATENT_GRIDS,
    MAX_MLP_HIDDEN_LAYERS,
    MAX_MLP_WIDTH,
    MAX_N_CTX_ROWCOL,
)
from coolchic_core.metrics import psnr_db_from_mse
from coolchic_core.mlp_params import layer_shapes, layers_from_flat, n_biases, n_weights
from coolchic_core.nn_quant import quantize_mlp
from coolchic_core.parameter_coding import encode_parameter_segment
from coolchic_core.scale_table import N_SCALES, nearest_scale_index, scale_table
from coolchic_core.symbol_bound import fits_symbol_bound, symbol_bound
from tests.conftest import REFERENCE

NAMES = ["kodim19-lambda02", "kodim01-lambda0001", "kodim23-lambda0005"]


def _data(name: str) -> bytes:
    path = REFERENCE / "bitstreams" / f"{name}.bin"
    if not path.is_file():
        pytest.skip("reference bitstreams not found")
    return path.read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_header_fields_are_the_original_decoder_s(name, vectors):
    expected = vectors[name]["header"]
    header = parse_header(_data(name))
    assert header.n_bytes_header == expected["n_bytes_header"]
    assert header.latent_n_grids == expected["latent_n_grids"]
    assert list(header.n_bytes_per_latent) == expected["n_bytes_per_latent"]
    assert [header.height, header.width] == expected["img_size"]
    assert header.n_ctx_rowcol == expected["n_ctx_rowcol"]
    assert list(header.layers_arm) == expected["layers_arm"]
    assert list(header.layers_synthesis) == expected["layers_synthesis"]
    assert header.ac_max_val_nn == expected["ac_max_val_nn"]
    assert header.ac_max_val_latent == expected["ac_max_val_latent"]
    for mlp in ("arm", "synthesis"):
        for kind in ("weight", "bias"):
            assert header.q_step_index(mlp, kind) == expected["q_step_index_nn"][mlp][kind]
            assert header.scale_index(mlp, kind) == expected["scale_index_nn"][mlp][kind]
            assert header.n_bytes_nn(mlp, kind) == expected["n_bytes_nn"][mlp][kind]
    assert header.total_bytes() == len(_data(name)) == vectors[name]["n_bytes"]
    view = header.to_dict()
    assert view["n_bytes_header"] == expected["n_bytes_header"]
    assert view["layers_arm"] == expected["layers_arm"]
    assert view["n_bytes_per_latent"] == expected["n_bytes_per_latent"]
    assert view["latent_n_grids"] == expected["latent_n_grids"]


@pytest.mark.parametrize("name", NAMES)
def test_header_and_segments_are_written_back_byte_for_byte(name):
    data = _data(name)
    parsed = v1.parse(data)
    header = parsed.header
    assert write_header(header) == data[: header.n_bytes_header]
    lengths = [len(parsed.nn_segments[(m, k)]) for m in v1.MLP_NAMES for k in v1.PARAM_KINDS]
    assert lengths + [len(s) for s in parsed.latent_segments] == header.segment_lengths()
    assert v1.assemble(header, parsed.nn_segments, parsed.latent_segments) == data
    at = header.n_bytes_header + sum(lengths)
    assert parsed.latent_segments[0] == data[at : at + header.n_bytes_per_latent[0]]


def test_fixed_fields_have_the_spec_s_widths_and_order():
    header = parse_header(_data("kodim19-lambda02"))
    raw = write_header(header)
    fixed = struct.unpack(">HHHBBBBBHHBBBBHHHHHHHHB", raw[: header_v1.FIXED_HEADER_BYTES])
    assert fixed == (
        header.n_bytes_header,
        header.height,
        header.width,
        header.n_ctx_rowcol,
        header.arm_n_hidden_layers,
        header.arm_hidden_width,
        header.synthesis_n_hidden_layers,
        header.synthesis_hidden_width,
        header.ac_max_val_nn,
        header.ac_max_val_latent,
        header.q_step_index_arm_weight,
        header.q_step_index_arm_bias,
        header.q_step_index_synthesis_weight,
        header.q_step_index_synthesis_bias,
        header.scale_index_arm_weight,
        header.scale_index_arm_bias,
        header.scale_index_synthesis_weight,
        header.scale_index_synthesis_bias,
        header.n_bytes_arm_weight,
        header.n_bytes_arm_bias,
        header.n_bytes_synthesis_weight,
        header.n_bytes_synthesis_bias,
        header.latent_n_grids,
    )
    grids = raw[header_v1.FIXED_HEADER_BYTES :]
    assert [int.from_bytes(grids[i : i + 3], "big") for i in range(0, len(grids), 3)] == list(
        header.n_bytes_per_latent
    )
    assert header.n_ctx == 2 * header.n_ctx_rowcol * (header.n_ctx_rowcol + 1)


@pytest.mark.parametrize("name", NAMES)
def test_mlp_parameters_decode_and_re_encode_to_the_same_segments(name):
    parsed = v1.parse(_data(name))
    header = parsed.header
    arm, synthesis = v1.decode_mlps(parsed)
    assert [layer.weight.shape for layer in arm] == v1.mlp_shapes(header, "arm")
    assert [layer.weight.shape for layer in synthesis] == v1.mlp_shapes(header, "synthesis")
    assert v1.mlp_shapes(header, "arm")[0] == (header.arm_hidden_width, header.n_ctx)
    assert v1.mlp_shapes(header, "synthesis")[-1][0] == 3
    for mlp, layers in (("arm", arm), ("synthesis", synthesis)):
        quantized = quantize_mlp(
            layers, mlp, header.q_step_index(mlp, "weight"), header.q_step_index(mlp, "bias")
        )
        for kind, params in (("weight", quantized.weights), ("bias", quantized.biases)):
            segment = encode_parameter_segment(
                params.integers, header.scale_index(mlp, kind), header.ac_max_val_nn
            )
            assert segment == parsed.nn_segments[(mlp, kind)]


def _valid() -> HeaderV1:
    return parse_header(_data("kodim19-lambda02"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"height": 0}, "image of 512x0 pixels is empty"),
        ({"width": 0}, "image of 0x768 pixels is empty"),
        ({"height": MAX_IMAGE_SIDE_PX + 1, "width": 1}, "exceeds the supported maximum"),
        ({"width": MAX_IMAGE_SIDE_PX + 1, "height": 1}, "exceeds the supported maximum"),
        ({"height": 4097, "width": 4096}, "exceeds the supported maximum"),
        ({"n_ctx_rowcol": 0}, "unsupported n_ctx_rowcol 0"),
        ({"n_ctx_rowcol": MAX_N_CTX_ROWCOL + 1}, "unsupported n_ctx_rowcol"),
        ({"arm_n_hidden_layers": MAX_MLP_HIDDEN_LAYERS + 1}, "ARM of 17 hidden layers"),
        ({"arm_hidden_width": MAX_MLP_WIDTH + 1}, "exceeds the supported maximum"),
        ({"synthesis_hidden_width": MAX_MLP_WIDTH + 1}, "synthesis of"),
        ({"arm_n_hidden_layers": 0}, "ARM: 0 hidden layers of width 12"),
        ({"synthesis_hidden_width": 0}, "synthesis: 2 hidden layers of width 0"),
        ({"q_step_index_arm_weight": 8}, "arm weight q-step index 8 is outside its table"),
        ({"q_step_index_arm_bias": 8}, "arm bias q-step index 8 is outside its table (0 to 7)"),
        ({"q_step_index_synthesis_bias": 17}, "outside its table (0 to 16)"),
        ({"scale_index_synthesis_weight": N_SCALES}, "synthesis weight scale index 65535"),
        ({"scale_index_arm_bias": N_SCALES}, "arm bias scale index"),
        ({"ac_max_val_nn": 0}, "symbol bound ac_max_val_nn must be at least 1, got 0"),
        ({"ac_max_val_latent": 0}, "symbol bound ac_max_val_latent"),
        ({"n_bytes_arm_bias": 2}, "segment length 2 is not a multiple of 4"),
    ],
)
def test_headers_outside_the_tables_or_limits_are_refused(changes, message):
    header = dataclasses.replace(_valid(), **changes)
    with pytest.raises(BitstreamError) as caught:
        validate_header(header)
    assert message in str(caught.value)


def test_the_limits_themselves_are_accepted():
    header = _valid()
    edges = [
        {"n_ctx_rowcol": MAX_N_CTX_ROWCOL},
        {"n_ctx_rowcol": 1},
        {"height": 1, "width": 1},
        {"height": MAX_IMAGE_SIDE_PX, "width": MAX_IMAGE_PIXELS // MAX_IMAGE_SIDE_PX},
        {"arm_n_hidden_layers": 0, "arm_hidden_width": 0},
        {"synthesis_n_hidden_layers": MAX_MLP_HIDDEN_LAYERS},
        {"arm_hidden_width": MAX_MLP_WIDTH},
        {"q_step_index_arm_weight": 7, "q_step_index_synthesis_bias": 16},
        {"scale_index_arm_weight": N_SCALES - 1},
        {"ac_max_val_nn": 1, "ac_max_val_latent": 1},
    ]
    for changes in edges:
        validate_header(dataclasses.replace(header, **changes))


def test_segment_lengths_must_add_up_to_the_file():
    header = _valid()
    size = header.total_bytes()
    validate_header(header, size)
    with pytest.raises(BitstreamError, match=f"overrun the file of {size - 4} bytes"):
        validate_header(header, size - 4)
    with pytest.raises(BitstreamError, match="leave trailing bytes in the file"):
        validate_header(header, size + 4)
    assert header.n_bytes_header == header_v1.FIXED_HEADER_BYTES + 3 * header.latent_n_grids


def test_truncated_or_inconsistent_headers_are_refused():
    data = _data("kodim19-lambda02")
    with pytest.raises(BitstreamError, match="truncated header: 35 bytes, at least 36 expected"):
        parse_header(data[:35])
    validate_header(parse_header(data[:36] + data[36:]), len(data))
    with pytest.raises(BitstreamError, match="truncated header: 40 bytes, 57 expected"):
        parse_header(data[:40])
    wrong_length = (58).to_bytes(2, "big") + data[2:]
    with pytest.raises(BitstreamError, match="header length field is 58, expected 57"):
        parse_header(wrong_length)
    for grids in (0, MAX_LATENT_GRIDS + 1):
        bad = data[:35] + bytes([grids]) + data[36:]
        with pytest.raises(BitstreamError, match=f"unsupported number of latent grids: {grids}"):
            parse_header(bad)
    with pytest.raises(BitstreamError, match="not a valid COOL-CHIC v1 bitstream: segment"):
        v1.parse(data[:-4])


def test_a_field_too_wide_for_its_bytes_is_refused_when_written():
    header = _valid()
    assert write_header(dataclasses.replace(header, height=65535))[2:4] == b"\xff\xff"
    with pytest.raises(BitstreamError, match="header field height=65536 does not fit in 2 bytes"):
        write_header(dataclasses.replace(header, height=65536))
    with pytest.raises(BitstreamError, match="field n_ctx_rowcol=-1 does not fit in 1 bytes"):
        write_header(dataclasses.replace(header, n_ctx_rowcol=-1))
    lengths = (256**3 - 1,) + header.n_bytes_per_latent[1:]
    assert write_header(dataclasses.replace(header, n_bytes_per_latent=lengths))[36:39] == (
        b"\xff\xff\xff"
    )
    with pytest.raises(BitstreamError, match=r"n_bytes_per_latent\[0\]=16777216"):
        lengths = (256**3,) + header.n_bytes_per_latent[1:]
        write_header(dataclasses.replace(header, n_bytes_per_latent=lengths))


def test_decoding_cost_counts_the_arm_per_latent_and_the_synthesis_per_pixel():
    header = dataclasses.replace(
        _valid(),
        height=5,
        width=7,
        n_ctx_rowcol=1,
        arm_n_hidden_layers=1,
        arm_hidden_width=3,
        synthesis_n_hidden_layers=2,
        synthesis_hidden_width=2,
        n_bytes_per_latent=(0, 0),
    )
    latents = 5 * 7 + 3 * 4  # grids of 5x7 and ceil(5/2)xceil(7/2)
    arm = 4 * 3 + 3 * 2
    synthesis = 2 * 2 + 2 * 2 + 2 * 3
    counted = multiplications(header)
    assert counted == {
        "arm": arm,
        "synthesis": synthesis,
        "n_latents": latents,
        "total": latents * arm + 35 * synthesis,
    }
    big = dataclasses.replace(
        _valid(), height=4096, width=4096, arm_hidden_width=64, synthesis_hidden_width=64
    )
    assert multiplications(big)["total"] > MAX_DECODE_MULTIPLICATIONS
    with pytest.raises(BitstreamError, match="multiplications, more than the supported maximum"):
        validate_header(big)


def test_scale_table_follows_the_spec():
    table = scale_table()
    assert table.shape == (N_SCALES,) and table.dtype == np.float32
    assert not table.flags.writeable
    for index in (0, 1, 1000, 9000, 30000, 45000, 60000, N_SCALES - 1):
        exact = np.float32(2.0 ** (1 / 1024 + index * (16 - 1 / 1024) / (N_SCALES - 1)))
        kept = next(k for upper, k in header_v1_kept() if exact < upper)
        mantissa_mask = (0xFFFFFFFF >> (23 - kept)) << (23 - kept)
        truncated = np.array([exact]).view(np.uint32)[0] & mantissa_mask
        assert table[index] == pytest.approx(np.array([truncated], np.uint32).view(np.float32)[0])
        assert nearest_scale_index(float(table[index])) == index or table[index] == table[index - 1]
    assert table[-1] == 65536.0 and np.all(np.diff(table) >= 0)
    assert nearest_scale_index(0.0) == 0 and nearest_scale_index(1e9) == N_SCALES - 1


def test_latent_scale_table_is_the_same_on_every_machine():
    """The Laplace scale of every v[1] (spec section 5), from the correctly rounded exp:
    a torch or numpy exp that differs in the last bit, by CPU or build, changes nothing."""
    from coolchic_core.arm_fixed_point import scale_table as latent_scale_table

    table, v1_low = latent_scale_table()
    assert (v1_low, table.size, table.dtype) == (-2561, 6100, np.float64)
    digest = hashlib.sha256(table.astype("<f8").tobytes()).hexdigest()
    assert digest == "afb2a2e41a17c6dbb7e42b3363e0332653f4540c88a5c4f7508e55841b2c7468"
    v1 = np.arange(v1_low, v1_low + table.size)
    torch_scale = torch.exp(-0.5 * torch.clamp(torch.from_numpy(v1).float() / 256, -10, 13.8155))
    rounding = 1 / 2048 + 1 / 256  # to 1/1024, then to 1/128
    assert np.max(np.abs(table - torch_scale.numpy())) <= rounding + 1e-6 * torch_scale.max().item()


@pytest.mark.parametrize("seed", range(3))
def test_exp_float32_is_correctly_rounded(seed):
    from coolchic_core.arm_fixed_point import _exp_exact, exp_float32

    rng = np.random.default_rng(seed)
    x = rng.uniform(-87, 88, 300).astype(np.float32)
    ours = exp_float32(x)
    for value, result in zip(x, ours, strict=True):
        exact = _exp_exact(float(value))
        neighbours = [np.nextafter(result, np.float32(s * np.inf)) for s in (-1, 1)]
        error = abs(decimal.Decimal(float(result)) - exact)
        assert all(error <= abs(decimal.Decimal(float(n)) - exact) for n in neighbours)


def header_v1_kept():
    """Fraction bits kept per range (spec section 4), written out independently."""
    return [(2, 9), (4, 10), (8, 11), (16, 12), (32, 13), (64, 14), (128, 15), (256, 16)] + [
        (512, 17),
        (float("inf"), 18),
    ]


def test_symbol_bound_is_max_plus_two_up_to_the_format_limit():
    assert symbol_bound(0) == 2 and symbol_bound(5) == 7
    assert symbol_bound(65533) == 65535 and fits_symbol_bound(65533)
    assert not fits_symbol_bound(65534)
    with pytest.raises(InputError, match="magnitude 65534 does not fit the range coder's symbol"):
        symbol_bound(65534)


def _tiny_model(seed: int = 0):
    """Latents and quantized MLPs of an 6x10 image: 3 grids, n_ctx_rowcol 1."""
    rng = np.random.default_rng(seed)
    latents = [rng.integers(-3, 4, size=s).astype(np.int32) for s in ((6, 10), (3, 5), (2, 3))]
    mlps = {}
    for mlp, n_in, hidden, n_out, index in (("arm", 4, (4,), 2, 3), ("synthesis", 3, (5,), 3, 8)):
        shapes = layer_shapes(n_in, hidden, n_out)
        weights = rng.normal(0, 0.3, n_weights(shapes))
        biases = rng.normal(0, 0.1, n_biases(shapes))
        mlps[mlp] = quantize_mlp(layers_from_flat(shapes, weights, biases), mlp, index, index + 1)
    return latents, mlps["arm"], mlps["synthesis"]


def test_the_writer_s_bitstream_reads_back_to_its_model():
    latents, arm, synthesis = _tiny_model()
    data = write_v1(latents, arm, synthesis, n_ctx_rowcol=1)
    header = parse_header(data)
    assert (header.height, header.width, header.latent_n_grids) == (6, 10, 3)
    assert (header.n_ctx_rowcol, header.layers_arm, header.layers_synthesis) == (1, (4,), (5,))
    assert header.ac_max_val_latent == 3 + 2
    assert header.ac_max_val_nn == max(arm.max_abs_integer, synthesis.max_abs_integer) + 2
    assert (header.q_step_index_arm_weight, header.q_step_index_arm_bias) == (3, 4)
    assert (header.q_step_index_synthesis_weight, header.q_step_index_synthesis_bias) == (8, 9)
    assert header.scale_index_arm_weight == arm.weights.scale_index
    assert header.scale_index_synthesis_bias == synthesis.biases.scale_index
    arm_layers, synthesis_layers = v1.decode_mlps(v1.parse(data))
    for got, sent in zip(arm_layers + synthesis_layers, arm.layers + synthesis.layers, strict=True):
        np.testing.assert_array_equal(got.weight, sent.weight)
        np.testing.assert_array_equal(got.bias, sent.bias)
    decoded = decode_bitstream(data)
    for got, sent in zip(decoded.latents, latents, strict=True):
        np.testing.assert_array_equal(got, sent)
    assert decoded.image.shape == (6, 10, 3)


def test_the_writer_refuses_what_v1_cannot_describe():
    latents, arm, synthesis = _tiny_model()
    uneven = dataclasses.replace(
        synthesis,
        layers=[*synthesis.layers[:1], synthesis.layers[0], *synthesis.layers[1:]],
    )
    uneven.layers[1] = dataclasses.replace(
        uneven.layers[1], weight=np.zeros((6, 5), np.float32), bias=np.zeros(6, np.float32)
    )
    with pytest.raises(InputError, match="all hidden layers of an MLP to have the same width"):
        write_v1(latents, arm, uneven, n_ctx_rowcol=1)
    huge = [latents[0] * 0 + 70000, *latents[1:]]
    with pytest.raises(InputError, match="magnitude 70000 does not fit"):
        write_v1(huge, arm, synthesis, n_ctx_rowcol=1)


@dataclasses.dataclass
class _Config:
    layers_arm: tuple = (8, 8)
    layers_synthesis: tuple = (12, 12)
    n_ctx_rowcol: int = 2
    latent_n_grids: int = 7


def test_check_v1_model_refuses_before_training():
    check_v1_model(_Config(), 512, 768)
    check_v1_model(_Config(layers_arm=()), 16, 16)
    with pytest.raises(InputError, match="v1 needs all ARM hidden layers to have one width"):
        check_v1_model(_Config(layers_arm=(8, 4)), 64, 64)
    with pytest.raises(InputError, match="all synthesis hidden layers to have one width, got 4,8"):
        check_v1_model(_Config(layers_synthesis=(4, 8)), 64, 64)
    with pytest.raises(InputError, match="cannot be written as v1: unsupported n_ctx_rowcol 9"):
        check_v1_model(_Config(n_ctx_rowcol=9), 64, 64)
    with pytest.raises(InputError, match="as v1: image of 70000x1 pixels exceeds"):
        check_v1_model(_Config(), 1, 70000)
    check_v1_model(_Config(latent_n_grids=MAX_LATENT_GRIDS), 64, 64)
    with pytest.raises(InputError, match="v1: unsupported number of latent grids: 13 "):
        check_v1_model(_Config(latent_n_grids=MAX_LATENT_GRIDS + 1), 64, 64)


def test_quantize_and_write_estimates_what_the_decoder_gets():
    latents, arm, synthesis = _tiny_model(seed=1)
    fitted = SimpleNamespace(
        latents_int=latents,
        arm_layers=[(layer.weight, layer.bias) for layer in arm.layers],
        synthesis_layers=[(layer.weight, layer.bias) for layer in synthesis.layers],
    )
    original = decode_bitstream(write_v1(latents, arm, synthesis, 1)).image
    data, estimates = quantize_and_write(fitted, original, 0.01, n_ctx_rowcol=1, exhaustive=False)
    decoded = decode_bitstream(data)
    for got, sent in zip(decoded.latents, latents, strict=True):
        np.testing.assert_array_equal(got, sent)
    psnr_db = psnr_db_from_mse(float(np.mean((decoded.image - original) ** 2)))
    assert estimates["psnr"] == pytest.approx(psnr_db, abs=1e-3)
    parts = estimates["rate_latent_bpp"] + estimates["rate_mlp_bpp"]
    assert estimates["rate_all_bpp"] == pytest.approx(parts)
    real_bpp = 8 * len(data) / 60
    assert 0 < estimates["rate_all_bpp"] <= real_bpp  # headers and coder flushes cost extra
    assert estimates["rate_latent_bpp"] > 0 and estimates["rate_mlp_bpp"] > 0


def test_container_prefix_keeps_later_formats_apart_from_v1():
    prefix = container.write_prefix(b"CCv2", 3)
    assert prefix == b"CCv2\x03" and container.read_version(prefix + b"x", b"CCv2", "v2") == 3
    for magic in (b"\x1fabc", b"abc", b"abcde"):
        with pytest.raises(ValueError, match="a magic number is 4 bytes"):
            container.check_magic(magic)
    container.check_magic(b"\x20abc")
    for version in (-1, 256):
        with pytest.raises(ValueError, match=f"a format version is one byte, got {version}"):
            container.write_prefix(b"CCv2", version)
    assert container.write_prefix(b"CCv2", 255)[-1] == 255
    for data in (b"CCv2", b"CCv3\x01"):
        with pytest.raises(BitstreamError, match="not a v2 bitstream: wrong or missing magic"):
            container.read_version(data, b"CCv2", "v2")
    assert parse_header(_data("kodim19-lambda02")).n_bytes_header < 0x20 * 256


def test_declared_fields_name_every_byte_of_the_header():
    fields = header_v1.declared_fields(2)
    names = [name for name, _, _ in fields]
    assert names[:3] == ["n_bytes_header", "height", "width"]
    assert names[-3:] == ["latent_n_grids", "n_bytes_per_latent[0]", "n_bytes_per_latent[1]"]
    assert sum(width for _, width, _ in fields) == header_v1.FIXED_HEADER_BYTES + 2 * 3
    meaning = {name: text for name, _, text in fields}
    assert meaning["height"] == "image height in pixels"
    assert meaning["q_step_index_arm_weight"] == "q-step index of the arm weight segment"
    assert (
        meaning["scale_index_synthesis_bias"] == "scale-table index of the synthesis bias segment"
    )
    assert meaning["n_bytes_arm_bias"] == "bytes of the arm bias segment"
    assert meaning["n_bytes_per_latent[1]"] == "bytes of the segment of latent grid i"
    assert all(text for text in meaning.values())
    generic = header_v1.declared_fields()
    assert [f[0] for f in generic][-1] == "n_bytes_per_latent[i]" and len(generic) == 24


def test_quantize_and_write_reports_rates_per_pixel_of_its_own_search():
    from coolchic_core.arm_fixed_point import FixedPointArm
    from coolchic_core.latent_coding import latent_rate_bits

    latents, arm, synthesis = _tiny_model(seed=2)
    fitted = SimpleNamespace(
        latents_int=[grid.astype(np.int64) for grid in latents],
        arm_layers=[(layer.weight, layer.bias) for layer in arm.layers],
        synthesis_layers=[(layer.weight, layer.bias) for layer in synthesis.layers],
    )
    original = decode_bitstream(write_v1(latents, arm, synthesis, 1)).image
    data, estimates = quantize_and_write(fitted, original, 0.001, n_ctx_rowcol=1)
    assert quantize_and_write(fitted, original, 0.001, 1, exhaustive=True)[0] == data
    arm_layers, _ = v1.decode_mlps(v1.parse(data))
    bound = parse_header(data).ac_max_val_latent
    bits = latent_rate_bits(latents, FixedPointArm(arm_layers, max_abs_input=bound), 1)
    assert estimates["rate_latent_bpp"] == pytest.approx(bits / 60)  # 6 x 10 pixels


def test_an_arm_without_hidden_layers_is_written_with_width_zero():
    rng = np.random.default_rng(3)
    latents, _, synthesis = _tiny_model()
    shapes = layer_shapes(4, (), 2)
    layers = layers_from_flat(shapes, rng.normal(0, 0.3, 8), rng.normal(0, 0.1, 2))
    arm = quantize_mlp(layers, "arm", 3, 4)
    header = parse_header(write_v1(latents, arm, synthesis, n_ctx_rowcol=1))
    assert (header.arm_n_hidden_layers, header.arm_hidden_width) == (0, 0)
