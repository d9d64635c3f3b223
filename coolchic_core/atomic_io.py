"""Atomic file writing: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from coolchic_core.errors import InputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`."""
    atomic_write_all({Path(path): data})


def atomic_write_all(contents: dict[Path, bytes]) -> None:
    """Write several files: every one to a temporary file first, then rename them all.

    If a file cannot be written, none of the targets is touched (InputError);
    only a failing rename, after every file was written, could leave some
    targets new and others old.
    """
    written: list[tuple[str, Path]] = []
    try:
        for target, data in contents.items():
            written.append((_write_temporary(Path(target), data), Path(target)))
        for tmp_name, target in written:
            try:
                os.replace(tmp_name, target)
            except OSError as exc:
                raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        for tmp_name, _ in written:
            _remove_quietly(tmp_name)


def _write_temporary(target: Path, data: bytes) -> str:
    """`data` in a new temporary file beside `target` (flushed to disk); its name."""
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
    except OSError as exc:
        _remove_quietly(tmp_name)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(tmp_name)
        raise
    return tmp_name


def check_writable_target(target: Path) -> None:
    """Refuse an output path that is a folder, a device or a link, or whose folder is missing."""
    try:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise InputError(f"output path exists and is not a regular file: {target}")
        if not target.parent.is_dir():
            raise InputError(f"output folder does not exist: {target.parent}")
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None


def check_output_path(target: Path) -> None:
    """`check_writable_target`, then create and remove a file in its folder: before long work."""
    check_writable_target(target)
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(fd)
    _remove_quietly(probe)


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
