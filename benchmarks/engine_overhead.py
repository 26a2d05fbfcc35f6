"""Overhead of rgeom's spectral engine over raw Hessian-vector products (torch, CPU).

Problem: the naive Hessian of a torch MLP 784 → 128 → 10 (tanh; 101 770 parameters) with
softmax cross-entropy on N = 512 synthetic samples, through ``rgeom.flatness`` (torch backend,
``torch.func`` forward-over-reverse products).

For each estimator the whole ``flatness(...)`` call is timed (operator set-up, gradient,
NumPy ↔ torch conversions, full reorthogonalisation, tridiagonal solves, probes) and compared
with ``n_matvecs × t_hvp``, where ``n_matvecs`` is the number of Hessian-vector products the call
reports and ``t_hvp`` the time of one raw ``Backend.hvp`` on torch tensors measured in the same
run (best of the raw calls interleaved with the cases). Target: ratio ≤ 1.2 (engine overhead
≤ 20 %). Because a shared machine makes single products drift, the time spent inside the
products during each call is also recorded (the backend's ``hvp`` is wrapped with a timer in
this process), giving ``wall / in-call HVP time`` — the overhead with the drift removed.

Timings are round-robin over the cases; ratios use the best of ``--repeats`` runs (medians are
reported alongside) because the machine is shared. torch's intra-op thread count is fixed with
``--threads`` (default 1: on a shared machine a spinning thread pool makes single products
erratic) and recorded.

Run ``python3 benchmarks/engine_overhead.py`` (``--quick`` for a smoke run); writes
``benchmarks/results/engine_overhead.json``.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import rgeom  # noqa: E402
from rgeom.backend import get_backend  # noqa: E402


def mlp_problem(n_in=784, n_hidden=128, n_out=10, n_samples=512, dtype=torch.float64, seed=0):
    """Cross-entropy loss of a tanh MLP as a function of the flat parameter vector."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_in, generator=gen, dtype=dtype)
    y = torch.randint(0, n_out, (n_samples,), generator=gen)
    shapes = [(n_hidden, n_in), (n_hidden,), (n_out, n_hidden), (n_out,)]
    sizes = [int(np.prod(s)) for s in shapes]
    offs = np.cumsum([0] + sizes)

    def loss(theta):
        W1, b1, W2, b2 = (theta[offs[i] : offs[i + 1]].reshape(shapes[i]) for i in range(4))
        logits = torch.tanh(X @ W1.T + b1) @ W2.T + b2
        return torch.nn.functional.cross_entropy(logits, y)

    theta = torch.randn(offs[-1], generator=gen, dtype=dtype) * 0.05
    return loss, theta


CASES = {
    "top eigenvalue (lanczos, tol 1e-3)": dict(
        method="lanczos", measures=["max_eigenvalue"], tol=1e-3
    ),
    "top-5 eigenvalues (lanczos, tol 1e-6)": dict(
        method="lanczos", measures=["max_eigenvalue"], k=5, tol=1e-6
    ),
    "trace (hutch++, 30 products)": dict(method="lanczos", measures=["trace"], n_probes=30),
    "trace (hutchinson, 30 probes)": dict(method="stochastic", measures=["trace"], n_probes=30),
    "log-det (slq, 5 probes x 20 steps)": dict(
        method="lanczos", measures=["logdet"], slq_probes=5, lanczos_steps=20
    ),
}


def time_hvp(bk, loss, theta, repeats):
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(1), dtype=theta.dtype)
    bk.hvp(loss, theta, v)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bk.hvp(loss, theta, v)
        times.append(time.perf_counter() - t0)
    return times


class _TimedHVP:
    """Wrap ``bk.hvp`` (an attribute on this process's cached backend) with a stopwatch."""

    def __init__(self, bk):
        self.bk, self.inner, self.total, self.calls = bk, bk.hvp, 0.0, 0

    def __call__(self, f, x, v):
        t0 = time.perf_counter()
        out = self.inner(f, x, v)
        self.total += time.perf_counter() - t0
        self.calls += 1
        return out

    def __enter__(self):
        self.total, self.calls = 0.0, 0
        self.bk.hvp = self
        return self

    def __exit__(self, *exc):
        del self.bk.hvp
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--quick", action="store_true", help="small network, one repeat (smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "engine_overhead.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    kw = dict(n_in=64, n_hidden=32, n_samples=64) if args.quick else {}
    repeats = 1 if args.quick else args.repeats
    loss, theta = mlp_problem(dtype=dtype, **kw)
    bk = get_backend("torch")
    print(
        f"engine overhead: torch MLP, D = {theta.numel()} parameters, {args.dtype}, "
        f"{args.threads} thread(s)"
    )
    hvp_times, runs = [], {name: [] for name in CASES}
    hvp_times += time_hvp(bk, loss, theta, 5)
    for name, case in CASES.items():  # warm-up of every path
        rgeom.flatness(loss, theta, progress=False, **case)
    for _ in range(repeats):
        for name, case in CASES.items():
            hvp_times += time_hvp(bk, loss, theta, 3)
            with _TimedHVP(bk) as timer:
                t0 = time.perf_counter()
                f = rgeom.flatness(loss, theta, progress=False, **case)
                wall = time.perf_counter() - t0
            assert timer.calls == f.n_matvecs, (timer.calls, f.n_matvecs)
            runs[name].append((wall, f, timer.total))
    t_hvp = min(hvp_times)
    t_hvp_med = statistics.median(hvp_times)
    print(f"one raw HVP: best {t_hvp * 1e3:.2f} ms, median {t_hvp_med * 1e3:.2f} ms")
    rows = []
    for name, res in runs.items():
        walls = [w for w, _, _ in res]
        f = res[0][1]
        n = f.n_matvecs
        best = min(walls) / (n * t_hvp)
        med = statistics.median(walls) / (n * t_hvp_med)
        inrun = min(w / h for w, _, h in res)
        m = next(iter(f.measures.values()))
        rows.append(
            {
                "case": name,
                "n_matvecs": n,
                "wall_best_s": min(walls),
                "wall_median_s": statistics.median(walls),
                "ratio_best": best,
                "ratio_median": med,
                "ratio_in_call": inrun,
                "value": m.value,
                "stderr": m.stderr,
                "converged": m.converged,
            }
        )
        print(
            f"  {name:<40} {n:>5} HVPs  wall {min(walls):7.3f} s  ratio {best:.3f} "
            f"(median {med:.3f}; wall / in-call HVP time {inrun:.3f})  "
            f"value {m.value:.6g} ± {m.stderr:.2g}"
        )
    worst = max(r["ratio_best"] for r in rows)
    worst_in = max(r["ratio_in_call"] for r in rows)
    print(f"worst ratio {worst:.3f}; worst wall / in-call HVP time {worst_in:.3f} (target ≤ 1.2)")
    payload = {
        "benchmark": "engine_overhead",
        "target_ratio": 1.2,
        "worst_ratio_best": worst,
        "worst_ratio_in_call": worst_in,
        "parameters": int(theta.numel()),
        "dtype": args.dtype,
        "threads": args.threads,
        "repeats": repeats,
        "t_hvp_best_s": t_hvp,
        "t_hvp_median_s": t_hvp_med,
        "cases": rows,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quick": bool(args.quick),
    }
    if not args.quick:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {args.out}")
    return payload


if __name__ == "__main__":
    main()
