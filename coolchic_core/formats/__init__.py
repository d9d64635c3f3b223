"""Bitstream formats as plugins.

`available()` lists them, `get(name)` returns one, `detect(data)` finds the
format of a bitstream from its bytes, `register(fmt)` adds one. A format is a
`Format` (see `base.py`); `v1`, the original COOL-CHIC format, is the first
entry. docs/development.md, "Adding a format", says how to add one.
"""

from coolchic_core.formats.base import DecodedImage, Format, HeaderField
from coolchic_core.formats.registry import available, detect, get, register, unregister

__all__ = [
    "DecodedImage",
    "Format",
    "HeaderField",
    "available",
    "detect",
    "get",
    "register",
    "unregister",
]
