"""Finding a named dataset on disk, or downloading it into the user cache.

Lookup order (the first that holds the selected images wins):

1. the `data_dir` argument (`--data-dir`): it must hold them, or it is an error;
2. the folder in the environment variable `DATA_DIR`;
3. the folder in the environment variable `COOLCHIC_DATA`;
4. the user cache, `$XDG_CACHE_HOME/coolchic/datasets/<name>` (by default
   `~/.cache/coolchic/datasets/<name>`), where missing files are downloaded.

A folder "holds" a dataset if it contains the files directly or in a
sub-folder named after the dataset (so `DATA_DIR=/data` finds `/data/kodak`).
Every file used is checked against the registry's SHA-256.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from coolchic_core.errors import InputError
from datasets.checksum import sha256_file
from datasets.download import fetch_verified
from datasets.model import Dataset, ImageEntry
from datasets.registry import DatasetSpec

LOGGER = logging.getLogger(__name__)

ENV_VARS = ("DATA_DIR", "COOLCHIC_DATA")


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Folder under which datasets are cached: $XDG_CACHE_HOME/coolchic/datasets."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "coolchic" / "datasets"


def locate(
    spec: DatasetSpec,
    ids: list[str],
    data_dir: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    download: bool = True,
    cache_dir: Path | None = None,
    url_template: str | None = None,
) -> Dataset:
    """The dataset `spec` restricted to `ids`, found or downloaded (see the module doc)."""
    env = os.environ if env is None else env
    files = [spec.file_name(image_id) for image_id in ids]
    if data_dir is not None:
        return _from_explicit_dir(spec, files, Path(data_dir))
    for var in ENV_VARS:
        if env.get(var):
            root = _holding_folder(Path(env[var]).expanduser(), spec.name, files)
            if root is not None:
                return _verified(spec, root, files, source=var)
            LOGGER.warning("%s=%s does not hold %s; looking further", var, env[var], spec.name)
    cache = cache_dir if cache_dir is not None else cache_root(env) / spec.name
    _fill_cache(spec, files, cache, download, url_template)
    return _verified(spec, cache, files, source="cache")


def _from_explicit_dir(spec: DatasetSpec, files: list[str], data_dir: Path) -> Dataset:
    if not data_dir.is_dir():
        raise InputError(f"--data-dir {data_dir} is not a folder")
    root = _holding_folder(data_dir, spec.name, files)
    if root is None:
        missing = [name for name in files if not (data_dir / name).is_file()]
        raise InputError(
            f"--data-dir {data_dir} does not hold the {spec.name} images: missing "
            f"{_short_list(missing)} (expected {spec.name}'s files directly in it "
            f"or in {data_dir / spec.name})"
        )
    return _verified(spec, root, files, source="data-dir")


def _holding_folder(folder: Path, name: str, files: list[str]) -> Path | None:
    for candidate in (folder, folder / name):
        if all((candidate / file_name).is_file() for file_name in files):
            return candidate
    return None


def _verified(spec: DatasetSpec, root: Path, files: list[str], source: str) -> Dataset:
    entries = []
    for file_name in files:
        path = root / file_name
        actual = sha256_file(path)
        expected = spec.sha256[file_name]
        if actual != expected:
            raise InputError(
                f"{path} is not the {spec.name} image {file_name}: SHA-256 {actual}, "
                f"expected {expected}"
            )
        entries.append(ImageEntry(id=Path(file_name).stem, path=path, sha256=actual))
    LOGGER.info("dataset %s: %d images in %s (%s)", spec.name, len(entries), root, source)
    return Dataset(name=spec.name, root=root, images=tuple(entries), source=source)


def _fill_cache(
    spec: DatasetSpec, files: list[str], cache: Path, download: bool, url_template: str | None
) -> None:
    missing = [name for name in files if not _cached_ok(spec, cache / name)]
    if not missing:
        return
    hint = _offline_hint(spec, cache)
    if not download:
        raise InputError(
            f"{spec.name} is not available locally (missing {_short_list(missing)}). {hint}"
        )
    for file_name in missing:
        try:
            fetch_verified(
                spec.url(file_name, url_template), spec.sha256[file_name], cache / file_name
            )
        except InputError as exc:
            raise InputError(f"{exc}. {hint}") from None


def _cached_ok(spec: DatasetSpec, path: Path) -> bool:
    if not path.is_file():
        return False
    if sha256_file(path) == spec.sha256[path.name]:
        return True
    LOGGER.warning("cached %s has a wrong SHA-256; downloading it again", path)
    return False


def _offline_hint(spec: DatasetSpec, cache: Path) -> str:
    names = sorted(spec.sha256)
    return (
        f"To use a local copy of {spec.name} ({names[0]} ... {names[-1]}), pass "
        f"--data-dir DIR or set DATA_DIR or COOLCHIC_DATA to its folder, "
        f"or copy the files into {cache}"
    )


def _short_list(names: list[str]) -> str:
    if len(names) <= 4:
        return ", ".join(names)
    return f"{', '.join(names[:3])} and {len(names) - 3} more"
