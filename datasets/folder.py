"""Any folder of images is a dataset: its images are the files with an image suffix."""

from __future__ import annotations

from pathlib import Path

from coolchic_core.errors import InputError
from datasets.checksum import sha256_file
from datasets.model import Dataset, ImageEntry, select_ids

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".bmp", ".tif", ".tiff", ".webp"}
)


def image_files(folder: Path) -> dict[str, Path]:
    """Image id (file stem) -> path, for the image files directly in `folder`."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if not path.is_file():
            continue
        if path.stem in found:
            raise InputError(
                f"two images of {folder} have the id {path.stem!r}: {found[path.stem].name} "
                f"and {path.name}; rename one"
            )
        found[path.stem] = path
    return found


def open_folder(folder: Path, images: list[str] | None = None) -> Dataset:
    """The images of `folder` (sorted by name), or those selected by id."""
    if not folder.is_dir():
        raise InputError(f"dataset folder {folder} does not exist")
    found = image_files(folder)
    if not found:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise InputError(f"no image files ({suffixes}) in {folder}")
    ids = select_ids(sorted(found), images, str(folder))
    entries = tuple(ImageEntry(id=i, path=found[i], sha256=sha256_file(found[i])) for i in ids)
    name = folder.resolve().name or str(folder)
    return Dataset(name=name, root=folder, images=entries, source="folder")
