"""`make bench-decode`: per-file lines, the stage breakdown, the medians."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import decode_speed

BITSTREAMS = Path(__file__).resolve().parents[2] / "shared/reference/coolchic-v1/bitstreams"


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_bench_decode_prints_the_breakdown_of_every_stage(tmp_path, capsys):
    source = BITSTREAMS / "kodim23-lambda02.bin"
    if not source.is_file():
        pytest.skip("published bitstreams not found")
    folder = tmp_path / "bitstreams"
    folder.mkdir()
    shutil.copy(source, folder)
    assert decode_speed.main(["--bitstreams", str(folder), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kodim23-lambda02.bin: ")
    breakdown = next(line for line in lines if line.startswith("stage_ms_median "))
    stages = dict(item.split("=") for item in breakdown.split()[1:])
    assert list(stages) == list(decode_speed.STAGES)
    assert all(float(ms) >= 0.0 for ms in stages.values())
    assert any(line.startswith("decode_cpu_s_median=") for line in lines)
    assert lines[-1].startswith("decode_s_median=")


def test_bench_decode_refuses_an_empty_folder(tmp_path, capsys):
    assert decode_speed.main(["--bitstreams", str(tmp_path)]) == 2
    assert "no bitstream matches" in capsys.readouterr().err


def test_bench_decode_times_v2_bitstreams_it_encodes(tmp_path, capsys):
    from coolchic_core.image_io import write_png

    rows, cols = np.mgrid[0:32, 0:48]
    image = np.stack([rows * 7, cols * 5, (rows + cols) * 3], axis=-1).astype(np.uint8)
    write_png(tmp_path / "tiny.png", image)
    assert decode_speed.main(["--encode-v2", str(tmp_path / "tiny.png"), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tiny-v2.bin: ") and lines[0].endswith("(48x32)")
    breakdown = next(line for line in lines if line.startswith("stage_ms_median "))
    assert [item.split("=")[0] for item in breakdown.split()[1:]] == list(decode_speed.STAGES)
    assert lines[-1].startswith("decode_s_median=")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--limit", "-1"], "--limit must be at least 1"),
        (["--threads", "-1"], "--threads must be between 1"),
        (["--lmbda", "0.01"], "--lmbda is the lambda of --encode-v2"),
        (["--pattern", "/abs/*.bin"], "--pattern is a glob inside --bitstreams"),
    ],
)
def test_bench_decode_refuses_options_that_time_nothing(tmp_path, capsys, options, message):
    assert decode_speed.main(["--bitstreams", str(tmp_path), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_corrupt_bitstream_is_one_line(tmp_path, capsys):
    (tmp_path / "kodim01-lambda02.bin").write_bytes(b"\x00\x30" + bytes(40))
    assert decode_speed.main(["--bitstreams", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m bench.decode_speed: error: ") and len(err.splitlines()) == 1
