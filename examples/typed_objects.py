"""Vectors, covectors and why a gradient is not a step.

A Gaussian N(μ, σ²) is fitted to data by minimising the negative log-likelihood L(θ) over
θ = (μ, σ). Its Fisher metric is G(θ) = diag(1/σ², 2/σ²). We also use the chart
ψ = (μ, log σ), θ = g(ψ) = (ψ₁, exp ψ₂).

* rgeom.gradient returns a Covector; a step is a Vector. Adding them raises TensorTypeError:
  convert the gradient with the metric first (rgeom.sharp), which is the natural gradient.
* Under θ = g(ψ) a covector transforms by Jᵀ w and a vector by J⁻¹ v. The natural gradient
  computed in ψ (with the pulled-back loss and metric) is exactly the pulled-back natural
  gradient from θ; the plain gradient, treated as a step, is not.
* The pairing w(v) of a covector with a vector is the same number in every chart.

Run:  python3 examples/typed_objects.py
"""

import argparse
import textwrap

import autograd.numpy as np
import numpy as onp

import rgeom
from rgeom.errors import TensorTypeError

DATA = onp.array([0.3, 1.9, -0.4, 2.2, 1.1, 0.8, 2.9, -1.0])


def nll(theta):
    """Mean negative log-likelihood of DATA under N(μ, σ²), θ = (μ, σ)."""
    mu, sigma = theta[0], theta[1]
    return np.mean(0.5 * ((DATA - mu) / sigma) ** 2) + np.log(sigma) + 0.5 * np.log(2 * np.pi)


fisher = rgeom.metrics.Diagonal(lambda th: np.array([1.0, 2.0]) / th[1] ** 2, dim=2)

log_sigma = rgeom.maps.from_functions(
    lambda psi: np.stack([psi[0], np.exp(psi[1])]),          # ψ = (μ, log σ) ↦ θ = (μ, σ)
    lambda theta: np.stack([theta[0], np.log(theta[1])]),
    dim=2, name="log_sigma",
)


def fmt(x):
    return onp.array2string(onp.asarray(x, dtype=float), precision=8, floatmode="fixed")


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    theta = np.array([0.5, 2.0])
    print(f"θ = (μ, σ) = {fmt(theta)}, L(θ) = {float(nll(theta)):.8f}")

    print("\n1. A gradient is a covector, a step is a vector")
    dL = rgeom.gradient(nll, theta)
    step = rgeom.Vector(theta, np.array([0.1, -0.2]))
    print(f"  dL   = {dL!r}")
    print(f"  step = {step!r}")
    try:
        step + dL
    except TensorTypeError as err:
        print(textwrap.fill(f"step + dL raises TensorTypeError: {err}", 96,
                            initial_indent="  ", subsequent_indent="    "))
    nat = rgeom.sharp(fisher, dL)                       # G⁻¹ dL: a Vector
    new = step - 0.1 * nat                              # fine: vector − vector
    print(f"  natural gradient G⁻¹dL = {fmt(nat.numpy())} (a {type(nat).__name__})")
    print(f"  step − 0.1·G⁻¹dL       = {fmt(new.numpy())}")
    print(f"  dL(step) = {float(dL(step)):.8f}  (a covector eats a vector: the directional derivative)")

    print("\n2. Change of chart ψ = (μ, log σ)")
    g = log_sigma
    psi = g.inverse(theta)
    J = onp.asarray(g.jacobian(psi))
    L_psi, G_psi = rgeom.pullback(nll, g), rgeom.pullback(fisher, g)
    print(f"  ψ = {fmt(psi)},  J = diag({fmt(onp.diag(J))})")

    dL_psi = rgeom.gradient(L_psi, psi)                 # computed directly in ψ
    print(f"  dL in ψ, computed directly      {fmt(dL_psi.numpy())}")
    print(f"  dL pulled back (Jᵀ dL)          {fmt(rgeom.pullback(dL, g).numpy())}")

    nat_psi = rgeom.natural_gradient(L_psi, G_psi, psi)  # computed directly in ψ
    print(f"  G⁻¹dL in ψ, computed directly   {fmt(nat_psi.numpy())}")
    print(f"  G⁻¹dL pulled back (J⁻¹ G⁻¹dL)   {fmt(rgeom.pullback(nat, g).numpy())}   <- the same vector")
    naive_step = rgeom.Vector(psi, dL_psi.components)    # 'gradient as a step' in ψ ...
    print(f"  plain gradient in ψ used as a step, pushed forward to θ: "
          f"{fmt(rgeom.pushforward(naive_step, g).numpy())}")
    print(f"  plain gradient in θ used as a step:                      {fmt(dL.numpy())}"
          "  <- a different direction")

    print("\n3. Chart-independent numbers")
    step_psi = rgeom.pullback(step, g)
    print(f"  dL(step):  θ chart {float(dL(step)):.12f}   ψ chart {float(dL_psi(step_psi)):.12f}")
    sq = float(dL(nat))
    sq_psi = float(dL_psi(nat_psi))
    print(f"  |dL|²_G* = dL(G⁻¹dL):  θ chart {sq:.12f}   ψ chart {sq_psi:.12f}")


if __name__ == "__main__":
    main()
