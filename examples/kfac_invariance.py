"""K-FAC is the exact natural gradient of its own metric: invariant under affine maps of activations.

Two networks on 200 of scikit-learn's digits (float64, one-hot targets, Gaussian likelihood
½‖f − y‖²): a tanh MLP 53 → 16 → 10 (the 11 pixels constant on this subset dropped) and a small
CNN (two 3×3 convolutions, the second strided and zero-padded, then a dense layer). Each is
trained for 50 steps of lr = 0.05 by K-FAC, the natural gradient of the metric
Σ_layers tr(V̄ᵀ S V̄ A), once in the original weights θ and once in the weights ψ of a network
whose activations are written in other affine coordinates (a ↦ U a + c, s ↦ Φ s + d per layer:
rgeom.maps.ActivationAffine, θ = g(ψ)). The ψ-trajectory is mapped back through g and compared:

    discrepancy = max_k ‖g(ψ_k) − θ_k‖ / max_k ‖θ_k‖      (k = 0 … 50)

1. Optimizer × chart: K-FAC agrees to round-off; damped K-FAC, SGD and Adam do not.
2. Damping sweep: the three damping kinds of rgeom.metrics.kfac.KFAC — G + δI ("metric"),
   (A + δI) ⊗ (S + δI) ("factors"), Martens & Grosse's π-rule ("factored") — against δ.

Run:  python examples/kfac_invariance.py [--plot FILE.png | --no-plot]   (about 20 s)
The figure (the damping sweep) goes to kfac_invariance.png in the current directory by default;
it is skipped with a note when matplotlib is not installed.
"""

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

from rgeom.flows.audit import discrepancy
from rgeom.flows.optimizers import KFAC, get
from rgeom.maps import centering, random_affine, whitening
from rgeom.metrics.kfac import KFAC as KFACMetric
from rgeom.models import Problem, from_torch, mlp

STEPS = 50
DAMPINGS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2)
KINDS = ("metric", "factors", "factored")
#: label, optimizer factory (problem -> Optimizer), learning rate (SGD at 0.05 diverges in ψ)
OPTIMIZERS = (
    ("K-FAC (no damping)", lambda p: KFAC(KFACMetric(p)), 0.05),
    ("K-FAC (damping 1e-3)", lambda p: KFAC(KFACMetric(p, damping=1e-3)), 0.05),
    ("SGD (lr 0.01)", lambda p: get("gd"), 0.01),
    ("Adam (lr 0.002)", lambda p: get("adam"), 0.002),
)


def problems(n=200):
    """The MLP and CNN problems on the first ``n`` digits (pixels / 16, one-hot targets)."""
    X, y = load_digits(return_X_y=True)
    X, Y = X[:n] / 16.0, np.eye(10)[y[:n]]
    Xm = X[:, X.std(0) > 0]
    dense = Problem(mlp([Xm.shape[1], 16, 10], activation="tanh", seed=0), "gaussian", (Xm, Y))
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(),
        torch.nn.Conv2d(4, 4, 3, stride=2, padding=1), torch.nn.Tanh(),
        torch.nn.Flatten(), torch.nn.Linear(36, 10))
    conv = Problem(from_torch(cnn), "gaussian", (X.reshape(-1, 1, 8, 8), Y))
    return dense, Xm, conv


def gap(opt, prob, g, lr):
    """Relative discrepancy of the two 50-step trajectories (``rgeom.flows.audit.discrepancy``)."""
    return discrepancy(opt, prob.objective, prob.model.theta, g, [lr], lr * STEPS).relative[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", default="kfac_invariance.png",
                        help="where to save the damping-sweep figure (default: %(default)s)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the figure")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    dense, Xm, conv = problems()
    net = dense.model
    charts = (
        ("MLP random U,c,Φ,d", dense, random_affine(net, seed=1)),
        ("MLP centering", dense, centering(net, Xm)),
        ("MLP whitening", dense, whitening(net, Xm)),
        ("CNN random per-position", conv, random_affine(conv.model, seed=1)),
    )
    sol = KFAC(KFACMetric(dense)).run(dense.objective, net.theta, 0.05, STEPS)
    print(f"K-FAC trains the MLP: loss {dense.loss_value():.4f} -> {dense.loss_value(sol.ys[0][-1]):.4f}, "
          f"accuracy {dense.accuracy(sol.ys[0][-1]):.3f} after {STEPS} steps\n")

    print("1. max_k ‖g(ψ_k) − θ_k‖ / max_k ‖θ_k‖ over 50 steps: original vs affine-activation charts")
    width = 26
    print(" " * 24 + "".join(f"{label:>{width}s}" for label, _, _ in charts))
    table = {}
    for label, make, lr in OPTIMIZERS:
        table[label] = [gap(make(prob), prob, g, lr) for _, prob, g in charts]
        print(f"{label:24s}" + "".join(f"{v:>{width}.2e}" for v in table[label]))

    print("\n2. Damping breaks it: the MLP under random U,c,Φ,d, K-FAC with damping δ of each kind")
    print(f"{'δ':>10s}" + "".join(f"{k:>14s}" for k in KINDS))
    g = charts[0][2]
    sweep = {}
    for delta in DAMPINGS:
        if delta == 0:   # every kind is the undamped metric: the first cell of table 1
            sweep[delta] = [table["K-FAC (no damping)"][0]] * len(KINDS)
        else:
            sweep[delta] = [gap(KFAC(KFACMetric(dense, damping=delta, damping_kind=kind)), dense, g, 0.05)
                            for kind in KINDS]
        print(f"{'0' if delta == 0 else f'{delta:.0e}':>10s}" + "".join(f"{v:14.2e}" for v in sweep[delta]))
    sgd, adam = table["SGD (lr 0.01)"][0], table["Adam (lr 0.002)"][0]
    print(f"(SGD: {sgd:.2e}, Adam: {adam:.2e} in the same chart)")
    print(f"\ntotal time {time.perf_counter() - start:.1f} s")

    if not args.no_plot:
        plot(sweep, table, args.plot)


def plot(sweep, table, path):
    """Damping sweep on log-log axes, SGD and Adam as horizontal lines; skipped without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    deltas = [d for d in DAMPINGS if d]
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    for i, kind in enumerate(KINDS):
        ax.loglog(deltas, [sweep[d][i] for d in deltas], "o-", label=f"K-FAC, damping '{kind}'")
    ax.axhline(sweep[0.0][0], color="k", lw=1, ls=":", label="K-FAC, no damping (round-off)")
    for label, ls in (("SGD (lr 0.01)", "--"), ("Adam (lr 0.002)", "-.")):
        ax.axhline(table[label][0], color="gray", lw=1, ls=ls, label=label)
    ax.set_xlabel("damping δ")
    ax.set_ylabel("max‖g(ψ_k) − θ_k‖ / max‖θ_k‖")
    ax.set_title("digits MLP, 50 steps, random affine maps of the activations", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
