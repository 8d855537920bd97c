"""``visioncircuits <command>``: a thin argparse layer over the library.

Each ``cmd_*.py`` module in this package adds its subcommands with ``register(subparsers)``
and sets ``func(args) -> int``. Errors of the tool become one line on stderr and exit
code 2; nothing else of the library prints.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import Optional, Sequence

from visioncircuits.cli.checks import validate
from visioncircuits.errors import VisionCircuitsError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the tool's error contract), still exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="visioncircuits", description="Mechanistic interpretability for vision models."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import visioncircuits.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"visioncircuits.cli.{info.name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid UTF-8 print as \xNN escapes
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        validate(parser, args)  # generic flag checks, before any command loads a model or writes
        return int(args.func(args) or 0)
    except VisionCircuitsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: file not found: {e.filename or e}", file=sys.stderr)
        return 2
    except (NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError) as e:  # unusable --out paths
        print(f"error: {e.strerror or type(e).__name__}: {e.filename or e}", file=sys.stderr)
        return 2
    except MemoryError:  # a last resort: sizes are estimated and refused before allocating (cli/checks.py)
        print("error: out of memory; lower the sizes or counts you asked for", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `visioncircuits layers X | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
