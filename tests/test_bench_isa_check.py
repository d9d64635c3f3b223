"""bench.isa_check: the latent decoder of each instruction set level against the Python decoder."""

from __future__ import annotations

import shutil

import pytest

from bench import isa_check
from coolchic_core import native_decoding
from tests.conftest import REFERENCE

NAME = "kodim19-lambda02"
needs_native = pytest.mark.skipif(
    native_decoding.decoder() is None, reason="no C++ compiler for the native decoder"
)


@pytest.fixture
def one_bitstream(tmp_path):
    source = REFERENCE / "bitstreams" / f"{NAME}.bin"
    if not source.is_file():
        pytest.skip("published bitstreams not found")
    shutil.copy(source, tmp_path / source.name)
    return tmp_path


@needs_native
def test_the_shipped_level_decodes_as_the_python_decoder(one_bitstream, monkeypatch, capsys):
    shipped = native_decoding.decoder().latents
    monkeypatch.setattr(isa_check, "levels_this_cpu_runs", lambda: ["shipped"])
    monkeypatch.setattr(isa_check, "latent_decoder_for", lambda level: shipped)
    assert isa_check.main(["--bitstreams", str(one_bitstream)]) == 0
    assert capsys.readouterr().out == (
        "shipped: 1 of 1 bitstreams decode to the Python decoder's latents\n"
    )


@needs_native
def test_a_level_that_decodes_otherwise_is_named_with_its_bitstreams(
    one_bitstream, monkeypatch, capsys
):
    shipped = native_decoding.decoder().latents

    class OneLatentOff:
        def decode_latents(self, *args):
            grids = shipped.decode_latents(*args)
            grids[1][0, 0] += 1
            return grids

    monkeypatch.setattr(isa_check, "levels_this_cpu_runs", lambda: ["broken"])
    monkeypatch.setattr(isa_check, "latent_decoder_for", lambda level: OneLatentOff())
    assert isa_check.main(["--bitstreams", str(one_bitstream)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("broken: 0 of 1 bitstreams decode")
    assert f"differ: {NAME}, {NAME} (2 threads)" in out


def test_no_bitstream_is_bad_input(tmp_path, capsys):
    assert isa_check.main(["--bitstreams", str(tmp_path)]) == 2
    assert "no *.bin in" in capsys.readouterr().err


def test_the_levels_end_with_generic_and_follow_the_cpu():
    levels = isa_check.levels_this_cpu_runs()
    assert levels[-1] == "generic" and len(set(levels)) == len(levels)
