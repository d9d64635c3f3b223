"""The first bytes of every format after v1: a 4-byte magic number, then a version byte.

A v1 bitstream starts with its header length, 36 + 3 N for N <= 12 latent
grids, as a 2-byte big-endian integer: its first byte is 0. Every magic
number starts with a byte of at least 0x20, so no v1 bitstream is ever
mistaken for another format.
"""

from __future__ import annotations

from coolchic_core.errors import BitstreamError

MAGIC_N_BYTES = 4
PREFIX_N_BYTES = MAGIC_N_BYTES + 1  # magic, then the version
_MIN_FIRST_MAGIC_BYTE = 0x20


def check_magic(magic: bytes) -> None:
    """Refuse a magic number that could be confused with a v1 header."""
    if len(magic) != MAGIC_N_BYTES or magic[0] < _MIN_FIRST_MAGIC_BYTE:
        raise ValueError(
            f"a magic number is {MAGIC_N_BYTES} bytes whose first is >= 0x20, got {magic!r}"
        )


def write_prefix(magic: bytes, version: int) -> bytes:
    """Magic number then version byte."""
    check_magic(magic)
    if not 0 <= version <= 255:
        raise ValueError(f"a format version is one byte, got {version}")
    return magic + bytes([version])


def read_version(data: bytes, magic: bytes, format_name: str) -> int:
    """The version byte after `magic`; BitstreamError if `data` does not start with both."""
    if len(data) < PREFIX_N_BYTES or data[:MAGIC_N_BYTES] != magic:
        raise BitstreamError(f"not a {format_name} bitstream: wrong or missing magic number")
    return data[MAGIC_N_BYTES]
