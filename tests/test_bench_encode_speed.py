"""bench.encode_speed times the training step of the model of either format."""

from __future__ import annotations

import numpy as np
import pytest

from bench.encode_speed import main
from coolchic_core.image_io import write_png
from coolchic_core.model import fused


@pytest.fixture
def image_path(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "small.png"
    write_png(path, rng.integers(0, 256, (24, 40, 3), dtype=np.uint8))
    return str(path)


def _printed(capsys) -> dict[str, str]:
    """The key=value tokens of the bench's output."""
    tokens = capsys.readouterr().out.split()
    return dict(token.split("=", 1) for token in tokens if "=" in token)


@pytest.mark.parametrize(("fmt", "impl"), [("v1", "torch"), ("v2", "torch"), ("v2", "auto")])
def test_times_the_format_model(image_path, capsys, fmt, impl):
    argv = ["--image", image_path, "--threads", "1", "--n-itr", "2", "--runs", "1"]
    assert main([*argv, "--warmup", "1", "--format", fmt, "--impl", impl]) == 0
    printed = _printed(capsys)
    assert printed["format"] == fmt and printed["size"] == "40x24"
    expected = "cpp" if impl == "auto" and fused.load() is not None else "torch"
    assert printed["impl"] == expected
    assert float(printed["encode_ms_per_iteration"]) > 0.0
    assert len(printed["runs_cpu_ms_per_iteration"].split(",")) == 1
    assert float(printed["cpu_ms_per_iteration"]) > 0.0


def test_unknown_format_is_refused(image_path, capsys):
    assert main(["--image", image_path, "--format", "v9"]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_a_changed_model_is_timed_and_a_bad_change_refused(image_path, capsys):
    argv = ["--image", image_path, "--threads", "1", "--n-itr", "1", "--runs", "1", "--warmup", "0"]
    assert main([*argv, "--format", "v2", "--model", "latent_n_grids=3"]) == 0
    assert _printed(capsys)["model_changes"] == "latent_n_grids=3"
    assert main([*argv, "--format", "v2", "--model", "no_such_field=3"]) == 2
    assert "no_such_field" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--runs", "0", "--runs must be at least 1"),
        ("--n-itr", "0", "--n-itr must be at least 1"),
        ("--threads", "0", "--threads must be between 1"),
        ("--lmbda", "-5", "--lmbda must be between 0 and 1"),
        ("--image", "/nonexistent.png", "no such image"),
    ],
)
def test_counts_and_inputs_are_checked_before_timing(image_path, capsys, option, value, message):
    assert main(["--image", image_path, option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_profile_lists_the_step_s_operations(image_path, capsys):
    argv = ["--image", image_path, "--threads", "1", "--n-itr", "2", "--runs", "1"]
    assert main([*argv, "--warmup", "1", "--impl", "torch", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "aten::" in out  # the PyTorch step's operations, one row each
