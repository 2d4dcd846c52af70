"""The `huia` command. Each feature area registers its own subcommands; this file only wires them together."""

from __future__ import annotations

import argparse
import importlib
import sys

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
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huia",
        description="From a webcam to a custom real-time vision model in the browser: "
        "capture, review, augment, train, evaluate, quantize, export to TensorFlow.js, serve.",
    )
    parser.add_argument("--version", action="version", version=f"huia {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except HuiaError as exc:
        print(f"huia: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("huia: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
