"""coolchic_core.devices: parsing, choice of auto, one-line errors for missing GPUs (simulated)."""

from __future__ import annotations

import pytest
import torch

from coolchic_cli import main
from coolchic_core import devices
from coolchic_core.errors import InputError


@pytest.fixture
def gpus(monkeypatch):
    """Pretend torch has CUDA and sees `count` GPUs."""

    def install(count: int, built_with_cuda: bool = True) -> None:
        monkeypatch.setattr(torch.version, "cuda", "13.0" if built_with_cuda else None)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: built_with_cuda and count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return install


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("CPU", "cpu"),
        ("cuda", "cuda:0"),
        ("cuda:3", "cuda:3"),
        (" cuda:1", "cuda:1"),
    ],
)
def test_parse_device_normalises(text, expected):
    assert devices.parse_device(text) == expected


@pytest.mark.parametrize("text", ["", "gpu", "cuda:", "cuda:x", "cpu:0", "auto:1", "cuda:-1"])
def test_parse_device_refuses_unknown_devices(text):
    with pytest.raises(InputError, match="unknown device"):
        devices.parse_device(text)


def test_auto_takes_the_first_gpu_else_the_cpu(gpus):
    gpus(2)
    assert devices.resolve_device("auto") == "cuda:0"
    assert devices.resolve_device("cuda") == "cuda:0"
    assert devices.resolve_device("cuda:1") == "cuda:1"
    gpus(0)
    assert devices.resolve_device("auto") == "cpu"
    assert devices.resolve_device("cpu") == "cpu"


def test_missing_gpu_messages_say_why(gpus):
    gpus(1)
    with pytest.raises(InputError, match=r"^no CUDA device cuda:1: this machine has 1 GPU$"):
        devices.resolve_device("cuda:1")
    gpus(3)
    with pytest.raises(InputError, match=r"^no CUDA device cuda:5: this machine has 3 GPUs$"):
        devices.resolve_device("cuda:5")
    gpus(0, built_with_cuda=False)
    with pytest.raises(InputError, match=r"^no CUDA device: torch was built without CUDA$"):
        devices.resolve_device("cuda:0")
    gpus(0)
    with pytest.raises(InputError, match=r"^no CUDA device: torch has CUDA but sees no GPU"):
        devices.resolve_device("cuda")


def test_device_lists_of_the_bench(gpus):
    gpus(2)
    assert devices.parse_device_list("auto") == ["cuda:0", "cuda:1"]
    assert devices.parse_device_list("all") == ["cuda:0", "cuda:1", "cpu"]
    assert devices.parse_device_list("cuda:1, cuda,cpu") == ["cuda:1", "cuda:0", "cpu"]
    gpus(0)
    assert devices.parse_device_list("auto") == ["cpu"]
    assert devices.parse_device_list("all") == ["cpu"]
    for bad, message in [("", "empty"), ("auto,cpu", "alone"), ("tpu", "unknown device")]:
        with pytest.raises(InputError, match=message):
            devices.parse_device_list(bad)


def test_device_names():
    assert devices.device_name("cpu") == devices.cpu_name() != ""
    assert not devices.is_cuda("cpu") and devices.is_cuda("cuda:0")


def test_encode_on_a_missing_gpu_exits_2_with_one_line_and_no_file(tmp_path, capsys, kodak_dir):
    missing = f"cuda:{devices.cuda_device_count()}"  # one past the last GPU, on any machine
    out = tmp_path / "out.bin"
    argv = ["encode", "-i", str(kodak_dir / "kodim01.png"), "-o", str(out), "--device", missing]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coolchic encode: error: no CUDA device")
    assert "cpu only" not in err[0] and not out.exists()


def test_encode_device_auto_says_where_it_trains(tmp_path, capsys):
    import numpy as np

    from coolchic_core.image_io import write_png

    source = tmp_path / "in.png"
    write_png(source, np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8))
    argv = ["encode", "-i", str(source), "-o", str(tmp_path / "o.bin"), "--preset", "smoke"]
    assert main([*argv, "--n_itr", "2", "--n_trial_warmup", "1"]) == 0
    captured = capsys.readouterr()
    expected = devices.resolve_device("auto")
    assert f"training on {expected} (" in captured.err
    header, values = captured.out.splitlines()
    fields = dict(zip(header.split(","), values.split(","), strict=True))
    assert fields["device"] == expected and fields["device_name"] == devices.device_name(expected)
