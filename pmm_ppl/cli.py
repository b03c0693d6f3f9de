"""The ``pmm`` command: thin; it only parses arguments and calls the library.

Each subcommand lives in a ``command.py`` module next to the code it drives and exposes
``add_parser(subparsers)``, which registers the subcommand and sets ``func`` (taking the parsed
arguments, returning an exit code).  ``COMMAND_MODULES`` lists them.

Errors: the library's own errors (:class:`~pmm_ppl.conjugate.validation.PMMInputError`, which
includes bad model files and ``--set`` values, :class:`~pmm_ppl.train.checkpoint.CheckpointError`,
:class:`~pmm_ppl.data.cache.DataFetchError`, a diverged training run, an output that exists, and
operating-system errors such as a full disk) are printed as one ``pmm CMD: error: ...`` message on
stderr with exit status 1, without a traceback.  ``--debug`` (anywhere on the line) or
``PMM_DEBUG=1`` shows the traceback instead.  Bad arguments are argparse's usage error (status 2).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = [
    "pmm_ppl.conjugate.command",
    "pmm_ppl.verify.command",
    "pmm_ppl.sde.command",
    "pmm_ppl.train.command",
]
DEBUG_ENV = "PMM_DEBUG"


def _checked_type(convert, check, what: str):
    """An argparse ``type``: ``convert(text)`` (a ValueError: not even a number), then the library's own
    ``check(value)`` (a :class:`~pmm_ppl.conjugate.validation.PMMInputError`: out of range), each failure one
    usage message naming ``what`` is expected."""

    def parse(text: str):
        from pmm_ppl.conjugate.validation import PMMInputError

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value)
        except PMMInputError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}") from None

    parse.__name__ = what
    return parse


def int_at_least(minimum: int):
    """An argparse ``type``: an integer ``>= minimum`` (the rule of
    :func:`~pmm_ppl.conjugate.validation.check_whole_number`)."""

    def check(value: int) -> int:
        from pmm_ppl.conjugate.validation import check_whole_number

        return check_whole_number(value, "value", minimum)

    return _checked_type(int, check, f"an integer >= {minimum}")


def _check_positive(value: float) -> float:
    from pmm_ppl.train.spec import check_real_in

    return check_real_in(value, "value", 0.0, low_open=True)


_parse_positive = _checked_type(float, _check_positive, "a finite number > 0")


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (the rule of :func:`~pmm_ppl.train.spec.check_real_in`)."""
    return _parse_positive(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pmm", description="Posterior Mean Matching toolkit")
    parser.add_argument("--debug", action="store_true", help=f"show Python tracebacks (also {DEBUG_ENV}=1)")
    parser.add_argument("--cpu-devices", type=int_at_least(1), metavar="N",
                        help="present the CPU to JAX as N devices (default: one per core, unless XLA_FLAGS or "
                             "JAX_NUM_CPU_DEVICES sets the count, or with --distributed); training splits a batch "
                             "over at most the model's TrainConfig.cpu_data_devices of them (default 1); the "
                             "accelerators of a GPU machine are not CPU devices")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).add_parser(sub)
    for p in sub.choices.values():  # `--debug` is accepted after the subcommand too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks")
    return parser


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors that are the user's to fix: reported as a message, never as a traceback."""
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.data.cache import DataFetchError
    from pmm_ppl.train.checkpoint import CheckpointError
    from pmm_ppl.train.loop import TrainingDiverged

    return (PMMInputError, CheckpointError, DataFetchError, TrainingDiverged, OSError)


def main(argv: list[str] | None = None) -> int:
    """Run ``pmm`` with ``argv``; returns the exit status (argparse exits with 2 on bad arguments)."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        from pmm_ppl.train.cpu_devices import use_cpu_devices

        if args.cpu_devices is not None or not getattr(args, "distributed", False):  # multi-host: JAX's own count
            use_cpu_devices(args.cpu_devices)  # before any JAX computation: JAX reads the count once
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"pmm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug or not isinstance(err, user_errors()):
            raise
        print(f"pmm {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
