"""Invariant flatness of a trained checkpoint, from Python.

Trains a small ReLU MLP on a toy problem (seconds), saves it as a checkpoint, loads it back
(validated), and compares naive and invariant flatness with the K-FAC and Fisher metrics for the
checkpoint and its Dinh-rescaled twin (same function). Run:

    python3 examples/checkpoint_flatness.py [--plot FILE]
"""

import argparse
import os
import tempfile

import numpy as np

from rgeom.checkpoints import load_checkpoint, save_checkpoint
from rgeom.flatness_cli import measure, plot, summary
from rgeom.metrics import Euclidean, Pullback
from rgeom.metrics.fisher import Fisher
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, dinh_rescaling, mlp


def train(prob, steps=400, lr=0.05):
    """Full-batch gradient descent with momentum (the point is a checkpoint, not the optimizer)."""
    theta, v = np.array(prob.model.theta), 0.0
    for _ in range(steps):
        v = 0.9 * v - lr * np.asarray(prob.gradient(theta))
        theta = theta + v
    return theta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="write the spectral densities to this PNG")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)  # three classes
    net = mlp([4, 12, 3], activation="relu", seed=0)  # 99 parameters
    prob = Problem(net, "cross-entropy", (X, y))
    theta = train(prob)
    print(f"trained: loss {prob.loss_value(theta):.4f}, accuracy {prob.accuracy(theta):.3f}, D = {net.dim}")

    path = os.path.join(tempfile.mkdtemp(), "toy.safetensors")
    save_checkpoint(path, net.named(theta))
    model = load_checkpoint(path, mlp([4, 12, 3], activation="relu"))  # validated against the architecture
    prob = Problem(model, "cross-entropy", (X, y))

    g = dinh_rescaling(model, 0, 100.0)  # θ = g(ψ): the twin ψ has 100·W₁, 100·b₁, W₂/100
    psi = g.inverse(model.theta)
    twin = prob.with_model(model.with_theta(psi))
    print(f"Dinh twin (α = 100): same loss {twin.loss_value():.12f} = {prob.loss_value():.12f}\n")

    results = []
    for name, make in (("K-FAC", KFAC), ("Fisher", Fisher), ("Euclidean (pulled back)", None)):
        rows = {}
        for label, p, point in (("original", prob, model.theta), ("rescaled", twin, psi)):
            if make is None:
                G = Euclidean(p.dim) if label == "original" else Pullback(Euclidean(p.dim), g)
            else:
                G = make(p)  # computed in the twin's own coordinates: no bookkeeping
            cmp = measure(p, point, G, measures=["max_eigenvalue", "trace"], method="dense", progress=False)
            rows[label] = summary(cmp)["measures"]
            if name == "K-FAC":
                results.append((label, cmp))
        print(f"metric {name}")
        for m in ("trace", "max_eigenvalue"):
            o, r = rows["original"][m], rows["rescaled"][m]
            print(f"  {m:<15} naive {o['naive']:>12.5g} -> {r['naive']:>12.5g}   "
                  f"invariant {o['invariant']:>12.8g} -> {r['invariant']:>12.8g}")
    if args.plot:
        plot(results, args.plot, title="toy ReLU MLP, K-FAC metric, Dinh α = 100")
        print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
