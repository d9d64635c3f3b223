"""The formats registry: names to `Format` objects, and the format of a bitstream's bytes."""

from __future__ import annotations

import importlib

from coolchic_core.errors import BitstreamError, InputError
from coolchic_core.formats.base import Format
from coolchic_core.formats.container import check_magic

# Modules whose import registers a built-in format (`register(FORMAT)` at their end).
_BUILTIN_MODULES = ("coolchic_core.formats.v1", "coolchic_core.formats.v2")
_FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add a format; its name and its magic number must be new. Returns it."""
    if fmt.name in _FORMATS and _FORMATS[fmt.name] is not fmt:
        raise ValueError(f"a format named {fmt.name!r} is already registered")
    if fmt.magic is not None:
        check_magic(fmt.magic)
        for other in _FORMATS.values():
            if other is not fmt and other.magic == fmt.magic:
                raise ValueError(f"format {fmt.name!r} reuses the magic of {other.name!r}")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister(name: str) -> None:
    """Remove a format (for plugins loaded for a while, and tests)."""
    _FORMATS.pop(name, None)


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available() -> list[str]:
    """Names of the registered formats, v1 first."""
    _load_builtins()
    return sorted(_FORMATS, key=lambda name: (name != "v1", name))


def get(name: str) -> Format:
    """The format named `name`; InputError if there is none."""
    _load_builtins()
    try:
        return _FORMATS[name]
    except KeyError:
        raise InputError(f"unknown format {name!r} (known: {', '.join(available())})") from None


def detect(data: bytes) -> Format:
    """The format of a bitstream, from its magic number, or v1 by its header."""
    _load_builtins()
    for fmt in _FORMATS.values():
        if fmt.magic is not None and data.startswith(fmt.magic):
            return fmt
    without_magic = [fmt for fmt in _FORMATS.values() if fmt.magic is None]
    for fmt in without_magic:
        if fmt.recognizes(data):
            return fmt
    if without_magic:  # its reader says what is wrong with the header
        return without_magic[0]
    raise BitstreamError("not a COOL-CHIC bitstream: no known magic number")
