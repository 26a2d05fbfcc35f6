"""Separable logistic regression: natural gradient (= Newton) freezes the gradient's direction.

For the logistic loss (canonical link) the Fisher equals the Hessian, so the natural-gradient flow
is the Newton flow, and along it d∇L/dt = ∇²L θ̇ = −∇L: the gradient keeps its direction and
shrinks like e^{−t}. On separable data the weights run off to infinity in a direction fixed by
that condition, not in the max-margin direction that gradient descent finds (Soudry et al.
2018), slowly, like 1/log t (Kerekes, Mészáros & Huszár 2021).

The data: two support points z = (1, ±0.5) that fix the max-margin direction (1, 0), and a far
cluster around (4, 4) that dominates the initial gradient.

Run:  python3 examples/logistic_newton_flow.py [--plot FILE.png]
"""

import argparse

import autograd
import autograd.numpy as np
import numpy as onp
import scipy.optimize

import rgeom
from rgeom.flows import integrate
from rgeom.flows.optimizers import get

rng = onp.random.default_rng(0)
N = 20
HALF = onp.concatenate([[[1.0, -0.5], [1.0, 0.5]], [4.0, 4.0] + 0.3 * rng.normal(size=(N // 2 - 2, 2))])
X = onp.concatenate([HALF, -HALF])
Y = onp.concatenate([onp.ones(N // 2), -onp.ones(N // 2)])
Z = X * Y[:, None]                              # y_i x_i: the data are separable through 0
T_NGD = 20.0
GD_TIMES = (10, 100, 1000, 10000)


def loss(w):
    """Mean logistic loss ``mean log(1 + exp(−y wᵀx))``."""
    return np.mean(np.logaddexp(0.0, -(Z @ w)))


def fisher(w):
    """Fisher = Hessian of the logistic loss: ``mean p(1 − p) x xᵀ``."""
    p = 1.0 / (1.0 + np.exp(-(Z @ w)))
    return (Z * (p * (1.0 - p))[:, None]).T @ Z / N


FISHER = rgeom.metrics.Dense(fisher, dim=2)


def max_margin_direction():
    """Unit max-margin direction: ``argmin ‖w‖²`` subject to ``y_i wᵀx_i >= 1`` (SLSQP)."""
    res = scipy.optimize.minimize(lambda w: w @ w, onp.ones(2), jac=lambda w: 2 * w, method="SLSQP",
                                  constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1, "jac": lambda w: Z}],
                                  options={"ftol": 1e-14, "maxiter": 200})
    return res.x / onp.linalg.norm(res.x)


def angle(w, u):
    """Angle in degrees between ``w`` and the unit vector ``u``."""
    return float(onp.degrees(onp.arccos(onp.clip(w @ u / onp.linalg.norm(w), -1.0, 1.0))))


def ngd_flow(t1=T_NGD, rtol=1e-10):
    """The natural-gradient flow from w = 0 (dopri5): ``Solution``."""
    return integrate(get("ngd", metric=FISHER).field(loss), (onp.zeros(2),), t1=t1, integrator="dopri5",
                     rtol=rtol, atol=1e-12)


def gd_run(t_max=max(GD_TIMES), lr=1.0):
    """Gradient descent from w = 0 (lr = 1) up to ``t_max``: its weights, shape ``(t_max + 1, 2)``."""
    return onp.asarray(get("gd").run(loss, onp.zeros(2), lr, int(t_max / lr)).ys[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    args = parser.parse_args(argv)

    u = max_margin_direction()
    grad = autograd.grad(loss)
    g0 = grad(onp.zeros(2))
    print(f"{N} separable points; max-margin direction {onp.round(u, 6)}")
    print(f"direction of −∇L(0): {onp.round(-g0 / onp.linalg.norm(g0), 6)}")

    sol = ngd_flow()
    print("\nnatural gradient flow (= Newton flow), dopri5, rtol 1e-10")
    print("      t      ‖w‖   angle to max-margin   ‖∇L(t)‖ e^t / ‖∇L(0)‖   1 − cos(∇L(t), ∇L(0))")
    for t in (1.0, 5.0, 10.0, 15.0, T_NGD):
        k = int(onp.argmin(onp.abs(sol.ts - t)))
        w, g = onp.asarray(sol.ys[0][k]), grad(onp.asarray(sol.ys[0][k]))
        ratio = onp.linalg.norm(g) * onp.exp(sol.ts[k]) / onp.linalg.norm(g0)
        cos = g @ g0 / (onp.linalg.norm(g) * onp.linalg.norm(g0))
        print(f"  {sol.ts[k]:6.2f}  {onp.linalg.norm(w):7.2f}  {angle(w, u):14.4f}°  {ratio:22.9f}  {abs(1 - cos):19.2e}")

    print("\ngradient descent, lr = 1")
    print("      t      ‖w‖   angle to max-margin")
    gd = gd_run()
    for t in GD_TIMES:
        print(f"  {t:6d}  {onp.linalg.norm(gd[t]):7.2f}  {angle(gd[t], u):14.4f}°")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        ax = axes[0]
        ax.scatter(*HALF.T, c="C0", s=14, label="y = +1")
        ax.scatter(*(-HALF).T, c="C3", s=14, label="y = −1")
        w_ngd = onp.asarray(sol.ys[0][-1])
        w_gd = gd[-1]
        for w, style, label in ((u, "k-", "max margin"), (w_gd, "C2--", "GD, t = 1e4"), (w_ngd, "C1:", "NGD limit")):
            normal = onp.array([-w[1], w[0]]) / onp.linalg.norm(w)
            ax.plot(*(onp.outer([-6, 6], normal)).T, style, label=f"{label} boundary")
        ax.set_xlim(-6, 6)
        ax.set_ylim(-6, 6)
        ax.set_aspect("equal")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("separable data and decision boundaries", fontsize=10)
        ax = axes[1]
        ts = sol.ts[1:]
        ax.semilogx(ts, [angle(onp.asarray(w), u) for w in sol.ys[0][1:]], "C1", label="natural gradient flow")
        gts = onp.unique(onp.logspace(0, 4, 30).astype(int))
        ax.semilogx(gts, [angle(gd[t], u) for t in gts], "C2", label="gradient descent (lr = 1)")
        ax.set_xlabel("time t")
        ax.set_ylabel("angle to the max-margin direction (°)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
