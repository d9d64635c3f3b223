"""The kill rate of the last `mutmut run` (`make mutation`), from mutmut's files in mutants/.

killed / (all mutants - skipped): a mutant that no selected test runs ("no
tests") or that every test lets through ("survived") counts against the score;
timeouts and crashes count as killed, as mutmut counts them. Prints the score
and the surviving mutants per function; exit 1 below --min-percent.

  python tools/mutation_score.py --min-percent 85
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


def exit_codes(mutants_dir: Path) -> dict[str, int | None]:
    """Mutant name -> the exit code of its test run (None: not run yet)."""
    codes: dict[str, int | None] = {}
    for meta in sorted(mutants_dir.rglob("*.meta")):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return codes


def summarise(codes: dict[str, int | None]) -> dict[str, int]:
    counts = Counter()
    for code in codes.values():
        if code in KILLED:
            counts["killed"] += 1
        elif code in SURVIVED:
            counts["survived"] += 1
        elif code in NO_TESTS:
            counts["no tests"] += 1
        elif code in SKIPPED:
            counts["skipped"] += 1
        else:
            counts["not checked or suspicious"] += 1
    return dict(counts)


def _function_of(mutant: str) -> str:
    return mutant.rsplit("__mutmut_", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--min-percent", type=float, default=85.0)
    args = parser.parse_args(argv)
    codes = exit_codes(args.mutants)
    if not codes:
        print(f"mutation score: no mutmut results under {args.mutants}", file=sys.stderr)
        return 2
    counts = summarise(codes)
    total = len(codes) - counts.get("skipped", 0)
    score = 100.0 * counts.get("killed", 0) / total
    details = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    print(f"mutation score: {score:.1f} % killed ({details}; {len(codes)} mutants)")
    escaped = Counter(_function_of(m) for m, c in codes.items() if c in SURVIVED | NO_TESTS)
    for function, count in escaped.most_common():
        print(f"  {count:3d} not killed in {function}")
    return 0 if score >= args.min_percent else 1


if __name__ == "__main__":
    sys.exit(main())
