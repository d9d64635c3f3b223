"""Named datasets: their files, checksums and public download location."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datasets import kodak


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset known by name: file name -> SHA-256, and where to download each file."""

    name: str
    sha256: Mapping[str, str]
    url_template: str
    description: str

    @property
    def ids(self) -> list[str]:
        return sorted(Path(file_name).stem for file_name in self.sha256)

    def file_name(self, image_id: str) -> str:
        for file_name in self.sha256:
            if Path(file_name).stem == image_id:
                return file_name
        raise KeyError(image_id)

    def url(self, file_name: str, url_template: str | None = None) -> str:
        return (url_template or self.url_template).format(file_name=file_name)


REGISTRY: dict[str, DatasetSpec] = {
    kodak.NAME: DatasetSpec(
        name=kodak.NAME,
        sha256=kodak.SHA256,
        url_template=kodak.URL_TEMPLATE,
        description="Kodak PhotoCD, 24 images of 768x512 or 512x768 pixels",
    ),
}


def known_names() -> list[str]:
    return sorted(REGISTRY)
