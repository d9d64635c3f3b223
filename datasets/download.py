"""Fetching one file over HTTP(S) (or file://), verified, written atomically.

Nothing here runs at import time; the registry calls `fetch_verified` only
when a dataset is asked for and not found locally.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from pathlib import Path

from coolchic_core.atomic_io import atomic_write_bytes
from coolchic_core.errors import InputError
from datasets.checksum import sha256_bytes

LOGGER = logging.getLogger(__name__)

TIMEOUT_S = 60.0
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024


def fetch_verified(
    url: str, expected_sha256: str, dest: Path, timeout_s: float = TIMEOUT_S
) -> None:
    """Download `url` to `dest` if its SHA-256 is `expected_sha256`; InputError otherwise.

    The file appears at `dest` whole or not at all.
    """
    LOGGER.info("downloading %s", url)
    data = read_url(url, timeout_s)
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise InputError(
            f"{url} has SHA-256 {actual}, expected {expected_sha256}; the file was not saved"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, data)
    LOGGER.info("saved %s (%d bytes, SHA-256 verified)", dest, len(data))


def read_url(url: str, timeout_s: float = TIMEOUT_S) -> bytes:
    """The bytes at `url`, or InputError with the reason (offline, 404, timeout, ...)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot download {url}: {exc}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise InputError(f"cannot download {url}: larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data
