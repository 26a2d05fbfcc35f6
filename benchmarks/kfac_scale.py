"""Scale run: the invariant trace (K-FAC metric) of a ≈1M-parameter MLP within 4 GiB peak memory.

A 64-1024-896-10 tanh MLP (993 930 parameters, float64) on scikit-learn's digits (1797 samples,
batches of 600), briefly trained (seeded Adam). Computes the naive trace and the K-FAC-invariant
trace of ``G⁻¹ Hess L`` matrix-free (Hutchinson, whitened by the exact Kronecker factors), reports
wall times, HVP counts, standard errors, the metric's kernel dimension and the process's peak
resident memory (``ru_maxrss``, which includes the Python / torch runtime). No D × D matrix is
formed. Results: benchmarks/results/kfac_scale.json.

    python3 benchmarks/kfac_scale.py [--probes 20]
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
LIMIT_GIB = 4.0


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux: KiB


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "kfac_scale.json"))
    args = ap.parse_args()

    import torch
    from sklearn.datasets import load_digits

    from rgeom.flatness import flatness
    from rgeom.metrics.kfac import KFAC
    from rgeom.models import Problem, from_torch

    d = load_digits()
    X, y = d.data / 16.0, d.target.astype(np.int64)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 1024), torch.nn.Tanh(), torch.nn.Linear(1024, 896),
                              torch.nn.Tanh(), torch.nn.Linear(896, 10)).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    for _ in range(args.train_steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(Xt), yt)
        loss.backward()
        opt.step()
    model = from_torch(net)
    prob = Problem(model, "cross-entropy", (X, y), batch_size=600)
    print(f"D = {model.dim}, N = {prob.n}, training loss {float(loss):.4f}, peak so far {peak_gib():.2f} GiB")

    kw = dict(method="stochastic", measures=["trace"], n_probes=args.probes, christoffel=False, seed=0,
              progress=None)
    t = time.perf_counter()
    naive = flatness(prob, model.theta, None, **kw)  # the Problem itself: per-point Hessian kernels
    t_naive = time.perf_counter() - t
    t = time.perf_counter()
    G = KFAC(prob)
    inv = flatness(prob, model.theta, G, **kw)
    t_inv = time.perf_counter() - t
    peak = peak_gib()
    res = {
        "dim": model.dim, "n_data": prob.n, "dtype": "float64", "backend": "torch", "probes": args.probes,
        "naive_trace": naive.trace, "naive_stderr": naive.measures["trace"].stderr, "naive_seconds": t_naive,
        "invariant_trace": inv.trace, "invariant_stderr": inv.measures["trace"].stderr, "invariant_seconds": t_inv,
        "kernel_dim": inv.kernel_dim, "hvps": {"naive": naive.n_matvecs, "invariant": inv.n_matvecs},
        "converged": bool(inv.converged), "peak_rss_gib": peak, "limit_gib": LIMIT_GIB,
        "within_limit": bool(peak <= LIMIT_GIB), "kfac_over_naive_time": t_inv / t_naive,
    }
    print(json.dumps(res, indent=1))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
