"""The ``pmm`` command: thin; it only parses arguments and calls the library.

Each subcommand lives in a ``command.py`` module next to the code it drives and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` (taking the parsed
arguments, returning an exit code).  ``COMMAND_MODULES`` lists them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "pmm_ppl.conjugate.command",
    "pmm_ppl.verify.command",
    "pmm_ppl.sde.command",
    "pmm_ppl.train.command",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmm", description="Posterior Mean Matching toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
