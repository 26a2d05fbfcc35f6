"""Which optimizers are natural? One step in polar coordinates, then the audit table.

Part 1. L(θ) = ½ θᵀ diag(1, 4) θ, θ₀ = (1, 1), held in polar coordinates ψ = (r, φ) with the
Euclidean metric pulled back. Take one step of size lr in θ and one in ψ, map the ψ-step back
with g and measure the gap. Naive GD (identity metric in ψ) errs by O(lr), natural gradient by
O(lr²) (its flow is natural, an Euler step is not), the geodesic-corrected step
ψ + lr v − ½lr²Γ(v, v) by O(lr³), and Riemannian GD by the exponential map not at all.

Part 2. The audit (rgeom audit): each optimizer on a small tanh MLP, in θ and in the chart ψ of
maps from ten families, over a fixed horizon T = 0.4 for lr = T/4, T/8, T/16; the verdict says
whether the mapped trajectories agree exactly, to O(lr^p), or not at all.

Run:  python3 examples/audit_table.py [--plot FILE.png] [--optimizers gd,ngd,...] [--maps ...]
"""

import argparse

import autograd.numpy as np
import numpy as onp

import rgeom
from rgeom.flows.audit import audit, format_table, one_step
from rgeom.flows.optimizers import get

LRS = [0.04, 0.02, 0.01, 0.005]
ONE_STEP = (
    ("naive GD (G = I in ψ)", "gd", {}),
    ("natural gradient (Euler)", "ngd", {}),
    ("geodesic-corrected step", "rgd_geodesic", {}),
    ("Riemannian GD, exp map (closed form)", "rgd_exp", {}),
    ("Riemannian GD, exp map (DOP853, rtol 1e-13)", "rgd_exp", {"closed_form": False}),
)


def loss(theta):
    return 0.5 * theta[0] ** 2 + 2.0 * theta[1] ** 2


def one_step_rows():
    """``(label, Discrepancy)`` for one step of each scheme in polar coordinates."""
    theta0, polar = np.array([1.0, 1.0]), rgeom.maps.Polar()
    return [(label, one_step(get(name, **kw), loss, theta0, polar, LRS)) for label, name, kw in ONE_STEP]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    parser.add_argument("--optimizers", default="gd,adam,newton,ngd,ngd_momentum,ngd_momentum_lc,kfac,kfac_damped",
                        help="audit rows (comma-separated; 'all' for every optimizer)")
    parser.add_argument("--maps", default="signed_permutation,orthogonal,general_linear,kronecker,activations,nonlinear",
                        help="audit columns (comma-separated map families; 'all' for every family)")
    args = parser.parse_args(argv)

    print("1. One step on L = ½θᵀdiag(1,4)θ from θ₀ = (1, 1), in polar coordinates")
    print(f"   ‖g(ψ₁) − θ₁‖ for lr = {', '.join(map(str, LRS))}")
    rows = one_step_rows()
    for label, res in rows:
        disc = "  ".join(f"{x:9.2e}" for x in res.discrepancy)
        order = "round-off" if res.verdict == "exact" else f"slope {res.slope:.2f}"
        print(f"   {label:45s} {disc}   {order}")

    print("\n2. The audit: max ‖g(ψ_k) − θ_k‖ over t ∈ [0, 0.4], lr = 0.1, 0.05, 0.025")
    table = audit(None if args.optimizers == "all" else args.optimizers,
                  None if args.maps == "all" else args.maps)
    print(format_table(table))

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        ax = axes[0]
        for label, res in rows:
            ax.loglog(res.lrs, onp.maximum(res.discrepancy, 1e-17), "o-", label=label)
        lr = onp.asarray(LRS)
        for p, (_, res) in zip((1, 2, 3), rows):
            ax.loglog(lr, 0.4 * res.discrepancy[0] * (lr / lr[0]) ** p, ":", color="gray")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("‖g(ψ₁) − θ₁‖ after one step")
        ax.set_title("one step in polar coordinates (dotted: lr, lr², lr³)", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[1]
        for o in dict.fromkeys(r["optimizer"] for r in table):
            for r in table:
                if r["optimizer"] == o and r["maps"] == "nonlinear":
                    ax.loglog(r["lrs"], onp.maximum(r["discrepancy"], 1e-17), "o-", label=f"{o}: {r['verdict']}")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("max ‖g(ψ_k) − θ_k‖ over [0, T]")
        ax.set_title("audit, nonlinear map (AffineCoupling ∘ Q ∘ AffineCoupling)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
