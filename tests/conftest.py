"""Shared fixtures: the read-only reference data in ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "coolchic-v1"
KODAK = SHARED / "datasets" / "kodak"


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
