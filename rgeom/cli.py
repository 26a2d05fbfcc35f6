"""The ``rgeom`` command line.

Each capability registers its own subcommand: a module listed in :data:`COMMANDS` defines
``register(subparsers)``, which adds a parser whose ``func`` default receives the parsed
arguments and returns an exit status. Modules are imported only when the CLI starts.
"""

import argparse
import importlib
import sys

#: Modules that contribute subcommands (each has ``register(subparsers)``).
COMMANDS = ("rgeom.demo", "rgeom.flatness_cli", "rgeom.flows.cli", "rgeom.conservation.cli")


def build_parser():
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="rgeom", description="Riemannian-geometry numerics on neural-network parameter spaces."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None):
    """Entry point of the ``rgeom`` console script; returns the exit status.

    Examples
    --------
    >>> from rgeom.cli import build_parser
    >>> "demo" in build_parser().format_help()
    True
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
