"""The ``rgeom`` command line.

``rgeom demo [--json]`` runs the bundled naive-vs-invariant flatness demonstration.
"""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rgeom", description="Riemannian-geometry numerics on neural-network parameter spaces."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="naive vs invariant flatness under reparametrizations")
    demo.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv=None):
    """Entry point of the ``rgeom`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo":
        from .demo import run

        run(json_output=args.json)
        return 0
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
