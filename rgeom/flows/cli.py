"""``rgeom audit``: the optimizer naturality table on the command line.

Registered by listing ``rgeom.flows.cli`` in :data:`rgeom.cli.COMMANDS`.

Examples
--------
>>> import argparse
>>> from rgeom.flows.cli import register
>>> sub = argparse.ArgumentParser(prog="rgeom").add_subparsers(dest="command")
>>> register(sub)
>>> args = sub.choices["audit"].parse_args(["--optimizers", "gd,ngd", "--maps", "orthogonal", "--json"])
>>> args.optimizers, args.maps, args.json
('gd,ngd', 'orthogonal', True)
"""

import json
import sys

__all__ = ["register", "main"]

_EPILOG = """verdicts: 'exact' = discrepancy at float64 round-off for every learning rate;
'O(lr^p)' = the discrepancy shrinks like lr^p (the flow is natural, its steps are not);
'not-invariant' = it does not shrink (the flows themselves differ); 'n/a' = no meaning there
(K-FAC under maps that mix layers)."""


def register(subparsers):
    """Add ``rgeom audit`` to the command line."""
    from .audit import AUDIT_OPTIMIZERS
    from .map_families import FAMILIES

    p = subparsers.add_parser(
        "audit", help="which optimizers are invariant under which reparametrizations",
        description="Run every optimizer on L and on L∘g for families of maps g, map the trajectory "
                    "back, and report how the gap shrinks with the learning rate.",
        epilog=_EPILOG,
    )
    p.add_argument("--optimizers", metavar="A,B,...",
                   help=f"comma-separated rows (default: all of {', '.join(AUDIT_OPTIMIZERS)})")
    p.add_argument("--maps", metavar="X,Y,...",
                   help=f"comma-separated map families (default: all of {', '.join(FAMILIES)})")
    p.add_argument("--integrator", default=None,
                   help="integrator of the flows (default: each optimizer's own update, Euler for flows)")
    p.add_argument("--horizon", type=float, default=0.4, help="time horizon T = lr x steps (default 0.4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random maps (default 0)")
    p.add_argument("--json", action="store_true", help='print {"rows": [...]} as JSON on stdout')
    p.add_argument("--plot", metavar="FILE", help="save a log-log figure of discrepancy vs learning rate")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=main)


def main(args, out=None):
    """Run the audit for parsed ``args``; print the table (or JSON); return the exit status."""
    from .audit import audit, format_table, plot

    out = out or sys.stdout
    try:
        rows = audit(args.optimizers, args.maps, horizon=args.horizon, integrator=args.integrator,
                     seed=args.seed, progress=not args.no_progress)
    except (ValueError, TypeError) as err:
        print(f"rgeom audit: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        keys = ("optimizer", "maps", "lrs", "discrepancy", "slope", "verdict", "r2", "relative")
        json.dump({"rows": [{k: r[k] for k in keys} for r in rows]}, out, indent=1)
        out.write("\n")
    else:
        print("max ‖g(ψ_k) − θ_k‖ over t ∈ [0, T] as lr → 0, T = "
              f"{args.horizon:g}, lr = T/4, T/8, T/16 ({args.integrator or 'each optimizer’s own update'})\n",
              file=out)
        print(format_table(rows), file=out)
        print("\n" + _EPILOG, file=out)
    if args.plot:
        plot(rows, args.plot)
        print(f"figure written to {args.plot}", file=sys.stderr)
    return 0
