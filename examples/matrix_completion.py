"""Matrix completion with deep factorizations: gradient descent generalizes, natural gradient does not.

A rank-1 matrix M ∈ R^{6×6} is observed on half of its entries (every row and column at least
twice). The model is a deep linear factorization W = W_N ⋯ W₁ (N = 1, 2, 3) started near zero
(W_i = 0.1·I), fitted to the observed entries, L(W) = ½ Σ_Ω (W_ij − M_ij)².

* Gradient descent on the factors is biased towards low rank, more so with depth (Arora et al.
  2019): at depth 3 it recovers M, including the unobserved entries.
* Natural gradient with the Fisher of the observations (the projector P_Ω on the observed entries,
  plus ε·I so that it is a metric on W) is invariant under the factorization: at every depth it
  follows the depth-1 trajectory, whose unobserved entries never move (the gradient has none).
  Depth does nothing, and NGD does not generalize (Kerekes, Mészáros & Huszár 2021).

Printed: the relative error on the unobserved entries, ‖(W − M)_Ωᶜ‖ / ‖M_Ωᶜ‖, and the training
loss. With ``--pinv`` the metric is P_Ω alone (singular): the pseudo-inverse then picks the
minimum-norm step in the factors, which brings the factorization's bias back (see
docs/inductive_bias.md).

Run:  python3 examples/matrix_completion.py [--plot FILE.png] [--pinv]
"""

import argparse

import autograd.numpy as np
import numpy as onp

import rgeom
from rgeom.flows import integrate
from rgeom.flows.map_families import DeepLinear
from rgeom.flows.optimizers import get

N, RANK, FRACTION, INIT, EPS = 6, 1, 0.5, 0.1, 1e-3
GD_LR, GD_STEPS, NGD_T = 0.05, 1600, 10.0

rng = onp.random.default_rng(1)
M = rng.normal(size=(N, RANK)) @ rng.normal(size=(RANK, N))
M *= N / onp.linalg.norm(M)
while True:                                       # every row and column observed at least twice
    MASK = rng.uniform(size=(N, N)) < FRACTION
    if MASK.sum(0).min() >= 2 and MASK.sum(1).min() >= 2:
        break
OBS = MASK.ravel()


def loss(w):
    """½ Σ over observed entries of (W_ij − M_ij)², for the flattened end-to-end matrix."""
    r = w - M.ravel()
    return 0.5 * np.sum(np.where(OBS, r * r, 0.0))


def test_error(w):
    """Relative error on the unobserved entries."""
    w = onp.asarray(w).ravel()
    return float(onp.linalg.norm((w - M.ravel())[~OBS]) / onp.linalg.norm(M.ravel()[~OBS]))


def fisher(eps=EPS):
    """The Fisher of the observations on W, P_Ω, plus ``eps·I`` (constant)."""
    return rgeom.metrics.Dense(lambda w: np.diag(OBS.astype(float)) + eps * np.eye(N * N), dim=N * N)


def factorization(depth):
    """The submersion π of depth ``depth`` and the start W_i = INIT · I."""
    pi = DeepLinear(N, N, hidden=(N,) * (depth - 1))
    return pi, onp.concatenate([(INIT * onp.eye(N)).ravel()] * depth)


def fit(depth, method, *, eps=EPS):
    """The end-to-end matrix (flattened) after gradient descent or the natural-gradient flow."""
    pi, psi0 = factorization(depth)
    big_loss = lambda p: loss(pi.forward(p))  # noqa: E731
    if method == "gd":
        sol = get("gd").run(big_loss, psi0, GD_LR, GD_STEPS, save_every=GD_STEPS)
    else:
        # pseudo-inverse of the pulled-back (singular) metric; adaptive steps near the small start
        opt = get("ngd", metric=fisher(eps), pinv=True, rcond=1e-12).pullback(pi)
        sol = integrate(opt.field(big_loss), (psi0,), t1=NGD_T, integrator="dopri5", rtol=1e-7, atol=1e-9,
                        save_every=10 ** 6)
    sol.check()
    return onp.asarray(pi(sol.ys[0][-1]))


def results(eps=EPS):
    """``{(method, depth): (test error, training loss, singular values, W)}``."""
    out = {}
    for depth in (1, 2, 3):
        for method in ("gd", "ngd"):
            w = fit(depth, method, eps=eps)
            sv = onp.linalg.svd(w.reshape(N, N), compute_uv=False)
            out[method, depth] = (test_error(w), float(loss(w)), sv, w.reshape(N, N))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save a figure (PNG) to FILE")
    parser.add_argument("--pinv", action="store_true", help="NGD with the singular Fisher P_Ω (eps = 0)")
    args = parser.parse_args(argv)
    eps = 0.0 if args.pinv else EPS

    print(f"rank-{RANK} M ∈ R^{N}x{N}, {OBS.sum()} of {N * N} entries observed; W = W_N ⋯ W₁, W_i(0) = {INIT}·I")
    print(f"GD: lr = {GD_LR}, {GD_STEPS} steps.  NGD: metric P_Ω + {eps:g}·I pulled back (pseudo-inverse), "
          f"dopri5 to t = {NGD_T}")
    print("\nmethod  depth   test error (unobserved)   training loss   singular values of W")
    res = results(eps)
    for method in ("gd", "ngd"):
        for depth in (1, 2, 3):
            err, train, sv, _ = res[method, depth]
            print(f"  {method.upper():4s}  {depth:5d}   {err:23.4f}   {train:13.2e}   {onp.round(sv[:3], 3)}")
    best_ngd = min(res["ngd", d][0] for d in (1, 2, 3))
    print(f"\nGD at depth 3: test error {res['gd', 3][0]:.4f}; best NGD run: {best_ngd:.4f} "
          f"({best_ngd / res['gd', 3][0]:.0f}x larger)")

    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        depths = onp.arange(1, 4)
        for off, method, color in ((-0.18, "gd", "C2"), (0.18, "ngd", "C1")):
            axes[0].bar(depths + off, [res[method, d][0] for d in depths], width=0.36, color=color,
                        label=method.upper())
        axes[0].set_xticks(depths)
        axes[0].set_xlabel("depth N")
        axes[0].set_ylabel("relative error on unobserved entries")
        axes[0].set_yscale("log")
        axes[0].legend()
        for method, style in (("gd", "o-"), ("ngd", "s--")):
            for depth, color in zip(depths, ("C0", "C1", "C2")):
                axes[1].semilogy(onp.arange(1, N + 1), res[method, depth][2] + 1e-16, style, color=color,
                                 label=f"{method.upper()}, depth {depth}", ms=4)
        axes[1].set_xlabel("index")
        axes[1].set_ylabel("singular value of W")
        axes[1].legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
