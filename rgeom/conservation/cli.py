"""``rgeom laws``: count, list and verify the conservation laws of an architecture.

Examples (shell)::

    rgeom laws linear:2,2,2
    rgeom laws relu:2,3,2 --bias --json
    rgeom laws linear:2,2,2 --flow momentum --damping 0.5 --degree 3
    rgeom laws mypkg.models:make_generators

Exit status: 0 when every rank decision was certain, 3 when the count is uncertain (printed with
its evidence, never guessed silently), 2 on bad arguments.
"""

import importlib.util
import json
import sys
import warnings

__all__ = ["register", "run"]


def _default_backend():
    return "torch" if importlib.util.find_spec("torch") is not None else "autograd"


def register(subparsers):
    """Add ``rgeom laws`` to the command line.

    Examples
    --------
    >>> import argparse
    >>> from rgeom.conservation.cli import register
    >>> parser = argparse.ArgumentParser(prog="rgeom")
    >>> register(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["laws", "relu:2,3,2", "--bias", "--json"])
    >>> args.spec, args.bias, args.flow, args.json
    ('relu:2,3,2', True, 'gradient', True)
    """
    p = subparsers.add_parser(
        "laws", help="conservation laws of gradient flows (count, polynomial laws, verification)",
        description="Count the conservation laws of an architecture's gradient (or momentum) flows as "
                    "D - dim Lie(W), list its polynomial laws, and optionally verify them along an "
                    "integrated flow.")
    p.add_argument("spec", help="linear:2,3,2 | relu:2,3,2 | conv:C_in,C_h,C_out | "
                                "attention:d_model,d_k[,d_v,d_out] | module:factory (a callable "
                                "returning an Architecture or Generators)")
    p.add_argument("--bias", action="store_true", help="layers with biases (linear, relu, conv)")
    p.add_argument("--flow", choices=("gradient", "momentum"), default="gradient",
                   help="gradient flow, or heavy-ball momentum lifted to phase space (θ, v, s = e^{τt})")
    p.add_argument("--damping", type=float, default=1.0, help="momentum damping τ (default 1)")
    p.add_argument("--degree", type=int, default=None,
                   help="polynomial laws up to this degree (default 2, 3 for momentum; 0 skips)")
    p.add_argument("--points", type=int, default=3, help="random evaluation points (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, choices=("torch", "jax", "autograd"),
                   help="autodiff backend of the bracket computations (default torch if installed)")
    p.add_argument("--image-size", type=int, default=5, help="conv: input height = width (default 5)")
    p.add_argument("--kernel-size", type=int, default=3, help="conv: kernel size (default 3)")
    p.add_argument("--verify", action="store_true",
                   help="integrate the flow (scipy:DOP853, rtol = atol = 1e-12) on random data and "
                        "report drifts")
    p.add_argument("--t1", type=float, default=1.0, help="end time of the verification run (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run)


def run(args, out=None):
    """Execute ``rgeom laws`` for parsed ``args``; returns the exit status."""
    from .architectures import Architecture, parse_spec
    from .generators import Generators
    from .lie import UncertainRankWarning, lie_algebra
    from .polynomial import polynomial_laws

    out = out or sys.stdout
    backend = args.backend or _default_backend()
    try:
        target = parse_spec(args.spec, bias=args.bias, image_size=args.image_size,
                            kernel_size=args.kernel_size)
    except ValueError as exc:
        print(f"rgeom laws: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(target, Architecture):
        arch, gens = target, target.generators(backend=backend)
    elif isinstance(target, Generators):
        arch, gens = None, target
    else:
        print(f"rgeom laws: error: {args.spec!r} gave a {type(target).__name__}, expected an Architecture "
              "or Generators.", file=sys.stderr)
        return 2
    if args.flow == "momentum":
        gens = gens.momentum(args.damping)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertainRankWarning)   # reported below, with the evidence
        lie = lie_algebra(gens, n_points=args.points, seed=args.seed)
    degree = args.degree if args.degree is not None else (3 if args.flow == "momentum" else 2)
    poly, poly_error = None, ""
    if degree > 0:
        try:
            poly = polynomial_laws(gens, degree, seed=args.seed)
        except ValueError as exc:
            poly_error = str(exc)
    payload = {"spec": getattr(arch, "spec", args.spec), "flow": args.flow, "D": lie.D, "dim_W": lie.dim_W,
               "dim_lie": lie.dim_lie, "n_laws": lie.n_laws, "certain": lie.certain,
               "polynomial_laws": poly.expressions() if poly is not None else [],
               "polynomial": poly.as_dict() if poly is not None else {"skipped": poly_error or "degree 0"},
               "evidence": lie.as_dict()}
    if args.flow == "momentum":
        payload["damping"] = args.damping
    if arch is not None and args.flow == "gradient":
        payload["expected_laws"] = arch.expected_laws
        payload["formula"] = arch.formula
    if args.verify and arch is not None:
        payload["verification"] = _verify(arch, poly, args).as_dict()
    if args.json:
        json.dump(payload, out, indent=1, ensure_ascii=False)
        out.write("\n")
    else:
        _print(payload, lie, poly, out)
    return 0 if lie.certain else 3


def _verify(arch, poly, args):
    import numpy as np

    from .verify import mse_loss, verify_laws

    loss, _ = mse_loss(arch, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    theta0 = rng.standard_normal(arch.dim)
    if args.flow == "momentum":
        if poly is None or poly.n_laws == 0:
            laws, names = (lambda z: np.zeros(0)), ()
        else:
            laws, names = poly.evaluate, tuple(poly.expressions())
        return verify_laws(loss, theta0, laws, law_names=names, flow="momentum", damping=args.damping,
                           v0=rng.standard_normal(arch.dim), t1=args.t1)
    return verify_laws(loss, theta0, lambda th: arch.known_laws(th, np), law_names=arch.known_names,
                       t1=args.t1)


def _print(payload, lie, poly, out):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(lie.summary())
    if "expected_laws" in payload:
        ok = "matches" if payload["expected_laws"] == lie.n_laws else "DOES NOT MATCH"
        p(f"closed form: {payload['expected_laws']} laws ({payload['formula']}) -> {ok}")
    if poly is not None:
        kind = "exact over Q" if poly.exact else "numeric"
        p(f"polynomial laws of degree <= {poly.degree} ({kind}): {poly.n_laws}, "
          f"functionally independent: {poly.independence_rank}")
        for e in poly.expressions():
            p(f"  {e}")
    elif payload["polynomial"].get("skipped"):
        p(f"polynomial laws skipped: {payload['polynomial']['skipped']}")
    if "verification" in payload:
        v = payload["verification"]
        p(f"verification ({v['flow']} flow, {v['integrator']}, t1 = {v['t1']:g}): {v['status']}, "
          f"max law drift {v['max_law_drift']:.2e}, min control drift {v['min_control_drift']:.2e}")
    if not lie.certain:
        p("UNCERTAIN: see the notes above; the count is a best estimate, not a decision.")
