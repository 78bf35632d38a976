"""The ``rlfn`` command line: :mod:`rlfn.cli.main` parses and dispatches, one module per subcommand."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
