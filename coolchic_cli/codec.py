"""`coolchic decode`, `coolchic info` and `coolchic encode`: thin wrappers over coolchic_core."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from coolchic_cli.parsing import OneLineArgumentParser
from coolchic_core.errors import InputError


def decode_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="coolchic decode",
        description="Decode a COOL-CHIC bitstream (any registered format) to a PNG.",
    )
    parser.add_argument("-i", "--input", required=True, help="bitstream to decode")
    parser.add_argument("-o", "--output", required=True, help="8-bit PNG to write")
    return parser


def check_png_output(path: Path, option: str = "-o") -> None:
    """InputError unless `path` can be written and is named *.png (the decoded image's format)."""
    from coolchic_core.atomic_io import check_output_path

    check_output_path(path)
    if path.suffix.lower() != ".png":
        raise InputError(f"{option}: the decoded image is a PNG: name it *.png, not {path.name}")


def decode_main(argv: list[str] | None = None) -> int:
    """Decode a bitstream into an 8-bit PNG (rounded to nearest)."""
    args = decode_parser().parse_args(argv)
    from coolchic_core import decode
    from coolchic_core.image_io import write_png

    output = Path(args.output)
    check_png_output(output)
    if os.path.realpath(args.input) == os.path.realpath(output):
        raise InputError(f"-o {output} is the bitstream itself (-i)")
    write_png(output, decode(args.input))
    return 0


def info_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="coolchic info",
        description="Print a bitstream's format, version, header, sizes and MAC/pixel as JSON.",
    )
    parser.add_argument("bitstream", help="bitstream file of any registered format")
    return parser


def info_main(argv: list[str] | None = None) -> int:
    """Print a bitstream's header and derived facts as JSON."""
    args = info_parser().parse_args(argv)
    from coolchic_core.decoder import bitstream_info

    print(json.dumps(bitstream_info(args.bitstream), indent=2))
    return 0


def encode_main(argv: list[str] | None = None) -> int:
    """Encode an image (see coolchic_cli.encode_command)."""
    from coolchic_cli.encode_command import main

    return main(argv)
