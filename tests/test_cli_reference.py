"""docs/cli.md is what the parsers say (regenerate with `make docs`)."""

from __future__ import annotations

import sys

import pytest

from coolchic_cli.reference import render
from tests.conftest import REPO


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="argparse's help layout differs between Pythons"
)
def test_cli_reference_is_up_to_date():
    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == render(), "docs/cli.md is stale: run `make docs`"


def test_cli_reference_covers_every_command():
    text = render()
    for command in ("encode", "decode", "info", "bench", "report"):
        assert f"## `coolchic {command}`" in text
    assert "--format" in text and "--decode-only" in text
