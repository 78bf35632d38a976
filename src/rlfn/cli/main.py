"""The ``rlfn`` command: a thin dispatcher over the Python API.

Each subcommand lives in ``rlfn.cli.<name>`` with ``add_arguments(parser)`` and ``run(args) -> int``,
imported only when used so that ``rlfn upscale`` does not pay for onnx or tensorboard imports.
Errors a user can cause (:class:`RLFNError`) are printed as one line; set RLFN_DEBUG=1 for a traceback.
SIGTERM and SIGHUP stop a command as Ctrl-C (SIGINT) does: the stack unwinds, every temporary file of an
atomic write is removed, and the exit status is 128 + the signal's number.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from ..signals import Stopped, handled

COMMANDS = {
    "upscale": "upscale images with a super-resolution model",
    "eval": "evaluate a model on benchmark folders (PSNR/SSIM)",
    "train": "train an RLFN from a YAML config",
    "degrade": "write degraded LR images: what a model is trained on, or a test set",
    "bench": "measure parameters, FLOPs, activations, memory and runtime",
    "export": "export a model to ONNX, TorchScript or ncnn; an OpenModelDB card (--card)",
    "models": "list the models and the weights available for them",
    "serve": "a local web page and HTTP API for upscaling (needs rlfn[serve])",
}


def _command_module(name: str):
    return importlib.import_module(f"rlfn.cli.{name}")


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument answered in one line (the usage block is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="rlfn", description="Fast single-image super-resolution with RLFN.")
    parser.add_argument("--version", action="version", version=f"rlfn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _command_module(name).add_arguments(p)
    return parser


_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _on_stop_signal(signum: int, _frame) -> None:
    # One clean stop: further signals are ignored while the stack unwinds and temporary files are removed.
    for s in (*_STOP_SIGNALS, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    raise Stopped(signum)


def _stop_on_signals():
    """SIGTERM and SIGHUP raise :class:`Stopped` while a command runs; restored after."""
    return handled(_STOP_SIGNALS, _on_stop_signal, also_restore=(signal.SIGINT,))


def main(argv: list[str] | None = None) -> int:
    from ..errors import RLFNError
    from ..io.atomic import remove_temp_files

    argv = list(sys.argv[1:] if argv is None else argv)
    only = next((a for a in argv if a in COMMANDS), None)
    parser = build_parser(only)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad argument (already reported in one line)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with _stop_on_signals():
            return int(_command_module(args.command).run(args) or 0)
    except RLFNError as e:
        if os.environ.get("RLFN_DEBUG"):
            raise
        print(f"rlfn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Stopped) else signal.SIGINT
        print(f"rlfn {args.command}: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + int(signum)
    except MemoryError:
        print(f"rlfn {args.command}: error: out of memory (try a smaller --tile)", file=sys.stderr)
        return 2
    finally:
        remove_temp_files()  # what an interrupt left between two statements of an atomic write


def console_main() -> None:
    """The ``rlfn`` command: :func:`main`, then a quick exit.

    Once the command has returned, its files are closed and renamed; what remains is the interpreter's
    teardown, which with PyTorch loaded takes about a second on a 2-core machine (measured 0.7–1.1 s, as
    long as a small image takes to upscale). So the standard streams and logs are flushed and the process
    ends at once, unless a profiler or tracer is attached. An uncaught exception (a bug) still takes the
    normal path, traceback included. ``main`` itself returns normally, for callers in Python (and the tests)."""
    import logging

    rc = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (rlfn ... | head) or a closed stream: nothing to keep
            pass
    logging.shutdown()
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(rc)  # a profiler or coverage tool writes its report at exit: let it
    os._exit(rc)


if __name__ == "__main__":
    console_main()
