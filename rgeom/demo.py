"""The bundled demonstration: naive versus invariant flatness under reparametrizations.

Two small problems, dense float64 reference path (seconds on a laptop):

1. A quadratic loss in polar coordinates, at a critical and at a non-critical point.
2. A two-layer ReLU network ``W₂ relu(W₁ x)`` fitted to a few points, and its Dinh-rescaled
   twins ``(αW₁, W₂/α)``: the same function, a different naive Hessian, the same invariant one.
"""

import autograd.numpy as np
import numpy as onp

from . import maps, metrics
from .flatness import flatness
from .geometry.rules import pullback


def polar_problem():
    """Naive and invariant measures of ``½(x−1)² + 2(y−1)²`` in polar coordinates."""
    loss = lambda th: 0.5 * (th[0] - 1.0) ** 2 + 2.0 * (th[1] - 1.0) ** 2  # noqa: E731
    polar = maps.Polar()
    G = pullback(metrics.Euclidean(2), polar)
    L = pullback(loss, polar)
    rows = []
    for label, theta in (("critical θ=(1,1)", [1.0, 1.0]), ("non-critical θ=(2,0.5)", [2.0, 0.5])):
        psi = polar.inverse(np.array(theta))
        rows.append({
            "point": label,
            "naive": flatness(L, psi),
            "naive_metric_no_christoffel": flatness(L, psi, metric=G, christoffel=False),
            "invariant": flatness(L, psi, metric=G),
        })
    return rows


def relu_network(seed=0, n_in=2, n_hidden=3, n_points=8):
    """A tiny ``n_in → n_hidden → 1`` ReLU net (no biases) with data; returns (loss, θ, sizes)."""
    rng = onp.random.default_rng(seed)
    X = rng.normal(size=(n_points, n_in))
    w1_true = rng.normal(size=(n_hidden, n_in))
    y = onp.maximum(X @ w1_true.T, 0.0).sum(1) + 0.1 * rng.normal(size=n_points)
    sizes = [n_hidden * n_in, n_hidden]

    def loss(theta):
        W1 = np.reshape(theta[: sizes[0]], (n_hidden, n_in))
        w2 = theta[sizes[0]:]
        pred = np.dot(np.maximum(np.dot(X, W1.T), 0.0), w2)
        return 0.5 * np.mean((pred - y) ** 2)

    theta = onp.concatenate([w1_true.ravel() + 0.05 * rng.normal(size=sizes[0]), onp.ones(n_hidden)])
    return loss, theta, sizes


def dinh_problem(alphas=(1.0, 10.0, 100.0)):
    """Naive vs invariant flatness of a ReLU net after rescaling (αW₁, W₂/α)."""
    loss, theta, sizes = relu_network()
    rows = []
    for alpha in alphas:
        # the user's new coordinates ψ = (αW₁, W₂/α); the old ones are θ = g(ψ) = (ψ₁/α, αψ₂)
        g = maps.LayerRescaling(sizes, [1.0 / alpha, alpha])
        psi = g.inverse(theta)
        L = pullback(loss, g)
        G = pullback(metrics.Euclidean(theta.size), g)
        rows.append({"alpha": alpha, "naive": flatness(L, psi), "invariant": flatness(L, psi, metric=G)})
    return rows


def _fmt(f):
    return f"trace {f.trace:>12.6g}   max λ {f.max_eigenvalue:>12.6g}   log|det| {f.logdet:>10.6g}"


def run(json_output=False, out=None):
    """Run both problems; print a table (or JSON) to ``out`` (stdout)."""
    import json
    import sys

    out = out or sys.stdout
    polar_rows, dinh_rows = polar_problem(), dinh_problem()
    if json_output:
        payload = {
            "polar": [{k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in r.items()} for r in polar_rows],
            "dinh": [{k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in r.items()} for r in dinh_rows],
        }
        json.dump(payload, out, indent=1, default=float)
        out.write("\n")
        return payload
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("rgeom demo: flatness is a property of G⁻¹Hess, not of the Hessian's matrix in one chart\n")
    p("1. L = ½(x−1)² + 2(y−1)² held in polar coordinates ψ = (r, φ); metric G = pullback of I")
    for r in polar_rows:
        p(f"   at {r['point']}")
        p(f"     naive ∂²L, G = I         eigenvalues {r['naive'].eigenvalues.round(7)}  {_fmt(r['naive'])}")
        p(f"     G⁻¹∂²L (no Christoffel)  eigenvalues {r['naive_metric_no_christoffel'].eigenvalues.round(7)}")
        p(f"     invariant G⁻¹Hess        eigenvalues {r['invariant'].eigenvalues.round(7)}  {_fmt(r['invariant'])}")
    p("\n2. ReLU net W₂ relu(W₁x), 9 parameters, Dinh rescaling ψ = (αW₁, W₂/α): same function")
    for r in dinh_rows:
        p(f"   α = {r['alpha']:<6g} naive     {_fmt(r['naive'])}")
        p(f"   {'':10} invariant {_fmt(r['invariant'])}")
    p("\nThe naive numbers move with the chart; the invariant ones do not.")
    return None


def register(subparsers):
    """Add ``rgeom demo`` to the command line."""
    p = subparsers.add_parser("demo", help="naive vs invariant flatness under reparametrizations")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=lambda args: run(json_output=args.json) and 0)
