"""Where a results table's rows come from, summarised for report.md.

`coolchic bench` records in every row the project version and commit, whether
the tree was modified, the library versions, the hardware, the thread count,
the hash of the preset's whole recipe and the seed (bench.provenance). A
table whose rows differ in what can change a result (version, commit,
modified tree, libraries, recipe, preset, seed) gets a warning: its mean
curve averages results of different codecs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Columns whose values may change the numbers, then those that only describe the run.
RESULT_CHANGING = (
    "coolchic_version",
    "git_commit",
    "git_dirty",
    "recipe_sha256",
    "preset",
    "seed",
    "torch_version",
    "constriction_version",
    "numpy_version",
)
DESCRIPTIVE = ("cpu_model", "gpu_name", "device", "threads", "hostname")
MAX_VALUES_LISTED = 4


@dataclass(frozen=True)
class Provenance:
    """Per provenance column present: its distinct values with their row counts."""

    values: dict[str, list[tuple[str, int]]]
    n_rows: int

    @property
    def mixed(self) -> list[str]:
        """The result-changing columns that hold more than one value."""
        return [c for c in RESULT_CHANGING if len(self.values.get(c, [])) > 1]


def table_provenance(table: pd.DataFrame) -> Provenance:
    """The distinct values (as text, empty cells as "unknown") of each provenance column."""
    values = {}
    for column in (*RESULT_CHANGING, *DESCRIPTIVE):
        if column not in table:
            continue
        cells = table[column].map(_text)
        counts = cells.value_counts(sort=True)
        values[column] = [(str(value), int(count)) for value, count in counts.items()]
    return Provenance(values=values, n_rows=len(table))


def provenance_markdown(provenance: Provenance) -> str:
    """The report's "Provenance" section: a warning if mixed, then one line per column."""
    if not provenance.values:
        return "The results table has no provenance columns (not written by `coolchic bench`).\n"
    lines = []
    if provenance.mixed:
        lines.append(
            f"**Warning: the {provenance.n_rows} rows come from different "
            f"{', '.join(provenance.mixed)}**; their averages mix results of different "
            "codecs or recipes. Rerun the odd rows (`coolchic bench --force`) or report "
            "them apart.\n"
        )
    lines.append("| column | values (rows) |")
    lines.append("|---|---|")
    for column, counted in provenance.values.items():
        shown = [f"`{value}` ({count})" for value, count in counted[:MAX_VALUES_LISTED]]
        if len(counted) > MAX_VALUES_LISTED:
            shown.append(f"and {len(counted) - MAX_VALUES_LISTED} more")
        lines.append(f"| {column} | {', '.join(shown)} |")
    return "\n".join(lines) + "\n"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "unknown"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
