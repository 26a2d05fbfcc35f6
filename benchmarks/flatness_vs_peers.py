"""rgeom vs PyHessian vs curvlinops: top Hessian eigenvalue and trace, one process, same model/data/dtype.

Models, both trained (seeded, full-batch Adam) on scikit-learn's digits (1797 × 64, float64):
(a) a 64-256-256-10 tanh MLP (85 002 parameters), (b) a small CNN (conv 1→8, conv 8→16 stride 2,
linear 256→10; 3 818 parameters). For each: a converged reference (scipy eigsh to 1e-10 for
the top eigenvalue; Hutch++ with a large budget — or the exact trace for the CNN — for the
trace), then wall time, Hessian-vector-product (HVP) count and accuracy of

* top eigenvalue at relative tolerance 1e-3: rgeom Lanczos; PyHessian power iteration
  (``tol=1e-3``); curvlinops ``HessianLinearOperator`` + ``scipy.sparse.linalg.eigsh`` (``tol=1e-3``);
* trace at an equal probe count: rgeom Hutchinson; PyHessian's Hutchinson; curvlinops'
  ``hutchinson_trace``;
* invariant measures with the K-FAC metric vs the naive (Euclidean) ones (top eigenvalue + trace);
* rgeom's overhead: total time / (its HVP count × the cost of one HVP measured here).

Backend: rgeom's torch backend (the fastest here for HVPs of torch models). Peers missing from the
environment are skipped cleanly. Results: benchmarks/results/flatness_vs_peers.json.

    python3 benchmarks/flatness_vs_peers.py [--quick]

Install note: ``pip install pyhessian``; curvlinops: ``pip install --no-deps curvlinops-for-pytorch``
plus ``einops einconv linear_operator opt-einsum tqdm`` (its declared dependency on
backpack-for-pytorch would pull torchvision and a CUDA torch).
"""

import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

HERE = os.path.dirname(os.path.abspath(__file__))


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target.astype(np.int64)


def make_models(torch):
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256),
                              torch.nn.Tanh(), torch.nn.Linear(256, 10))
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 8, 3, padding=1),
                              torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, padding=1, stride=2), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 10))
    return {"mlp_64-256-256-10_tanh": mlp, "cnn_digits": cnn}


def train(torch, model, X, y, steps):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
    return float(loss)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def rel(a, b):
    return abs(a - b) / abs(b)


