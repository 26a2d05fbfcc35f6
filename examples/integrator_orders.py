"""Measured order = declared order for every integrator of rgeom.flows.

On the linear flow ẏ = A y (eigenvalues −1, −2, −0.5 ± 2i), whose exact solution is
expm(A t) y0, the error at t = 1 of each fixed-step integrator is fitted against the step size
on a log-log scale: the slope is the order. The adaptive Dormand–Prince pair is checked the way
it is used: the number of steps grows like tol^(−1/5) and the error follows the tolerance, with
exactly the steps of scipy's RK45.

Run:  python3 examples/integrator_orders.py [--plot orders.png]
"""

import argparse

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from rgeom.flows import integrate, integrators

rng = np.random.default_rng(0)
D = np.zeros((4, 4))
D[0, 0], D[3, 3] = -1.0, -2.0
D[1:3, 1:3] = [[-0.5, 2.0], [-2.0, -0.5]]
P = np.eye(4) + 0.3 * rng.standard_normal((4, 4))
A = P @ D @ np.linalg.inv(P)
Y0 = np.array([1.0, -0.5, 0.25, 2.0])


def field(t, y):
    return (A @ y[0],)


def fixed_step_errors(name, ns):
    errs = []
    for n in ns:
        sol = integrate(field, (Y0,), dt=1.0 / n, n_steps=n, integrator=name, save_every=n)
        errs.append(np.abs(sol.y_final[0] - expm(A) @ Y0).max())
    return 1.0 / np.asarray(ns), np.asarray(errs)


def dopri5_step_errors(ns):
    """The fifth-order formula of the adaptive pair, used with fixed steps."""
    integ, errs = integrators.get("dopri5"), []
    for n in ns:
        y, h = (Y0,), 1.0 / n
        for k in range(n):
            y = integ.step(field, k * h, y, h)
        errs.append(np.abs(y[0] - expm(A) @ Y0).max())
    return 1.0 / np.asarray(ns), np.asarray(errs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save the log-log plot (PNG) to FILE")
    args = parser.parse_args()

    print("eigenvalues of A:", np.round(np.sort_complex(np.linalg.eigvals(A)), 6))
    runs = {
        "euler": fixed_step_errors("euler", [64, 128, 256, 512]),
        "heun": fixed_step_errors("heun", [16, 32, 64, 128]),
        "rk4": fixed_step_errors("rk4", [8, 16, 32, 64]),
        "dopri5": dopri5_step_errors([16, 32, 64]),
    }
    print("\nfixed steps, error at t = 1 against expm(A) y0")
    print(f"  {'integrator':10s} {'declared':>8s} {'measured':>9s}   errors (largest h first)")
    slopes = {}
    for name, (hs, errs) in runs.items():
        slopes[name] = np.polyfit(np.log(hs), np.log(errs), 1)[0]
        print(f"  {name:10s} {integrators.get(name).order:8d} {slopes[name]:9.3f}   "
              + " ".join(f"{e:.2e}" for e in errs))

    print("\nadaptive dopri5 against scipy RK45 on [0, 10] (rtol = atol = tol)")
    print(f"  {'tol':>7s} {'steps':>6s} {'evals':>6s} {'scipy evals':>11s} {'error':>9s} {'scipy error':>11s}")
    tols = 10.0 ** -np.arange(4, 11)
    steps, errs = [], []
    exact10 = expm(10 * A) @ Y0
    for tol in tols:
        sol = integrate(field, (Y0,), t1=10.0, integrator="dopri5", rtol=tol, atol=tol)
        ref = solve_ivp(lambda t, y: A @ y, (0, 10), Y0, rtol=tol, atol=tol)
        steps.append(sol.n_steps)
        errs.append(np.abs(sol.y_final[0] - exact10).max())
        print(f"  {tol:7.0e} {sol.n_steps:6d} {sol.n_field_evals:6d} {ref.nfev:11d} {errs[-1]:9.2e} "
              f"{np.abs(ref.y[:, -1] - exact10).max():11.2e}")
    print(f"  slope of log(steps) vs log(tol): {np.polyfit(np.log(tols), np.log(steps), 1)[0]:.3f} "
          f"(expected -1/(error order + 1) = {-1 / (integrators.get('dopri5').error_order + 1):.3f})")
    print(f"  slope of log(error) vs log(tol): {np.polyfit(np.log(tols), np.log(errs), 1)[0]:.3f} (expected ≈ 1)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name, (hs, e) in runs.items():
            ax.loglog(hs, e, "o-", label=f"{name}: slope {slopes[name]:.2f} (order {integrators.get(name).order})")
        ax.set_xlabel("step size h")
        ax.set_ylabel("max error at t = 1")
        ax.set_title("ẏ = A y: error against step size")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nplot saved to {args.plot}")


if __name__ == "__main__":
    main()
