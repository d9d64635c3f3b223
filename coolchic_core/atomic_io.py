"""Atomic file writing: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from coolchic_core.errors import InputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`."""
    target = Path(path)
    check_writable_target(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        _remove_quietly(tmp_name)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(tmp_name)
        raise


def check_writable_target(target: Path) -> None:
    """Refuse an output path that is a folder, a device or a link, or whose folder is missing."""
    try:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InputError(f"output path exists and is not a regular file: {target}")
        if not target.parent.is_dir():
            raise InputError(f"output folder does not exist: {target.parent}")
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 `text` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
