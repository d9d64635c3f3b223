"""Shared fixtures: the read-only reference data in ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coolchic_core.image_io import read_image, write_png

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "coolchic-v1"
KODAK = SHARED / "datasets" / "kodak"
BENCH_CROPS = {"kodim03": (200, 300), "kodim14": (100, 100)}  # top-left corners of 48x64 crops


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (tests expect ../shared)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return _require(REFERENCE)


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    return _require(KODAK)


@pytest.fixture(scope="session")
def vectors(reference_dir) -> dict:
    return json.loads((reference_dir / "vectors.json").read_text())


@pytest.fixture(autouse=True)
def _speed_cache(tmp_path_factory, monkeypatch):
    """The bench's measured-speed cache (bench.estimate) in a test folder, not the user's."""
    path = tmp_path_factory.getbasetemp() / "bench-speed.json"
    monkeypatch.setenv("COOLCHIC_SPEED_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def crops(tmp_path_factory) -> Path:
    """Two 64x48 Kodak crops (kodim03, kodim14) in one folder: a dataset for bench tests."""
    folder = tmp_path_factory.mktemp("crops")
    for name, (top, left) in BENCH_CROPS.items():
        image = read_image(_require(KODAK) / f"{name}.png")
        write_png(folder / f"{name}.png", image[top : top + 48, left : left + 64])
    return folder


def local_dask_cluster(distributed, **extra):
    """An in-process Dask cluster of one worker with 2 threads on loopback."""
    return distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        protocol="tcp",
        host="127.0.0.1",
        **extra,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown CPU"


def pytest_terminal_summary(terminalreporter):
    """The machine the results came from: CPU, the kernels' instruction set levels, torch's
    vector code (a failure that only one CPU shows is then readable from CI's log)."""
    import torch

    from coolchic_core.kernels import KERNELS
    from coolchic_core.kernels.build import variant

    levels = ", ".join(f"{kernel.name} {variant(kernel).isa.name}" for kernel in KERNELS)
    capability = torch.backends.cpu.get_cpu_capability()
    terminalreporter.write_line(
        f"machine: {_cpu_model()}; kernels: {levels}; torch {torch.__version__} {capability}"
    )
    if len(terminalreporter.stats.get("passed", [])) >= 200:  # the suite, not a few tests
        for line in _latent_decoder_above_its_cap():
            terminalreporter.write_line(line)


# Published bitstreams that a latent decoder built for x86-64-v4 failed to decode on a
# CI machine (the shipped one is built for at most x86-64-v3).
_ISA_CHECK_NAMES = ("kodim01-lambda0001", "kodim01-lambda02", "kodim19-lambda0001")


def _latent_decoder_above_its_cap() -> list[str]:
    """Where this CPU runs x86-64-v4: whether a latent decoder built for it decodes a few
    published bitstreams as the Python decoder does (bench.isa_check). A report only:
    the decoder in use is the capped one, which the tests check."""
    from bench import isa_check

    paths = [REFERENCE / "bitstreams" / f"{name}.bin" for name in _ISA_CHECK_NAMES]
    if isa_check.levels_this_cpu_runs()[0] != "x86-64-v4" or not all(p.is_file() for p in paths):
        return []
    try:
        lines, _ = isa_check.report_lines(isa_check.load_cases(paths), ["x86-64-v4"])
    except Exception as exc:  # a report must not turn into a failed run
        lines = [f"x86-64-v4: not checked ({type(exc).__name__}: {exc})"]
    return [f"latent decoder built for {line} (bench.isa_check)" for line in lines]
