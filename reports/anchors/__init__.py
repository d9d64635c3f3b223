"""Published rate-distortion anchors on Kodak, as data files with their source.

One JSON file per anchor in this folder (`<id>.json`): `id`, `name`,
`family`, `dataset`, `source`, `licence`, `reference`, `note`, `points`
(mean `rate_bpp` and `psnr_db` over the 24 Kodak images per operating point)
and, for the Cool-chic releases, `per_image` rows (seq_name, lmbda,
rate_bpp, psnr_db). Published points are means of per-image PSNRs (the
per-image convention); an anchor with per-image rows also has the PSNR of the
mean MSE at each point (reports.curves). Measured results (a `coolchic bench`
folder) can serve as anchors too: `anchor_from_results`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

from reports.curves import (
    MEAN_MSE,
    PSNR_COLUMNS,
    RDCurve,
    average_results,
    check_results_table,
    curve_from_table,
    load_results,
)
from reports.errors import ReportError

DEFAULT_ANCHORS = ("hm", "bmshj2018-hyperprior", "vtm", "coolchic-v1")
# How many images a published mean averages, per dataset (an anchor file may say `n_images`).
DATASET_IMAGES = {"kodak": 24}


@dataclass(frozen=True)
class Anchor:
    """A reference curve with where it comes from."""

    id: str
    name: str
    source: str
    reference: str
    licence: str
    curve: RDCurve
    family: str = ""
    note: str = ""
    n_images: int | None = None

    @property
    def image_count(self) -> int | None:
        """How many images the anchor's mean points average (None if unknown)."""
        return len(self.curve.images) or self.n_images


def available_anchors() -> list[str]:
    """Ids of the anchors shipped with the package, sorted."""
    folder = resources.files(__name__)
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def load_anchor(anchor_id: str) -> Anchor:
    """The shipped anchor `anchor_id` (e.g. "hm", "bmshj2018-hyperprior", "coolchic-v1")."""
    known = available_anchors()
    if anchor_id not in known:
        raise ReportError(f"unknown anchor '{anchor_id}'; known: {', '.join(known)}")
    text = resources.files(__name__).joinpath(f"{anchor_id}.json").read_text(encoding="utf-8")
    try:
        return anchor_from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"anchor file {anchor_id}.json is malformed: {exc}") from exc


def anchor_from_dict(data: dict) -> Anchor:
    """Build an `Anchor` from the content of an anchor JSON file."""
    points = pd.DataFrame(data["points"])
    if not {"rate_bpp", "psnr_db"} <= set(points.columns):
        raise KeyError("points need rate_bpp and psnr_db")
    points = points.sort_values("rate_bpp").reset_index(drop=True)
    key = next((k for k in ("lmbda", "quality") if k in points), None)
    per_image = None
    if data.get("per_image"):
        per_image = check_results_table(pd.DataFrame(data["per_image"]))
        per_image = per_image[["seq_name", key, "rate_bpp", "psnr_db"]]
        points = _with_mean_mse(points, per_image, key)
    curve = RDCurve(label=data["name"], points=points, key=key, per_image=per_image)
    return Anchor(
        id=data["id"],
        name=data["name"],
        source=data["source"],
        reference=data["reference"],
        licence=data["licence"],
        curve=curve,
        family=data.get("family", ""),
        note=data.get("note", ""),
        n_images=data.get("n_images", DATASET_IMAGES.get(data.get("dataset", ""))),
    )


def _with_mean_mse(points: pd.DataFrame, per_image: pd.DataFrame, key: str | None) -> pd.DataFrame:
    """The published points plus the PSNR of the mean MSE computed from the per-image rows."""
    column = PSNR_COLUMNS[MEAN_MSE]
    if key is None:
        return points
    by_point = average_results(per_image).set_index(key)[column]
    values = points[key].map(by_point)
    if values.isna().any():
        return points
    return points.assign(**{column: values.to_numpy()})


def parse_anchor_ids(text: str) -> list[str]:
    """Comma-separated ids ("all" = every shipped anchor), checked, without duplicates."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if ids == ["all"]:
        return available_anchors()
    known = set(available_anchors())
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ReportError(
            f"unknown anchor(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return list(dict.fromkeys(ids))


def anchor_from_results(spec: str | Path) -> Anchor:
    """An anchor from a results folder or TSV, given as `PATH` or `NAME=PATH`."""
    name, path = _split_named_path(str(spec))
    curve = load_results(path, label=name)
    return Anchor(
        id=curve.label,
        name=curve.label,
        source=f"measured: {Path(path)}",
        reference="results of `coolchic bench` (or any TSV with the raw_results.tsv columns)",
        licence="",
        curve=curve,
        family="measured",
    )


def anchor_from_table(table: pd.DataFrame, name: str, source: str) -> Anchor:
    """An anchor from an in-memory results table (same columns as raw_results.tsv)."""
    curve = curve_from_table(table, name)
    return Anchor(id=name, name=name, source=source, reference="", licence="", curve=curve)


def _split_named_path(spec: str) -> tuple[str | None, str]:
    if "=" in spec and not Path(spec).exists():
        name, path = spec.split("=", 1)
        if name.strip():
            return name.strip(), path
    return None, spec
