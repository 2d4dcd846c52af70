"""The `huia` command. Each feature area registers its own subcommands; this file only wires them together.

It also holds what every command shares: argparse range checks (`positive_int`, `fraction`, ...), the one-line
`huia: warning: MESSAGE` format, and a quiet exit when the reader of stdout goes away (`huia ... | head`)."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import warnings

from huia import __version__
from huia.errors import HuiaError

# Each module exposes `register(subparsers)` adding its subcommands. Add a module here when you add a command group.
COMMAND_MODULES = [
    "huia.models",
    "huia.tfjs.cli",
    "huia.data.cli",
    "huia.server.cli",
    "huia.export_cli",
    "huia.classify.cli",
    "huia.detect.cli",
    "huia.pose.cli",
    "huia.hands.cli",
]

SUBCOMMAND_METAVAR = "COMMAND"  # one word for every sub-command group's usage line


# ---------------------------------------------------------------------------------------------------------------
# argparse range checks: `type=positive_int` etc. A bad value is a one-line usage error (exit 2) that repeats what the
# user typed, before any work starts.


def _number(text: str, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(lo: int | None = None, hi: int | None = None, name: str | None = None):
    """An argparse `type` for an int in [lo, hi] (either bound may be None)."""

    def check(text: str) -> int:
        v = _number(text, int)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {_describe(lo, hi, 'an integer')}, got {text!r}")
        return v

    check.__name__ = name or f"int_range({lo}, {hi})"
    return check


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
                name: str | None = None):
    """An argparse `type` for a finite float between lo and hi (`lo_open`/`hi_open`: the bound itself is refused)."""

    def check(text: str) -> float:
        v = _number(text, float)
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (
                hi is not None and (v > hi or (hi_open and v == hi))):
            raise argparse.ArgumentTypeError(f"must be {_describe(lo, hi, 'a number', lo_open, hi_open)}, "
                                             f"got {text!r}")
        return v

    check.__name__ = name or f"float_range({lo}, {hi})"
    return check


def _describe(lo, hi, what: str, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"{what} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{what} {'>' if lo_open else '>='} {lo:g}"
    return f"{what} {'<' if hi_open else '<='} {hi:g}"


positive_int = int_range(1, name="positive_int")  # >= 1: epochs, sizes, counts
non_negative_int = int_range(0, name="non_negative_int")  # >= 0: patience, extra epochs, 0 = off
positive_float = float_range(0, lo_open=True, name="positive_float")  # > 0: learning rates, sizes in MB
fraction = float_range(0, 1, lo_open=True, hi_open=True, name="fraction")  # (0, 1): split shares
probability = float_range(0, 1, name="probability")  # [0, 1]: thresholds, scores
dropout_rate = float_range(0, 1, hi_open=True, name="dropout_rate")  # [0, 1): dropout, EMA-like decays


# ---------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huia",
        description="From a webcam to a custom real-time vision model in the browser: "
        "capture, review, augment, train, evaluate, quantize, export to TensorFlow.js, serve.",
    )
    parser.add_argument("--version", action="version", version=f"huia {__version__}")
    sub = parser.add_subparsers(dest="command", metavar=SUBCOMMAND_METAVAR)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """`huia: warning: MESSAGE`, one line: the user needs the file and the problem, not huia's source line."""
    stream = file if file is not None else sys.stderr
    if stream is None:
        return
    try:
        stream.write(f"huia: warning: {' '.join(str(message).split())}\n")
    except (OSError, ValueError):
        pass


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (`huia ... | head`): stop quietly, like a program killed by SIGPIPE. Point
    stdout at /dev/null so Python's final flush does not print 'Exception ignored ... BrokenPipeError'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 128 + 13  # what a shell reports for a process ended by SIGPIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # `huia pose --help | head -1`
        return _quiet_broken_pipe()
    except SystemExit:  # --help / usage errors: flush here so a closed pipe stays quiet too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_broken_pipe()
        raise
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            result = args.func(args)
            sys.stdout.flush()  # a closed pipe shows up here, inside the handler, not at interpreter exit
        except HuiaError as exc:
            print(f"huia: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("huia: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return _quiet_broken_pipe()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
