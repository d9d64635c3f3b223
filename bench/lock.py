"""One bench per output folder: an exclusive lock on `<out>/.bench.lock`.

The lock is an `flock` on the file, held by the bench process for the whole
run; the kernel drops it when that process ends, however it ends (kill -9
included), so a lock whose holder died is simply free again. The file keeps
the holder's pid, host and start time, for the message the next bench gives.
On a network file system, `flock` works across machines only where the file
system supports it (NFSv4 does; see docs/bench.md).

While it holds the lock, a bench also removes the temporary files that an
interrupted run left (`.<name>.<random>.tmp`, see coolchic_core.atomic_io):
no other process can be writing them.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

from coolchic_core.errors import InputError

LOGGER = logging.getLogger(__name__)

LOCK_NAME = ".bench.lock"
TEMP_PATTERN = ".*.tmp"
# Folders of `<out>` the bench writes atomically (bench.rows, bench.execute, bench.collect).
WRITTEN_FOLDERS = (".", "rows", "bitstreams", "decoded")
WAIT_POLL_S = 0.5


class FolderLock:
    """The exclusive lock of one output folder (see the module's docstring)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @classmethod
    def taken(cls, folder: Path, wait: bool = False) -> FolderLock:
        """The lock of `folder`, acquired (`with FolderLock.taken(out): ...` releases it)."""
        lock = cls(folder)
        lock.acquire(wait=wait)
        return lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = False, on_wait=None) -> None:
        """Take the lock; if another live process holds it, wait for it or raise InputError.

        `on_wait(holder_text)` is called once before waiting.
        """
        fd = self._open()
        try:
            while not _try_flock(fd):
                holder = self.holder_text()
                if not wait:
                    raise InputError(
                        f"--out {self.folder} is in use by another bench ({holder}); "
                        "wait for it to end, give another --out, or add --wait"
                    )
                if on_wait is not None:
                    on_wait(holder)
                    on_wait = None
                time.sleep(WAIT_POLL_S)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_holder()

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def holder_text(self) -> str:
        """Who holds the lock, as its file says ("pid 12 on host since ..."), or "unknown"."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} since {info['started_utc']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise InputError(f"cannot write in --out {self.folder}: {exc.strerror}") from None

    def _write_holder(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
        }
        data = (json.dumps(info) + "\n").encode("utf-8")
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
        except OSError as exc:
            self.release()
            raise InputError(f"cannot write in --out {self.folder}: {exc.strerror}") from None

    def __enter__(self) -> FolderLock:
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise InputError(f"cannot lock the output folder: {exc.strerror}") from None
    return True


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files an interrupted run left in `folder` (call with the lock)."""
    removed = []
    for name in WRITTEN_FOLDERS:
        sub = Path(folder) / name
        if not sub.is_dir():
            continue
        for path in sorted(sub.glob(TEMP_PATTERN)):
            if path.is_file() and not path.is_symlink():
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
    if removed:
        LOGGER.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    return removed
