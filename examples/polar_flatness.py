"""Flatness of a quadratic loss in Cartesian and in polar coordinates.

The loss L(θ) = ½(θ₁ − 1)² + 2(θ₂ − 1)² has Hessian diag(1, 4) in the Cartesian chart θ.
Write the same loss in polar coordinates ψ = (r, φ), θ = (r cos φ, r sin φ), and ask how flat
the minimum θ* = (1, 1) is:

* naive measures (eigenvalues of ∂²L, silently with G = I in the chart you hold) change;
* invariant measures (eigenvalues of G⁻¹ Hess L, with the metric pulled back to polar
  coordinates) stay {1, 4}.

At a non-critical point the naive Hessian is not even a tensor: dropping the Christoffel term
gives wrong eigenvalues even with the right metric; keeping it restores {1, 4}.

Run:  python3 examples/polar_flatness.py [--plot FILE.png]
"""

import argparse

import autograd.numpy as np

import rgeom


def loss(th):
    return 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2


def show(label, fl):
    lam = ", ".join(f"{x:.7f}" for x in fl.eigenvalues)
    print(f"  {label:<43s} λ = [{lam}]  trace {fl.trace:.7f}  logdet {fl.logdet:.7f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    args = parser.parse_args(argv)

    polar = rgeom.maps.Polar()                                 # ψ = (r, φ) ↦ θ
    G_psi = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)  # Jᵀ I J = diag(1, r²)
    L_psi = rgeom.pullback(loss, polar)                        # L ∘ polar

    print("1. At the minimum θ* = (1, 1)")
    theta = np.array([1.0, 1.0])
    psi = polar.inverse(theta)
    print(f"  θ* = {theta}, ψ* = (r, φ) = ({psi[0]:.7f}, {psi[1]:.7f})")
    show("Cartesian chart, G = I (naive = invariant)", rgeom.flatness(loss, theta))
    show("polar chart, naive (G = I in ψ)", rgeom.flatness(L_psi, psi))
    show("polar chart, invariant (G = Jᵀ J)", rgeom.flatness(L_psi, psi, metric=G_psi))

    print("\n2. At the non-critical point θ = (2, 0.5)")
    theta2 = np.array([2.0, 0.5])
    psi2 = polar.inverse(theta2)
    fl_cart = rgeom.flatness(loss, theta2)
    print(f"  |∇L|_G* = {fl_cart.gradient_norm:.7f} (not a critical point)")
    show("Cartesian chart, G = I", fl_cart)
    show("polar, metric pulled back, no Christoffel", rgeom.flatness(L_psi, psi2, metric=G_psi, christoffel=False))
    show("polar, metric pulled back, with Christoffel", rgeom.flatness(L_psi, psi2, metric=G_psi))

    print("\n3. The Riemannian Hessian is a (0,2) tensor at every point: Hess_ψ = Jᵀ Hess_θ J")
    J = polar.jacobian(psi2)
    H_psi = np.asarray(rgeom.riemannian_hessian(L_psi, G_psi, psi2))
    H_theta = np.asarray(rgeom.riemannian_hessian(loss, None, theta2))
    naive_psi = np.asarray(rgeom.riemannian_hessian(L_psi, G_psi, psi2, christoffel=False))
    print(f"  max |Hess_ψ − Jᵀ Hess_θ J|  = {np.abs(H_psi - J.T @ H_theta @ J).max():.3e}")
    print(f"  max |∂²L_ψ − Jᵀ ∂²L_θ J|    = {np.abs(naive_psi - J.T @ H_theta @ J).max():.3e}"
          "  (the naive Hessian is not a tensor)")

    if args.plot:
        plot(args.plot, L_psi, G_psi, polar)


def plot(path, L_psi, G_psi, polar):
    """Eigenvalues along the ray θ = (1, 1) + t (1, −0.5): naive vs invariant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.linspace(-0.5, 1.0, 31)
    naive, no_chr, inv = [], [], []
    for t in ts:
        psi = polar.inverse(np.array([1.0 + t, 1.0 - 0.5 * t]))
        naive.append(rgeom.flatness(L_psi, psi).eigenvalues)
        no_chr.append(rgeom.flatness(L_psi, psi, metric=G_psi, christoffel=False).eigenvalues)
        inv.append(rgeom.flatness(L_psi, psi, metric=G_psi).eigenvalues)
    fig, ax = plt.subplots(figsize=(6, 4))
    for data, style, label in ((naive, ":", "naive ∂²L (G = I in ψ)"),
                               (no_chr, "--", "G⁻¹∂²L, no Christoffel"),
                               (inv, "-", "G⁻¹Hess L (invariant)")):
        data = np.array(data)
        ax.plot(ts, data[:, 0], style, color="C0", label=label)
        ax.plot(ts, data[:, 1], style, color="C1")
    ax.set_xlabel("t  (θ = (1, 1) + t·(1, −0.5); t = 0 is the minimum)")
    ax.set_ylabel("eigenvalues in polar coordinates")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
