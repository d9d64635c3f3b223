"""File and job names: the original's `<image>-lambda<digits>.bin` and the classical ones.

The original COOL-CHIC names a bitstream after its image and lambda, writing
only lambda's decimals after "0.": 0.0001 -> `kodim01-lambda0001.bin`,
0.02 -> `kodim01-lambda02.bin`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from coolchic_core.errors import InputError

BITSTREAM_SUFFIX = ".bin"
_LAMBDA_NAME = re.compile(r"^(?P<image>.+)-lambda(?P<digits>[0-9]+)\.bin$")


def lambda_digits(lmbda: float) -> str:
    """The decimals of `lmbda` after "0." (0.0001 -> "0001"); lambda must be in (0, 1)."""
    if not 0.0 < lmbda < 1.0:
        raise InputError(f"lambda must be between 0 and 1 (exclusive), got {lmbda}")
    text = format(Decimal(repr(float(lmbda))).normalize(), "f")
    return text.split(".", 1)[1]


def lambda_from_digits(digits: str) -> float:
    """Inverse of `lambda_digits`: "0001" -> 0.0001."""
    if not digits.isdigit() or int(digits) == 0:
        raise InputError(f"not lambda digits: {digits!r}")
    return float("0." + digits)


def parse_lambda(text: str) -> float:
    """A lambda from the command line ("0.004", "4e-3"), checked to be in (0, 1)."""
    try:
        value = float(Decimal(text.strip()))
    except (InvalidOperation, ValueError):
        raise InputError(f"not a lambda: {text!r}") from None
    lambda_digits(value)
    return value


def coolchic_job_id(image_id: str, lmbda: float) -> str:
    return f"{image_id}-lambda{lambda_digits(lmbda)}"


def classical_job_id(image_id: str, codec: str, quality: int | float) -> str:
    return f"{image_id}-{codec}-q{format_quality(quality)}"


def format_quality(quality: int | float) -> str:
    """A quality as written in names and tables: integers without a decimal point."""
    if isinstance(quality, float) and quality.is_integer():
        return str(int(quality))
    return str(quality)


def parse_quality(text: str) -> int | float:
    """A quality from the command line: an int if it is one, else a float."""
    try:
        number = float(text)
    except ValueError:
        raise InputError(f"not a quality: {text!r}") from None
    return int(number) if number.is_integer() else number


def parse_bitstream_name(file_name: str) -> tuple[str, float] | None:
    """(image id, lambda) of a name like `kodim01-lambda0001.bin`, None for other names."""
    match = _LAMBDA_NAME.match(file_name)
    if match is None or int(match["digits"]) == 0:
        return None
    return match["image"], lambda_from_digits(match["digits"])
