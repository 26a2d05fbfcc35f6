"""Conservation laws of gradient flows: count them, write them down, watch them hold.

1. Counts ``D − dim Lie(W)`` for linear, ReLU, convolutional and attention models next to the
   closed forms (Marcotte, Gribonval & Peyré 2023).
2. The polynomial laws of degree 2, exactly: ``UᵀU − VᵀV`` and ``‖u_k‖² + b_k² − ‖v_k‖²``.
3. A mirror flow changes the laws (``θ₁² − θ₂²`` becomes ``θ₁ − θ₂``); heavy-ball momentum keeps
   only a time-dependent one.
4. Drift along integrated flows (scipy DOP853, tolerance 1e-12): laws stay put, controls move.

Run ``python3 examples/conservation_laws.py`` (about half a minute); ``--plot FILE`` saves the drift
curves (matplotlib, Agg).
"""

import argparse
import importlib.util
import warnings

import numpy as np

from rgeom.conservation import (UncertainRankWarning, architectures, from_phi, lie_algebra, polynomial_laws,
                                verify_laws)
from rgeom.conservation.verify import mse_loss

BACKEND = "torch" if importlib.util.find_spec("torch") else "autograd"


def counts():
    print(f"1. Counting laws: D − dim Lie(W) at 3 random points (backend {BACKEND}, float64)")
    print(f"   {'model':50s} {'D':>4s} {'dim W':>6s} {'dim Lie':>8s} {'laws':>5s} {'closed form':>12s} "
          f"{'min gap':>9s}")
    models = [architectures.linear_network([2, 2, 2]), architectures.linear_network([3, 3, 3]),
              architectures.linear_network([2, 5, 2]), architectures.linear_network([2, 3, 4, 2]),
              architectures.relu_network([2, 3, 2]), architectures.relu_network([2, 3, 2], bias=True),
              architectures.relu_network([3, 4, 2, 3], bias=True),
              architectures.conv_relu_block((1, 2, 1), 4, 2), architectures.attention(3, 2)]
    for arch in models:
        res = lie_algebra(arch.generators(backend=BACKEND))
        gap = min(min(d.gap for d in lv.decisions) for lv in res.levels)
        print(f"   {arch.spec:50s} {res.D:4d} {res.dim_W:6d} {res.dim_lie:8d} {res.n_laws:5d} "
              f"{arch.expected_laws:12d} {gap:9.1e}")
    res = lie_algebra(from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3))
    print(f"   {'φ = θ1·θ2·θ3':50s} {res.D:4d} {res.dim_W:6d} {res.dim_lie:8d} {res.n_laws:5d} {2:12d}")


def polynomials():
    print("\n2. Polynomial laws of degree ≤ 2 (exact kernel over Q)")
    for arch in (architectures.linear_network([2, 2, 2]), architectures.relu_network([2, 3, 2], bias=True)):
        laws = polynomial_laws(arch.generators(), 2)
        print(f"   {arch.spec}: {laws.n_laws} laws, functionally independent {laws.independence_rank}")
        for e in laws.expressions():
            print(f"     {e}")


def other_flows():
    print("\n3. Other flows")
    phi = lambda th: th[:1] * th[1:]  # noqa: E731
    entropic = from_phi(phi, 2, inverse_metric=lambda th, u: th * u)
    for label, gens in (("gradient flow, φ = θ1·θ2", from_phi(phi, 2)),
                        ("entropic mirror flow (M = diag θ)", entropic)):
        laws = polynomial_laws(gens, 1 if "mirror" in label else 2)
        print(f"   {label:36s} laws: {lie_algebra(gens).n_laws}   {laws.expressions()[0]}")
    mom = architectures.linear_network([2, 2, 2]).generators(backend=BACKEND).momentum(damping=0.5)
    res = lie_algebra(mom)
    laws = polynomial_laws(mom, 3)
    print(f"   heavy ball (τ = 0.5) on linear:2,2,2, phase space (θ, v, s = e^(τt)), D = {res.D}: "
          f"laws: {res.n_laws}")
    print(f"     {laws.expressions()[0]}")
    return laws


def drifts(momentum_laws):
    print("\n4. Drift along integrated flows (max_t |h(t) − h(0)| / max(1, |h|))")
    arch = architectures.linear_network([2, 2, 2])
    loss, _ = mse_loss(arch)
    rng = np.random.default_rng(1)
    theta0, v0 = rng.standard_normal(arch.dim), rng.standard_normal(arch.dim)
    known = lambda th: arch.known_laws(th, np)  # noqa: E731
    grad = verify_laws(loss, theta0, known, law_names=arch.known_names, t1=2.0)
    print("   gradient flow, linear:2,2,2 under MSE:")
    print("\n".join("   " + line for line in grad.summary().splitlines()))
    mom = verify_laws(loss, theta0, momentum_laws, flow="momentum", damping=0.5, v0=v0, t1=2.0,
                      controls=lambda z: known(z[:arch.dim]), control_names=arch.known_names)
    print("   heavy-ball flow: the momentum law holds; balancedness (a gradient-flow law) does not:")
    print(f"     law      drift {mom.relative_drift[0]:9.2e}   s·(antisymmetric part of UᵀU̇ + VᵀV̇)")
    for name, d in zip(mom.control_names, mom.control_relative_drift):
        print(f"     control  drift {d:9.2e}   {name}")
    return grad


def plot(grad, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, col in zip(grad.law_names, grad.law_values.T):
        ax.semilogy(grad.ts[1:], np.abs(col[1:] - col[0]) + 1e-17, label=f"law {name}")
    for name, col in zip(grad.control_names, grad.control_values.T):
        ax.semilogy(grad.ts[1:], np.abs(col[1:] - col[0]) + 1e-17, "--", label=f"control {name}")
    ax.set_xlabel("t")
    ax.set_ylabel("|h(θ(t)) − h(θ(0))|")
    ax.set_title("gradient flow of linear:2,2,2 (DOP853, tol 1e-12)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nsaved {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", metavar="FILE", help="save the drift curves to FILE (PNG)")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncertainRankWarning)   # an uncertain count stops the example
        counts()
    polynomials()
    momentum_laws = other_flows()
    grad = drifts(momentum_laws)
    if args.plot:
        plot(grad, args.plot)


if __name__ == "__main__":
    main()
