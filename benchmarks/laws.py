"""Counting conservation laws: a sweep of 100 random deep networks against closed forms.

Problem (Marcotte, Gribonval & Peyré 2023, §5): 50 random deep linear networks (depth 2–4 weight
layers, every width in 2–5) and 50 random deep ReLU networks (depth 2–4, widths 2–9, bias on or
off at random). For each, ``rgeom.conservation.lie_algebra`` computes ``D − dim Lie(W)`` at 3
random points (nested JVPs with ``torch.func``, float64, measured rank gaps) and the result is
checked against the closed form: for a linear network the sum over hidden layers of
``k r − k(k−1)/2`` with ``k = min(r, n + m)`` (``r(r+1)/2`` when ``r ≤ n + m``); for a ReLU
network the number of hidden neurons. Target: the whole sweep in under 2 minutes on a 2-core
machine (the authors' symbolic code needed about 34 minutes on 64 cores for the linear half;
quoted from the paper, not re-run here).

Baseline measured in the same run: the symbolic approach — generators ``∇φᵢ`` of the end-to-end
matrix as exact polynomials over ℚ (sympy sparse rings), brackets expanded symbolically, ranks
decided exactly at a random integer point, keeping brackets that raise the rank — on the linear
networks small enough for it (``--baseline-max-dim``), each also timed with rgeom. The ratio of
the two totals on those networks is reported (and the exact counts double-check rgeom's).

torch's intra-op threads and the BLAS threads of NumPy's small SVDs (through ``threadpoolctl``
when installed) are fixed with ``--threads`` (default 1: on a shared machine a spinning thread
pool makes small products and factorizations erratic: a 115 × 112 SVD took 10 ms median and up
to 0.5 s with two OpenBLAS threads, 0.75 ms with one). The first call (torch start-up) is timed
separately as ``warmup_s``.

Run ``python3 benchmarks/laws.py`` (``--quick`` for a smoke run); writes
``benchmarks/results/laws.json``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rgeom.conservation import architectures, lie_algebra  # noqa: E402
from rgeom.conservation.lie import UncertainRankWarning  # noqa: E402


def random_networks(n, seed=0):
    """``n`` random deep linear and ``n`` random deep ReLU architectures (fixed seed)."""
    rng = np.random.default_rng(seed)
    linear, relu = [], []
    for _ in range(n):
        depth = int(rng.integers(2, 5))
        linear.append(architectures.linear_network(rng.integers(2, 6, size=depth + 1).tolist()))
    for _ in range(n):
        depth = int(rng.integers(2, 5))
        relu.append(architectures.relu_network(rng.integers(2, 10, size=depth + 1).tolist(),
                                               bias=bool(rng.integers(0, 2))))
    return linear, relu


def count(arch, backend, seed):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncertainRankWarning)   # recorded in the result
        res = lie_algebra(arch.generators(backend=backend), n_points=3, seed=seed)
    seconds = time.perf_counter() - t0
    return {"spec": arch.spec, "D": res.D, "dim_W": res.dim_W, "dim_lie": res.dim_lie, "n_laws": res.n_laws,
            "expected": arch.expected_laws, "match": res.n_laws == arch.expected_laws, "certain": res.certain,
            "levels": len(res.levels), "min_gap": min(min(d.gap for d in lv.decisions) for lv in res.levels),
            "seconds": round(seconds, 4)}


# --- the symbolic baseline ----------------------------------------------------------------------
def symbolic_count(widths, seed=0):
    """Exact ``D − dim Lie`` of a deep linear network, the symbolic way (sympy over ℚ)."""
    from sympy import QQ, Symbol
    from sympy.polys.matrices import DomainMatrix
    from sympy.polys.rings import ring

    arch = architectures.linear_network(widths)
    D = arch.dim
    R, *x = ring([Symbol(f"x{i}") for i in range(D)], QQ)
    theta = np.array(x, dtype=object)
    p = {n: np.reshape(theta[arch.layout.index(n)], s) for n, s in zip(arch.layout.names, arch.layout.shapes)}
    M = p["W1"]
    for i in range(2, len(widths)):
        M = p[f"W{i}"] @ M
    gens = [[f.diff(xi) for xi in x] for f in M.reshape(-1)]
    rng = np.random.default_rng(seed)
    point = [int(v) for v in rng.integers(-20, 21, size=D)]

    def value(field):
        return [QQ.convert(c(*point)) for c in field]

    def bracket(X, Y):   # DY·X − DX·Y, expanded
        return [sum((X[j] * Y[k].diff(x[j]) - Y[j] * X[k].diff(x[j]) for j in range(D)), R.zero)
                for k in range(D)]

    kept, rows, newest = [], [], []
    for g in gens:
        cand = rows + [value(g)]
        if DomainMatrix(cand, (len(cand), D), QQ).rank() > len(rows):
            rows, kept = cand, kept + [g]
    newest = list(kept)
    while newest and len(rows) < D:
        added = []
        for X in gens:
            for Y in newest:
                Z = bracket(X, Y)
                cand = rows + [value(Z)]
                if DomainMatrix(cand, (len(cand), D), QQ).rank() > len(rows):
                    rows, added = cand, added + [Z]
        newest = added
    return D - len(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50, help="networks of each kind (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--baseline-max-dim", type=int, default=26,
                        help="symbolic baseline on linear networks with D <= this (default 26)")
    parser.add_argument("--quick", action="store_true", help="5 networks of each kind, small baseline")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "laws.json"))
    args = parser.parse_args(argv)
    n = 5 if args.quick else args.n
    if args.backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        blas = None
    else:
        blas = threadpool_limits(args.threads)
    linear, relu = random_networks(n, args.seed)

    t0 = time.perf_counter()
    count(architectures.linear_network([2, 2, 2]), args.backend, 0)          # start-up (imports, first vmap)
    warmup = time.perf_counter() - t0

    t_sweep = time.perf_counter()
    lin_rows = [count(a, args.backend, args.seed + i) for i, a in enumerate(linear)]
    t_lin = time.perf_counter() - t_sweep
    relu_rows = [count(a, args.backend, args.seed + i) for i, a in enumerate(relu)]
    t_total = time.perf_counter() - t_sweep

    base_rows = []
    for arch in linear:
        if arch.dim > args.baseline_max_dim or (args.quick and len(base_rows) >= 2):
            continue
        widths = [int(w) for w in arch.spec.split(":")[1].split(",")]
        t0 = time.perf_counter()
        exact = symbolic_count(widths, args.seed)
        t_sym = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = count(arch, args.backend, args.seed)
        base_rows.append({"spec": arch.spec, "D": arch.dim, "symbolic_laws": exact, "rgeom_laws": again["n_laws"],
                          "agree": exact == again["n_laws"] == arch.expected_laws,
                          "symbolic_s": round(t_sym, 4), "rgeom_s": round(time.perf_counter() - t0, 4)})
    sym_total = sum(r["symbolic_s"] for r in base_rows)
    rgeom_total = sum(r["rgeom_s"] for r in base_rows)

    rows = lin_rows + relu_rows
    result = {
        "benchmark": "laws",
        "description": "D - dim Lie(W) for random deep linear and ReLU networks vs closed forms",
        "backend": args.backend, "torch_threads": args.threads if args.backend == "torch" else None,
        "blas_threads": args.threads if blas is not None else "default",
        "n_linear": len(lin_rows), "n_relu": len(relu_rows),
        "all_match": all(r["match"] for r in rows), "n_mismatch": sum(not r["match"] for r in rows),
        "n_uncertain": sum(not r["certain"] for r in rows),
        "min_gap": min(r["min_gap"] for r in rows),
        "warmup_s": round(warmup, 3), "linear_s": round(t_lin, 3), "relu_s": round(t_total - t_lin, 3),
        "sweep_s": round(t_total, 3), "target_s": 120.0, "within_target": t_total < 120.0,
        "max_network_s": max(r["seconds"] for r in rows),
        "baseline": {"method": "symbolic brackets over Q (sympy), exact rank at an integer point",
                     "networks": base_rows, "symbolic_total_s": round(sym_total, 3),
                     "rgeom_total_s": round(rgeom_total, 3),
                     "speedup": round(sym_total / rgeom_total, 2) if rgeom_total else None,
                     "all_agree": all(r["agree"] for r in base_rows)},
        "reference": "Marcotte, Gribonval & Peyré (2023): ~34 min on 64 cores for the linear half (quoted)",
        "networks": rows,
        "platform": {"python": platform.python_version(), "machine": platform.machine(),
                     "numpy": np.__version__},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{len(lin_rows)} linear + {len(relu_rows)} ReLU networks: sweep {t_total:.1f} s "
          f"(linear {t_lin:.1f} s, ReLU {t_total - t_lin:.1f} s; start-up {warmup:.1f} s), "
          f"mismatches {result['n_mismatch']}, uncertain {result['n_uncertain']}, "
          f"slowest network {result['max_network_s']:.2f} s, smallest gap {result['min_gap']:.3g}")
    print(f"symbolic baseline on {len(base_rows)} small linear networks: {sym_total:.2f} s vs rgeom "
          f"{rgeom_total:.2f} s (x{result['baseline']['speedup']}), exact counts agree: "
          f"{result['baseline']['all_agree']}")
    return 0 if result["all_match"] else 1


if __name__ == "__main__":
    sys.exit(main())
