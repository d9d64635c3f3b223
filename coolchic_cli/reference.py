"""The CLI reference (docs/cli.md), generated from the argparse parsers.

`python -m coolchic_cli.reference > docs/cli.md` (`make docs`) writes it; a
test checks that the committed file is what the parsers say.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parsers() -> list[argparse.ArgumentParser]:
    from bench.cli import build_parser as bench_parser
    from coolchic_cli.codec import decode_parser, info_parser
    from coolchic_cli.encode_command import build_parser as encode_parser
    from reports.cli import build_parser as report_parser

    return [encode_parser(), decode_parser(), info_parser(), bench_parser(), report_parser()]


def render() -> str:
    """The whole reference as Markdown: one section per command, its `--help` text."""
    lines = [
        "# Command-line reference",
        "",
        "Generated from the parsers by `make docs` (`python -m coolchic_cli.reference`);",
        "a test fails when this file and the parsers disagree. Every command exits 0 on",
        "success, 2 with one line on stderr for bad input, 130 when interrupted.",
        "",
    ]
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to this width: the same text everywhere
    try:
        for parser in _parsers():
            help_text = parser.format_help().rstrip()
            lines += [f"## `{parser.prog}`", "", "```text", help_text, "```", ""]
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
