"""Regenerate rgeom/data/digits_relu_mlp.npz and rgeom/data/digits_train.npz (deterministic).

A 64-16-10 ReLU MLP (rgeom.models.mlp, seed 0) on the first 600 digits of scikit-learn's
bundled digits set (no network access), label-smoothed cross-entropy (ε = 0.1; a finite
minimiser in logit space), float64, full batch: 500 Adam steps, 3000 L-BFGS steps, then a
trust-region Newton–Krylov polish (exact Hessian-vector products). Prints loss, accuracy and
gradient norm (about 1e-3: the minimiser of a ReLU net lies on activation kinks, where the loss
is not differentiable, so no optimiser drives the gradient to 0). Needs scikit-learn and torch
(used for speed; the checkpoint is plain named arrays).

    python3 scripts/train_demo_checkpoint.py
"""

import os
import sys

import numpy as np
import scipy.optimize

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from rgeom.checkpoints import save_checkpoint  # noqa: E402
from rgeom.data import DEMO_SMOOTHING, demo_model, demo_paths  # noqa: E402
from rgeom.models import Problem  # noqa: E402

N_TRAIN = 600


def main():
    import torch
    from sklearn.datasets import load_digits

    torch.use_deterministic_algorithms(True)
    digits = load_digits()
    X = digits.data[:N_TRAIN] / 16.0  # exact in float64 (pixel values are integers 0..16)
    labels = digits.target[:N_TRAIN]
    y = (1.0 - DEMO_SMOOTHING) * np.eye(10)[labels] + DEMO_SMOOTHING / 10.0
    model = demo_model(backend="torch")
    prob = Problem(model, "cross-entropy", (X, y))
    bk = prob.backend
    T = torch.as_tensor

    def fg(th):
        v, g = bk.value_and_grad(prob.objective, T(th))
        return float(v), g.numpy().copy()

    def hessp(th, p):
        return prob.hvp(T(th), T(p)).numpy().copy()

    theta = model.theta.numpy().copy()
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, 501):  # Adam, lr 1e-2
        _, g = fg(theta)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - 1e-2 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    res = scipy.optimize.minimize(fg, theta, jac=True, method="L-BFGS-B",
                                  options={"maxiter": 3000, "maxcor": 50, "gtol": 1e-9, "ftol": 0.0})
    print(f"L-BFGS: {res.nit} iterations, |grad| {np.linalg.norm(res.jac):.3e}")
    res = scipy.optimize.minimize(fg, res.x, jac=True, hessp=hessp, method="trust-krylov",
                                  options={"gtol": 1e-12, "maxiter": 200})
    theta = res.x
    loss, g = fg(theta)
    print(f"Newton-Krylov: {res.nit} iterations ({res.message}); loss {loss:.12f}, "
          f"accuracy {prob.accuracy(T(theta)):.4f}, |grad| {np.linalg.norm(g):.3e}")
    paths = demo_paths()
    save_checkpoint(paths["checkpoint"], model.named(T(theta)))
    np.savez_compressed(paths["data"], X=X, y=y)
    print("wrote", paths["checkpoint"], "and", paths["data"])


if __name__ == "__main__":
    main()
