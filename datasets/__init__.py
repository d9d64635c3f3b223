"""Datasets: a name (or a folder) to images with their ids, paths and checksums.

`open_dataset("kodak")` finds the 24 Kodak images (see `datasets.locate` for the
lookup order and the download into the user cache); `open_dataset("path/to/dir")`
uses any folder of images. Nothing is read or downloaded at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from coolchic_core.errors import InputError
from datasets.folder import open_folder
from datasets.locate import cache_root, locate
from datasets.model import Dataset, ImageEntry, select_ids
from datasets.registry import REGISTRY, DatasetSpec, known_names

__all__ = [
    "Dataset",
    "DatasetSpec",
    "ImageEntry",
    "REGISTRY",
    "cache_root",
    "known_names",
    "open_dataset",
]


def open_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    images: list[str] | None = None,
    download: bool = True,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    url_template: str | None = None,
) -> Dataset:
    """The dataset called `name` (registered) or stored in the folder `name`.

    `images` selects image ids (default: all). For a registered dataset the
    files are found in `data_dir`, $DATA_DIR, $COOLCHIC_DATA or the cache, and
    downloaded into the cache if `download` (see `datasets.locate`).
    `url_template` (with `{file_name}`) replaces the public download location.
    """
    if name in REGISTRY:
        spec = REGISTRY[name]
        ids = select_ids(spec.ids, images, name)
        return locate(spec, ids, data_dir, env, download, cache_dir, url_template)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return open_folder(folder, images)
    raise InputError(
        f"unknown dataset {name!r}: use {', '.join(known_names())} or the path of a folder "
        f"of images"
    )
