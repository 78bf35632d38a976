"""The ``rlfn`` command: a thin dispatcher over the Python API.

Each subcommand lives in ``rlfn.cli.<name>`` with ``add_arguments(parser)`` and ``run(args) -> int``,
imported only when used so that ``rlfn upscale`` does not pay for onnx or tensorboard imports.
Errors a user can cause (:class:`RLFNError`) are printed as one line; set RLFN_DEBUG=1 for a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "upscale": "upscale images with a super-resolution model",
    "eval": "evaluate a model on benchmark folders (PSNR/SSIM)",
    "train": "train an RLFN from a YAML config",
    "degrade": "write degraded LR images: what a model is trained on, or a test set",
    "bench": "measure parameters, FLOPs, activations, memory and runtime",
    "export": "export a model to ONNX",
    "models": "list the models and the weights available for them",
    "serve": "a local web page and HTTP API for upscaling (needs rlfn[serve])",
}


def _command_module(name: str):
    return importlib.import_module(f"rlfn.cli.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="rlfn", description="Fast single-image super-resolution with RLFN.")
    parser.add_argument("--version", action="version", version=f"rlfn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _command_module(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import RLFNError

    argv = list(sys.argv[1:] if argv is None else argv)
    only = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_command_module(args.command).run(args) or 0)
    except RLFNError as e:
        if os.environ.get("RLFN_DEBUG"):
            raise
        print(f"rlfn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rlfn {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"rlfn {args.command}: error: out of memory (try a smaller --tile)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
