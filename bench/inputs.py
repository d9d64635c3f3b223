"""Bad input found before any job starts: unusable images, images too large for the
memory, repeated operating points.

Every image of the plan is read once as the encoder will read it
(coolchic_core.image_io.read_image: size limits, truncated or unreadable
files, transparency), so that a bad file stops the bench with one line
instead of failing jobs one by one. Grayscale and 16-bit images are
accepted: the codec converts them to 8-bit RGB (coolchic_core.image_io).

Encoding needs about ENCODE_BYTES_PER_PIXEL bytes of memory per pixel: the
paper's architecture peaks at 376 MB on a 768x512 image (`make bench-encode`,
docs/encoder.md), under 1000 bytes per pixel. A local run whose largest image
times the number of jobs running at once would not fit in the memory
available now is refused before it starts.
"""

from __future__ import annotations

from pathlib import Path

from coolchic_core.errors import InputError
from coolchic_core.image_io import read_image
from datasets import Dataset

MAX_LISTED = 3
ENCODE_BYTES_PER_PIXEL = 1000
GB = 1e9


def check_images(dataset: Dataset) -> None:
    """Raise InputError naming the images of `dataset` that cannot be encoded."""
    problems = []
    for entry in dataset.images:
        try:
            read_image(entry.path)
        except InputError as exc:
            reason = str(exc).replace(f"cannot read image {entry.path}: ", "")
            problems.append(f"{Path(entry.path).name}: {reason}")
    if not problems:
        return
    listed = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise InputError(
        f"{len(problems)} of {len(dataset.images)} image(s) of {dataset.name} cannot be used "
        f"(fix or remove them, or pick others with --images): {listed}{more}"
    )


def check_points(points: list | None, option: str) -> None:
    """Refuse an operating point given twice (two jobs would write the same row)."""
    if points is None:
        return
    repeated = sorted({p for p in points if points.count(p) > 1})
    if repeated:
        raise InputError(f"{option}: {', '.join(map(str, repeated))} given more than once")


def check_memory(
    dataset: Dataset, concurrent_jobs: int, available_bytes: int | None = None
) -> None:
    """Refuse a run whose largest image, `concurrent_jobs` at once, would not fit in memory.

    `available_bytes` defaults to the kernel's MemAvailable; no check where it is unknown.
    """
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if available is None or not dataset.images:
        return
    sizes = {entry.id: entry.size() for entry in dataset.images}
    largest = max(sizes, key=lambda image_id: sizes[image_id][0] * sizes[image_id][1])
    width, height = sizes[largest]
    needed = width * height * ENCODE_BYTES_PER_PIXEL * concurrent_jobs
    if needed > available:
        raise InputError(
            f"{largest} ({width}x{height}) needs about {needed / GB:.1f} GB to encode with "
            f"{concurrent_jobs} job(s) at once, and {available / GB:.1f} GB of memory is "
            "available: use fewer --workers, smaller images, or a larger machine"
        )


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None elsewhere."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
