"""`make build-kernels`: build every C++ kernel for this CPU now and print which variant (JSON)."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    prog = "python -m coolchic_cli.build_kernels"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.parse_args(argv)
    from coolchic_core.kernels import KERNELS
    from coolchic_core.kernels.build import load_kernel, variant

    failed = False
    for kernel in KERNELS:
        report = variant(kernel).describe()
        try:
            load_kernel(kernel)
            report["built"] = True
        except Exception as exc:  # a missing compiler shows up as many exception types
            report["built"], report["error"] = False, str(exc).strip().splitlines()[-1:]
            failed = True
        print(json.dumps(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
