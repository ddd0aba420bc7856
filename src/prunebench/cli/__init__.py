"""Command-line dispatcher: every module in this package is one sub-command.

A command module defines ``register(subparsers)`` which adds its parser and sets
``func=<callable(args) -> int>``. Adding a command is one new file here.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys

from prunebench import __version__
from prunebench.errors import PrunebenchError
from prunebench.plugins import import_plugins

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT)  # a full disk or quota anywhere (data cache, probes): one line


def build_parser() -> argparse.ArgumentParser:
    """Parser with one sub-command per module of :mod:`prunebench.cli`."""
    parser = argparse.ArgumentParser(prog="python -m prunebench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"prunebench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in import_plugins(__name__):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors become one ``error:`` line and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PrunebenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno not in DISK_ERRNOS:
            raise
        print(f"error: {err.strerror} ({err.filename or 'writing output'}); free disk space (or quota) and rerun",
              file=sys.stderr)
        return 2
