"""Dinh et al. (2017): rescaling a ReLU network changes the naive sharpness, not the invariant one.

A two-layer ReLU network f(x) = W₂ relu(W₁ x) computes the same function after
W₁ → α W₁, W₂ → W₂ / α. The naive Hessian of the training loss at the rescaled weights has
its W₂ block multiplied by α² (and its W₁ block by 1/α²), so its trace and largest eigenvalue
grow like α²: "sharpness" can be made anything you like. The invariant measures, the spectrum
of G⁻¹ Hess L with the Euclidean metric of the original weights pulled back to the rescaled
ones (rgeom.maps.LayerRescaling.dinh), do not move.

Run:  python3 examples/dinh_rescaling.py [--plot FILE.png]
"""

import argparse

import autograd
import autograd.numpy as np
import numpy as onp
import scipy.optimize

import rgeom

N_IN, N_HIDDEN, N_OUT = 2, 3, 1
SIZES = [N_HIDDEN * N_IN, N_OUT * N_HIDDEN]      # parameters of W₁ and of W₂
D = sum(SIZES)

rng = onp.random.default_rng(2)
X = rng.normal(size=(10, N_IN))                  # 10 data points
TEACHER = rng.normal(size=D)                     # targets: a teacher network of the same shape


def unflatten(theta):
    W1 = np.reshape(theta[: SIZES[0]], (N_HIDDEN, N_IN))
    W2 = np.reshape(theta[SIZES[0]:], (N_OUT, N_HIDDEN))
    return W1, W2


def network(theta, x):
    W1, W2 = unflatten(theta)
    return np.maximum(x @ W1.T, 0.0) @ W2.T


Y = network(TEACHER, X) + 0.1 * rng.normal(size=(len(X), N_OUT))   # ... plus noise


def loss(theta):
    """Mean squared error of the network on (X, Y)."""
    return 0.5 * np.mean((network(theta, X) - Y) ** 2)


def train():
    """A minimum θ* of the loss: BFGS started from the teacher's weights."""
    res = scipy.optimize.minimize(loss, TEACHER, jac=autograd.grad(loss), method="BFGS",
                                  options={"gtol": 1e-10, "maxiter": 5000})
    return res.x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    args = parser.parse_args(argv)

    theta = train()
    print(f"network {N_IN}-{N_HIDDEN}-{N_OUT} (no biases), d = {D} parameters, {len(X)} data points")
    print(f"trained: loss = {loss(theta):.6g}, |∇L| = {onp.linalg.norm(autograd.grad(loss)(theta)):.2e}")
    G = rgeom.metrics.Euclidean(D)
    print("\n   alpha   max|Δf|    naive trace    naive λmax  invariant trace  invariant λmax")
    rows = []
    for alpha in (1.0, 3.0, 10.0, 30.0, 100.0):
        # The rescaled weights ψ = (α W₁, W₂ / α) express the same network; θ = g(ψ) recovers
        # the original weights, so g is the Dinh rescaling with factor 1/α.
        g = rgeom.maps.LayerRescaling.dinh(SIZES, alpha=1.0 / alpha)
        psi = g.inverse(theta)
        same = onp.abs(network(psi, X) - network(theta, X)).max()
        # Naive: the Hessian of the (unchanged) training loss at the rescaled weights, G = I there.
        naive = rgeom.flatness(loss, psi)
        # Invariant: same loss, with the Euclidean metric of θ pulled back to ψ.
        inv = rgeom.flatness(rgeom.pullback(loss, g), psi, metric=rgeom.pullback(G, g))
        rows.append((alpha, naive.trace, naive.max_eigenvalue, inv.trace, inv.max_eigenvalue))
        print(f"  {alpha:6.0f}  {same:8.1e}  {naive.trace:13.6f}  {naive.max_eigenvalue:12.6f}"
              f"  {inv.trace:15.6f}  {inv.max_eigenvalue:14.6f}")

    rows = onp.array(rows)
    print(f"\nnaive trace(α=100) / trace(α=30)     = {rows[-1, 1] / rows[-2, 1]:.4f}"
          f"  vs (100/30)² = {(100 / 30) ** 2:.4f}: grows like α²")
    print(f"invariant trace(α=100) / trace(α=1)  = {rows[-1, 3] / rows[0, 3]:.12f}")
    lam = rgeom.flatness(loss, theta).eigenvalues
    lam = onp.where(onp.abs(lam) < 1e-9, 0.0, lam)   # the symmetry directions give λ = 0
    print("invariant spectrum (any α):", onp.array2string(lam, precision=6, suppress_small=True))

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.loglog(rows[:, 0], rows[:, 1], "o-", label="naive trace of ∂²L")
        ax.loglog(rows[:, 0], rows[:, 3], "s-", label="invariant trace of G⁻¹Hess L")
        ax.loglog(rows[:, 0], rows[-1, 1] * (rows[:, 0] / rows[-1, 0]) ** 2, ":", color="gray", label="∝ α²")
        ax.set_xlabel("rescaling factor α  (W₁ → αW₁, W₂ → W₂/α)")
        ax.set_ylabel("trace")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
