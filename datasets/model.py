"""What a dataset is once found: a name, a folder and its images (id, path, SHA-256)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from coolchic_core.errors import InputError


@dataclass(frozen=True)
class ImageEntry:
    """One image of a dataset; `id` is the file name without its suffix (`kodim03`)."""

    id: str
    path: Path
    sha256: str

    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, read from the file's header only."""
        try:
            with Image.open(self.path) as image:
                return image.size
        except OSError as exc:
            raise InputError(f"cannot read image {self.path}: {exc}") from None


@dataclass(frozen=True)
class Dataset:
    """A named, ordered set of images in one folder.

    `source` says where the folder was found: "data-dir", "DATA_DIR",
    "COOLCHIC_DATA", "cache" (possibly just downloaded) or "folder".
    """

    name: str
    root: Path
    images: tuple[ImageEntry, ...]
    source: str

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.images]

    def get(self, image_id: str) -> ImageEntry:
        for entry in self.images:
            if entry.id == image_id:
                return entry
        raise InputError(f"dataset {self.name} has no image {image_id!r}")


def select_ids(available: list[str], wanted: list[str] | None, dataset_name: str) -> list[str]:
    """The wanted image ids in the order given (all of them if `wanted` is None).

    An id may be given with its file suffix (`kodim03.png`); unknown ids and
    repeated ids are refused.
    """
    if not wanted:
        return list(available)
    chosen = [Path(name).stem if Path(name).stem in available else name for name in wanted]
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise InputError(
            f"dataset {dataset_name} has no image {', '.join(unknown)}; "
            f"its images are {_summarize(available)}"
        )
    repeated = sorted({name for name in chosen if chosen.count(name) > 1})
    if repeated:
        raise InputError(f"image selected more than once: {', '.join(repeated)}")
    return chosen


def _summarize(ids: list[str]) -> str:
    if len(ids) <= 6:
        return ", ".join(ids)
    return f"{', '.join(ids[:3])}, ..., {', '.join(ids[-2:])} ({len(ids)} images)"
