"""Depth does nothing under natural gradient: deep linear networks and their end-to-end matrix.

A linear regression W ∈ R^{2×3} (loss L(W) = ½ mean‖W x − y‖², Fisher metric G = I ⊗ Σₓ) is
over-parametrized as a deep linear network W = W_N ⋯ W₁ with square hidden layers, for depths
N = 1, 2, 3, all started at the same end-to-end matrix W₀. The map π: (W₁, …, W_N) ↦ W_N ⋯ W₁ is
a submersion with L_big = L ∘ π. Natural gradient on the big model, with the Fisher pulled back
along π (singular: pseudo-inverse), pushes forward to natural gradient on W (Kerekes et al.
2021): the end-to-end trajectories of every depth agree with depth 1 up to O(lr). Gradient
descent's do not: depth changes the algorithm (Arora et al. 2018).

Run:  python3 examples/ngd_depth.py [--plot FILE.png]
"""

import argparse

import autograd.numpy as np
import numpy as onp

import rgeom
from rgeom.flows.audit import discrepancy
from rgeom.flows.map_families import DeepLinear
from rgeom.flows.optimizers import get

N_OUT, N_IN, N_DATA = 2, 3, 20
HORIZON, LRS = 2.0, [2.0 / 16, 2.0 / 32, 2.0 / 64]

rng = onp.random.default_rng(0)
X = rng.normal(size=(N_DATA, N_IN))
W_TRUE = rng.normal(size=(N_OUT, N_IN))
Y = X @ W_TRUE.T + 0.1 * rng.normal(size=(N_DATA, N_OUT))
W0 = 0.3 * rng.normal(size=(N_OUT, N_IN))                       # common end-to-end start
FACTORS = [onp.eye(N_IN) + 0.3 * rng.normal(size=(N_IN, N_IN)) for _ in range(2)]


def loss(w):
    """½ mean ‖W x − y‖² of the end-to-end matrix (flattened row-major)."""
    W = np.reshape(w, (N_OUT, N_IN))
    r = X @ W.T - Y
    return 0.5 * np.sum(r * r) / N_DATA


#: The Fisher of the Gaussian regression on W (row-major vec): I_out ⊗ Σₓ, constant.
FISHER = rgeom.metrics.Dense.constant_matrix(onp.kron(onp.eye(N_OUT), X.T @ X / N_DATA))


def deep_start(depth):
    """Factors (W₁, …, W_N) with W_N ⋯ W₁ = W₀: W₁ = A, W₂ = B, …, W_N = W₀ (⋯B A)⁻¹."""
    pi = DeepLinear(N_OUT, N_IN, hidden=(N_IN,) * (depth - 1))
    inner = FACTORS[: depth - 1]
    prod = onp.eye(N_IN)
    for F in inner:
        prod = F @ prod
    last = W0 @ onp.linalg.inv(prod)
    psi0 = onp.concatenate([F.ravel() for F in inner] + [last.ravel()])
    assert onp.allclose(pi(psi0), W0.ravel())
    return pi, psi0


def depth_rows():
    """Per depth: the end-to-end discrepancy to depth 1 for NGD and for GD (Discrepancy objects)."""
    rows = []
    for depth in (1, 2, 3):
        pi, psi0 = deep_start(depth)
        ngd = discrepancy(get("ngd", metric=FISHER, pinv=True), loss, None, pi, LRS, HORIZON, psi0=psi0)
        gd = discrepancy(get("gd"), loss, None, pi, LRS, HORIZON, psi0=psi0)
        rows.append((depth, ngd, gd))
    return rows


def trajectories(lr=LRS[-1]):
    """End-to-end trajectories ``W(t)`` (flattened) per depth and optimizer, over the horizon."""
    out = {}
    for depth in (1, 2, 3):
        pi, psi0 = deep_start(depth)
        for name, opt in (("gd", get("gd")), ("ngd", get("ngd", metric=FISHER, pinv=True).pullback(pi))):
            sol = opt.run(lambda p: loss(pi.forward(p)), psi0, lr, int(round(HORIZON / lr)))
            out[name, depth] = (sol.ts, onp.stack([pi(p) for p in sol.ys[0]]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    args = parser.parse_args(argv)

    print(f"linear regression W ∈ R^{N_OUT}x{N_IN}, {N_DATA} points; deep linear W = W_N ⋯ W₁, "
          f"hidden width {N_IN}; horizon T = {HORIZON}")
    print("max ‖π(ψ_k) − W_k‖ (end-to-end of depth N vs the depth-1 run) for lr = "
          + ", ".join(f"{lr:g}" for lr in LRS))
    for depth, ngd, gd in depth_rows():
        for label, res in (("NGD (pinv Fisher)", ngd), ("GD", gd)):
            disc = "  ".join(f"{x:9.2e}" for x in res.discrepancy)
            verdict = f"O(lr^{res.slope:.2f})" if res.verdict == "order-p" else res.verdict
            print(f"  depth {depth}  {label:18s} {disc}   {verdict}")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        traj = trajectories()
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, name, title in ((axes[0], "gd", "gradient descent"), (axes[1], "ngd", "natural gradient")):
            for depth, style in ((1, "-"), (2, "--"), (3, ":")):
                ts, W = traj[name, depth]
                ax.plot(W[:, 0], W[:, 4], style, lw=2, label=f"depth {depth}")
            ax.plot(W0.ravel()[0], W0.ravel()[4], "ko", ms=4)
            ax.set_title(f"{title}: end-to-end trajectory", fontsize=10)
            ax.set_xlabel("W[0, 0]")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("W[1, 1]")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
