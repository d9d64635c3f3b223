"""Jobs: one (dataset, image, codec, lambda or quality, preset, seed, format) each.

A job is plain data, sent to a worker process or a cluster node. Its
*configuration* (what determines its result) is hashed; a later run skips a
job whose stored result has the same hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import naming
from datasets import Dataset, ImageEntry

COOLCHIC = "coolchic"
KIND_ENCODE = "encode"
KIND_CLASSICAL = "classical"
KIND_DECODE = "decode"
BITSTREAMS_DIR = "bitstreams"
DEFAULT_FORMAT = "v1"


@dataclass(frozen=True)
class Job:
    """One unit of work; paths are strings so that the job pickles anywhere.

    `point_key` is "lmbda" for COOL-CHIC and "quality" for classical codecs.
    For decode jobs `bitstream` is the input; otherwise where the job writes it.
    `codec_settings` (JSON) are a classical codec's fixed encoder settings, or
    a COOL-CHIC preset's whole recipe. `bitstream_format` is the format a
    COOL-CHIC encode writes (coolchic_core.formats).
    `provenance` (project version, git commit) is recorded in the result row.
    """

    kind: str
    job_id: str
    dataset: str
    image_id: str
    image_path: str
    image_sha256: str
    codec: str
    point_key: str
    point: float | int
    preset: str | None
    seed: int | None
    out_dir: str
    bitstream: str
    save_decoded: bool = False
    bitstream_sha256: str | None = None
    codec_settings: str | None = None
    bitstream_format: str = DEFAULT_FORMAT
    provenance: dict = field(default_factory=dict, compare=False)

    def configuration(self) -> dict:
        """What determines the job's result (not where or how fast it runs)."""
        config = {
            "kind": self.kind,
            "dataset": self.dataset,
            "image": self.image_id,
            "image_sha256": self.image_sha256,
            "codec": self.codec,
            self.point_key: self.point,
            "preset": self.preset,
            "seed": self.seed,
            "bitstream_sha256": self.bitstream_sha256,
        }
        if self.codec_settings is not None:
            config["codec_settings"] = self.codec_settings
        # v1 jobs hash as they did before the format was a choice: their tables resume.
        if self.kind == KIND_ENCODE and self.bitstream_format != DEFAULT_FORMAT:
            config["format"] = self.bitstream_format
        return config

    @property
    def config_hash(self) -> str:
        text = json.dumps(self.configuration(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def encode_jobs(
    dataset: Dataset,
    lambdas: list[float],
    preset: str,
    seed: int,
    out_dir: Path,
    save_decoded: bool = False,
    provenance: dict | None = None,
    bitstream_format: str = DEFAULT_FORMAT,
) -> list[Job]:
    """COOL-CHIC encode jobs writing `bitstream_format`, image-major then lambda order."""
    jobs = []
    for entry in dataset.images:
        for lmbda in lambdas:
            job_id = naming.coolchic_job_id(entry.id, lmbda)
            jobs.append(
                _job(
                    KIND_ENCODE,
                    job_id,
                    dataset,
                    entry,
                    COOLCHIC,
                    "lmbda",
                    lmbda,
                    preset,
                    seed,
                    out_dir,
                    save_decoded,
                    provenance,
                )
            )
    return [replace(job, bitstream_format=bitstream_format) for job in jobs]


def classical_jobs(
    dataset: Dataset,
    codec: str,
    qualities: list[int | float],
    seed: int,
    out_dir: Path,
    save_decoded: bool = False,
    provenance: dict | None = None,
    codec_settings: str | None = None,
) -> list[Job]:
    """Classical-codec jobs (bench.classical), image-major then quality order."""
    jobs = []
    for entry in dataset.images:
        for quality in qualities:
            job_id = naming.classical_job_id(entry.id, codec, quality)
            jobs.append(
                _job(
                    KIND_CLASSICAL,
                    job_id,
                    dataset,
                    entry,
                    codec,
                    "quality",
                    quality,
                    None,
                    seed,
                    out_dir,
                    save_decoded,
                    provenance,
                )
            )
    return [replace(job, codec_settings=codec_settings) for job in jobs]


def decode_jobs(
    dataset: Dataset,
    bitstreams: dict[tuple[str, float], tuple[Path, str]],
    out_dir: Path,
    save_decoded: bool = False,
    provenance: dict | None = None,
) -> list[Job]:
    """Decode jobs for existing bitstreams: (image, lambda) -> (path, SHA-256)."""
    jobs = []
    for (image_id, lmbda), (path, digest) in sorted(bitstreams.items()):
        entry = dataset.get(image_id)
        job = _job(
            KIND_DECODE,
            naming.coolchic_job_id(image_id, lmbda),
            dataset,
            entry,
            COOLCHIC,
            "lmbda",
            lmbda,
            None,
            None,
            out_dir,
            save_decoded,
            provenance,
        )
        jobs.append(replace(job, bitstream=str(path), bitstream_sha256=digest))
    return jobs


def _job(
    kind,
    job_id,
    dataset,
    entry: ImageEntry,
    codec,
    point_key,
    point,
    preset,
    seed,
    out_dir,
    save_decoded,
    provenance,
) -> Job:
    bitstream = Path(out_dir) / BITSTREAMS_DIR / f"{job_id}{naming.BITSTREAM_SUFFIX}"
    return Job(
        kind=kind,
        job_id=job_id,
        dataset=dataset.name,
        image_id=entry.id,
        image_path=str(Path(entry.path).resolve()),
        image_sha256=entry.sha256,
        codec=codec,
        point_key=point_key,
        point=point,
        preset=preset,
        seed=seed,
        out_dir=str(out_dir),
        bitstream=str(bitstream),
        save_decoded=save_decoded,
        provenance=dict(provenance or {}),
    )
