"""One module per ``rlfn`` subcommand: ``add_arguments(parser)`` and ``run(args) -> int``."""