def run_case(torch, name, module, X, y, args):
    from rgeom.flatness import flatness
    from rgeom.linalg import hutchpp
    from rgeom.linalg.shape import shape_problem
    from rgeom.metrics.kfac import KFAC
    from rgeom.models import Problem, from_torch

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    final_loss = train(torch, module, Xt, yt, args.train_steps)
    model = from_torch(module)
    prob = Problem(model, "cross-entropy", (X, y))
    theta = model.theta
    D = model.dim
    out = {"dim": D, "train_loss": final_loss, "n_data": len(X), "dtype": "float64"}
    print(f"\n== {name}: D = {D}, N = {len(X)}, training loss {final_loss:.4f}")

    # the cost of one HVP through rgeom's engine (numpy <-> torch conversion included)
    H = shape_problem(prob.objective, theta, None, christoffel=False).hessian
    v = np.random.default_rng(0).standard_normal(D)
    H.mv(v)
    hvp = float(np.median([timed(lambda: H.mv(v))[1] for _ in range(args.hvp_reps)]))  # robust to load spikes
    out["rgeom_hvp_seconds"] = hvp

    # references
    import scipy.sparse.linalg as sla

    op = sla.LinearOperator((D, D), matvec=lambda x: H.mv(np.ravel(x)), dtype=np.float64)
    (lam_ref, _), t_ref = timed(lambda: sla.eigsh(op, k=1, which="LA", tol=1e-10))
    lam_ref = float(lam_ref[0])
    if D <= args.exact_trace_max_dim:
        eye = np.eye(D)
        tr_ref, tr_ref_se = float(sum(H.mv(eye[i])[i] for i in range(D))), 0.0
    else:
        est = hutchpp(H, args.ref_trace_matvecs, seed=123, progress=False)
        tr_ref, tr_ref_se = float(est.value), float(est.stderr)
    out["reference"] = {"max_eigenvalue": lam_ref, "trace": tr_ref, "trace_stderr": tr_ref_se}
    print(f"   reference: λmax {lam_ref:.8g}, trace {tr_ref:.6g} ± {tr_ref_se:.2g}; one HVP {hvp * 1e3:.2f} ms")

    rows = {}
    # --- top eigenvalue --------------------------------------------------------------------
    f, t = timed(lambda: flatness(prob.objective, theta, None, method="lanczos", measures=["max_eigenvalue"],
                                  k=1, tol=1e-3, christoffel=False, progress=False, seed=0))
    n = f.measures["max_eigenvalue"].n_matvecs
    rows["eig_rgeom"] = {"seconds": t, "hvps": n, "value": f.max_eigenvalue, "rel_error": rel(f.max_eigenvalue, lam_ref),
                         "overhead": t / (n * hvp)}
    if importlib.util.find_spec("pyhessian"):
        import pyhessian.utils as ph_utils
        from pyhessian import hessian as PyHessian

        ph_mod = sys.modules["pyhessian.hessian"]  # the module (the package exports the class as `hessian`)

        count = {"n": 0}
        orig = ph_utils.hessian_vector_product

        def counted(*a, **k):
            count["n"] += 1
            return orig(*a, **k)

        ph_mod.hessian_vector_product = counted
        comp = PyHessian(module, torch.nn.CrossEntropyLoss(), data=(Xt, yt), cuda=False)
        torch.manual_seed(0)
        (ev, _), t = timed(lambda: comp.eigenvalues(maxIter=1000, tol=1e-3, top_n=1))
        rows["eig_pyhessian"] = {"seconds": t, "hvps": count["n"], "value": float(ev[0]),
                                 "rel_error": rel(float(ev[0]), lam_ref)}
        count["n"] = 0
        torch.manual_seed(0)
        tr, t = timed(lambda: comp.trace(maxIter=args.probes, tol=0.0))
        rows["trace_pyhessian"] = {"seconds": t, "hvps": count["n"], "value": float(np.mean(tr)),
                                   "rel_error": rel(float(np.mean(tr)), tr_ref)}
        ph_mod.hessian_vector_product = orig
    else:
        print("   PyHessian not installed: skipped")
    if importlib.util.find_spec("curvlinops"):
        from curvlinops import HessianLinearOperator, hutchinson_trace

        params = [p for p in module.parameters() if p.requires_grad]
        Hc = HessianLinearOperator(module, torch.nn.CrossEntropyLoss(), params, [(Xt, yt)], check_deterministic=False)
        Hs = Hc.to_scipy()
        count = {"n": 0}

        def mv(x):
            count["n"] += 1
            return Hs.matvec(x)

        ops = sla.LinearOperator((D, D), matvec=mv, dtype=np.float64)
        (ev, _), t = timed(lambda: sla.eigsh(ops, k=1, which="LA", tol=1e-3))
        rows["eig_curvlinops"] = {"seconds": t, "hvps": count["n"], "value": float(ev[0]),
                                  "rel_error": rel(float(ev[0]), lam_ref)}
        torch.manual_seed(0)
        tr, t = timed(lambda: hutchinson_trace(Hc, args.probes))
        rows["trace_curvlinops"] = {"seconds": t, "hvps": args.probes, "value": float(tr),
                                    "rel_error": rel(float(tr), tr_ref)}
    else:
        print("   curvlinops not installed: skipped")

    # --- trace at equal probe count -------------------------------------------------------------
    f, t = timed(lambda: flatness(prob.objective, theta, None, method="stochastic", measures=["trace"],
                                  n_probes=args.probes, christoffel=False, progress=False, seed=0))
    n = f.measures["trace"].n_matvecs
    rows["trace_rgeom"] = {"seconds": t, "hvps": n, "value": f.trace, "stderr": f.measures["trace"].stderr,
                           "rel_error": rel(f.trace, tr_ref), "overhead": t / (n * hvp)}

    # --- invariant (K-FAC) vs naive ---------------------------------------------------------------
    kw = dict(method="lanczos", measures=["max_eigenvalue", "trace"], k=1, tol=1e-3, n_probes=args.probes,
              christoffel=False, progress=False, seed=0)
    f_e, t_e = timed(lambda: flatness(prob.objective, theta, None, **kw))
    f_k, t_k = timed(lambda: flatness(prob.objective, theta, KFAC(prob), **kw))
    rows["naive_euclidean"] = {"seconds": t_e, "hvps": f_e.n_matvecs, "max_eigenvalue": f_e.max_eigenvalue,
                               "trace": f_e.trace}
    rows["invariant_kfac"] = {"seconds": t_k, "hvps": f_k.n_matvecs, "max_eigenvalue": f_k.max_eigenvalue,
                              "trace": f_k.trace, "kernel_dim": f_k.kernel_dim, "converged": f_k.converged}
    out["rows"] = rows

    ratios = {}
    for peer in ("pyhessian", "curvlinops"):
        if f"eig_{peer}" in rows:
            ratios[f"eig_time_rgeom/{peer}"] = rows["eig_rgeom"]["seconds"] / rows[f"eig_{peer}"]["seconds"]
        if f"trace_{peer}" in rows:
            ratios[f"trace_time_rgeom/{peer}"] = rows["trace_rgeom"]["seconds"] / rows[f"trace_{peer}"]["seconds"]
    ratios["kfac_invariant/euclidean_time"] = t_k / t_e
    ratios["rgeom_eig_overhead"] = rows["eig_rgeom"]["overhead"]
    ratios["rgeom_trace_overhead"] = rows["trace_rgeom"]["overhead"]
    out["ratios"] = ratios

    print(f"   {'row':<18}{'seconds':>9}{'HVPs':>7}{'value':>15}{'rel.err':>10}")
    for key, r in rows.items():
        val = r.get("value", r.get("max_eigenvalue"))
        err = r.get("rel_error")
        print(f"   {key:<18}{r['seconds']:>9.3f}{r['hvps']:>7}{val:>15.7g}{'' if err is None else format(err, '.1e'):>10}")
    for k, v in ratios.items():
        print(f"   ratio {k:<32} {v:.3f}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer training steps and probes (smoke run)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "flatness_vs_peers.json"))
    args = ap.parse_args()
    args.train_steps = 50 if args.quick else 300
    args.probes = 20 if args.quick else 50
    args.hvp_reps = 5 if args.quick else 11
    args.ref_trace_matvecs = 300 if args.quick else 1000
    args.exact_trace_max_dim = 0

    import torch

    torch.set_default_dtype(torch.float64)  # PyHessian draws its probes in the default dtype
    X, y = digits()
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "backend": "torch",
               "quick": bool(args.quick), "peers": {p: bool(importlib.util.find_spec(p)) for p in ("pyhessian", "curvlinops")},
               "cases": {}}
    for name, module in make_models(torch).items():
        results["cases"][name] = run_case(torch, name, module.double(), X, y, args)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
