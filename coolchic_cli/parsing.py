"""Argument parsing whose errors are one line, like every other error of `coolchic`.

argparse prints its usage (several lines) before an error; here a bad option
gives only `<prog>: error: <message> (see <prog> --help)` on stderr and exit
status 2. `--help` is unchanged.
"""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose `error` writes one line and exits with status 2."""

    def error(self, message: str):
        first_line = message.strip().splitlines()[0] if message.strip() else "bad arguments"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {first_line} (see {self.prog} --help)\n")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)
