"""Malformed bitstreams and bad paths: exit 2, one line on stderr, no output file."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coolchic_cli import main
from coolchic_core.formats.v1.header import parse_header, write_header
from tests.conftest import REFERENCE
from tests.fuzzing import assert_decodes_or_refuses, mutate

SMALL = REFERENCE / "bitstreams" / "kodim19-lambda02.bin"


def _reference_bytes() -> bytes:
    if not SMALL.exists():
        pytest.skip("reference bitstreams not found")
    return SMALL.read_bytes()


def _with_header_field(data: bytes, **changes) -> bytes:
    import dataclasses

    header = parse_header(data)
    header = dataclasses.replace(header, **changes)
    return bytearray(header_bytes_unchecked(header)) + data[header.n_bytes_header :]


def header_bytes_unchecked(header) -> bytes:
    return write_header(header)


def _run_decode(tmp_path, data: bytes | None, capsys, output_name="out.png"):
    source = tmp_path / "in.bin"
    if data is not None:
        source.write_bytes(data)
    output = tmp_path / output_name
    status = main(["decode", "-i", str(source), "-o", str(output)])
    err = capsys.readouterr().err
    return status, err, output


def _assert_clean_failure(status, err, output, word):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert word in lines[0].lower()
    assert "Traceback" not in err
    assert not output.exists()
    leftovers = [p for p in output.parent.iterdir() if p.name.startswith(".out.png")]
    assert leftovers == []


def _cases():
    data = _reference_bytes()
    n_header = parse_header(data).n_bytes_header
    segment_start = n_header + 10
    return {
        "empty": (b"", "truncated"),
        "cut in header": (data[:20], "truncated"),
        "cut after header": (data[: n_header + 3], "overrun"),
        "cut in a segment": (data[:segment_start], "overrun"),
        "one byte short": (data[:-1], "overrun"),
        "one byte more": (data + b"\0", "trailing"),
        "random bytes": (bytes(range(256)) * 4, "grid"),
        "huge image": (_with_header_field(data, height=65535, width=65535), "maximum"),
        "huge arm": (
            _with_header_field(data, arm_n_hidden_layers=255, arm_hidden_width=255),
            "maximum",
        ),
        "huge synthesis": (
            _with_header_field(data, synthesis_n_hidden_layers=255, synthesis_hidden_width=255),
            "maximum",
        ),
        "q-step index": (_with_header_field(data, q_step_index_arm_weight=8), "q-step"),
        "synthesis q-step index": (
            _with_header_field(data, q_step_index_synthesis_bias=17),
            "q-step",
        ),
        "scale index": (_with_header_field(data, scale_index_arm_bias=65535), "scale index"),
        "segment overrun": (_with_header_field(data, n_bytes_arm_weight=60000), "overrun"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "cut in header",
        "cut after header",
        "cut in a segment",
        "one byte short",
        "one byte more",
        "random bytes",
        "huge image",
        "huge arm",
        "huge synthesis",
        "q-step index",
        "synthesis q-step index",
        "scale index",
        "segment overrun",
    ],
)
def test_malformed_bitstream_fails_cleanly(case, tmp_path, capsys):
    data, word = _cases()[case]
    status, err, output = _run_decode(tmp_path, data, capsys)
    _assert_clean_failure(status, err, output, word)


def test_missing_input(tmp_path, capsys):
    status, err, output = _run_decode(tmp_path, None, capsys)
    _assert_clean_failure(status, err, output, "no such")


def test_unwritable_output(tmp_path, capsys):
    data = _reference_bytes()
    (tmp_path / "in.bin").write_bytes(data)
    status = main(
        ["decode", "-i", str(tmp_path / "in.bin"), "-o", str(tmp_path / "missing" / "out.png")]
    )
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "does not exist" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder(tmp_path, capsys):
    data = _reference_bytes()
    (tmp_path / "in.bin").write_bytes(data)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    status = main(["decode", "-i", str(tmp_path / "in.bin"), "-o", str(locked / "o.png")])
    assert status == 2 and "permission" in capsys.readouterr().err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_bitstreams_decode_or_raise_own_error(data):
    assert_decodes_or_refuses(mutate(_reference_bytes(), data))


def test_header_asking_for_too_much_work_is_refused(tmp_path, capsys):
    data = _with_header_field(
        _reference_bytes(),
        height=4096,
        width=4096,
        n_ctx_rowcol=8,
        synthesis_n_hidden_layers=16,
        synthesis_hidden_width=64,
    )
    status, err, output = _run_decode(tmp_path, bytes(data), capsys)
    _assert_clean_failure(status, err, output, "multiplications")


def test_output_must_be_a_png(tmp_path, capsys):
    status, err, output = _run_decode(tmp_path, _reference_bytes(), capsys, "out.jpg")
    assert status == 2 and "png" in err.lower() and not output.exists()


def test_the_output_cannot_be_the_bitstream(tmp_path, capsys):
    source = tmp_path / "a.png"  # a bitstream, named as the user wished
    source.write_bytes(_reference_bytes())
    status = main(["decode", "-i", str(source), "-o", str(source)])
    err = capsys.readouterr().err
    assert status == 2 and "is the bitstream itself" in err
    assert source.read_bytes() == _reference_bytes()
