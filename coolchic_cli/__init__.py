"""The `coolchic` command: one entry point, one sub-command per tool.

Each sub-command lives in the package that owns it and exposes
`main(argv) -> int`; this module only dispatches and turns the project's own
errors into one line on stderr with exit status 2.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

from coolchic_core.errors import CoolChicError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

SUBCOMMANDS = {
    "decode": ("coolchic_cli.codec", "decode_main", "decode a bitstream to a PNG"),
    "info": ("coolchic_cli.codec", "info_main", "print a bitstream's header as JSON"),
    "encode": ("coolchic_cli.codec", "encode_main", "encode an image into a bitstream"),
    "bench": ("bench.cli", "main", "encode or decode a dataset at several lambdas"),
    "report": ("reports.cli", "main", "BD-rates and RD curves of a results folder"),
}


def _usage() -> str:
    lines = ["usage: coolchic <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, _, text) in SUBCOMMANDS.items()]
    lines.append("\n`coolchic <command> --help` for the options of a command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `coolchic` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        print(_usage(), file=sys.stderr)
        return EXIT_USAGE
    if args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"coolchic: unknown command '{name}'\n{_usage()}", file=sys.stderr)
        return EXIT_USAGE
    # Before torch loads (bench workers inherit it): OpenMP threads that sleep instead of
    # spinning keep 2-thread training fast on a shared machine (measured 5x, README "Speed").
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    module_name, function_name, _ = SUBCOMMANDS[name]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    command = getattr(importlib.import_module(module_name), function_name)
    return run_guarded(f"coolchic {name}", command, rest)


def run_guarded(prog: str, command, argv: list[str]) -> int:
    """Run `command(argv)`, mapping expected failures to one stderr line and exit 2."""
    try:
        return int(command(argv) or 0)
    except CoolChicError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and the like
        _silence_stdout()
        return 0
    except MemoryError:
        print(f"{prog}: error: out of memory", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse reports bad options this way
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
