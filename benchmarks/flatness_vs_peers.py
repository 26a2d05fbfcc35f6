"""rgeom vs PyHessian vs curvlinops: top Hessian eigenvalue and trace, one process, same model/data/dtype.

Models, both trained (seeded, full-batch Adam, in PyTorch) on scikit-learn's digits (1797 × 64,
float64): (a) a 64-256-256-10 tanh MLP (85 002 parameters), (b) a small CNN (conv 1→8, conv 8→16
stride 2, linear 256→10; 3 818 parameters).

**Backend.** rgeom runs on its JAX backend (the fastest here): the trained torch weights are copied
into the same network written in ``jax.numpy`` (``rgeom.models.from_jax``, float64 with
``jax_enable_x64``), on the same data; the script checks that both give the same loss and the
same Hessian-vector product (printed, in the JSON). PyHessian and curvlinops run on the torch
module. All timings are taken in this one process, with the same thread count for torch and XLA
(``--threads``, default 1: the machine is shared). rgeom's one-time compilation (per model, not
per point) is done before the timed rows and reported separately (``compile_seconds``); its
per-point work (the linearised gradient, K-FAC factors) is inside the timed rows. PyHessian's
per-point gradient graph is built in its constructor, outside its timed rows (as in its own usage).

For each model: a converged reference (scipy ``eigsh`` to 1e-10 for the top eigenvalue; Hutch++
with a large budget for the trace), then wall time, Hessian-product count and accuracy of

* top eigenvalue at relative tolerance 1e-3: rgeom Lanczos (``criterion="eigenvalue"``: the
  Kato–Temple error estimate ``r²/δ`` ≤ 1e-3·λ); PyHessian power iteration (``tol=1e-3``);
  curvlinops ``HessianLinearOperator`` + ``scipy.sparse.linalg.eigsh`` (``tol=1e-3``);
* trace at an equal probe count: rgeom Hutchinson (its probes use the quadratic form ``zᵀHz`` by
  nested forward mode); PyHessian's Hutchinson; curvlinops' ``hutchinson_trace``;
* invariant measures with the K-FAC metric vs the naive (Euclidean) ones (top eigenvalue + trace),
  both through :func:`rgeom.flatness` (``method="lanczos"``: the trace is the Krylov Hutch++ whose
  sketch is the top eigenvalue's Lanczos run, so a call costs about ``max(eig steps, n_probes)``
  products; K-FAC adds its factor pass and the ``‖H P_ker‖`` diagnostic's ``kernel_probes``
  products);
* rgeom's overhead: total time / (its product count × the cost of one product measured here);
* once, the K-FAC row with the Christoffel term kept (rgeom's default; the rows above drop it):
  each product then also differentiates the K-FAC factor pass (forward and reverse).

Peers missing from the environment are skipped cleanly. Results:
benchmarks/results/flatness_vs_peers.json.

    python3 benchmarks/flatness_vs_peers.py [--quick] [--threads 1]

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


def to_jax(torch, module):
    """The same network in ``jax.numpy`` with the module's trained weights (an rgeom Model, K-FAC layers
    declared). Supports the Sequential stacks of :func:`make_models`."""
    import jax
    import jax.numpy as jnp

    from rgeom.models import from_jax
    from rgeom.models.torch_adapter import from_torch

    ref = from_torch(module)  # the layer list (names, conv geometry) as rgeom reads it from torch
    params = {k: jnp.asarray(v.detach().numpy()) for k, v in module.named_parameters()}
    kinds = {L.weight.rsplit(".", 1)[0]: L for L in ref.layers}
    steps = []
    for name, m in module.named_children():
        if isinstance(m, torch.nn.Linear):
            steps.append(("dense", name))
        elif isinstance(m, torch.nn.Conv2d):
            steps.append(("conv2d", name))
        elif isinstance(m, torch.nn.Tanh):
            steps.append(("act", jnp.tanh))
        elif isinstance(m, torch.nn.ReLU):
            steps.append(("act", jax.nn.relu))
        elif isinstance(m, torch.nn.Flatten):
            steps.append(("act", lambda a: a.reshape(a.shape[0], -1)))
        elif isinstance(m, torch.nn.Unflatten):
            steps.append(("act", lambda a, s=tuple(m.unflattened_size): a.reshape((a.shape[0],) + s)))
        else:
            raise TypeError(f"to_jax: unsupported layer {m}")
    order = [name for kind, name in steps if kind in ("dense", "conv2d")]

    def apply(p, x, tap=None):
        a = x
        for kind, arg in steps:
            if kind == "act":
                a = arg(a)
                continue
            W, b = p[f"{arg}.weight"], p[f"{arg}.bias"]
            if kind == "dense":
                s = a @ W.T + b
            else:
                c = kinds[arg].conv
                s = jax.lax.conv_general_dilated(a, W, c["stride"], [(q, q) for q in c["padding"]],
                                                 rhs_dilation=c["dilation"],
                                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
                s = s + b[None, :, None, None]
            a = s if tap is None else tap(order.index(arg), a, s)
        return a

    layers = [kinds[name] for name in order]
    return from_jax(apply, params, layers=layers, name=f"jax[{type(module).__name__}]")


def train(torch, model, X, y, steps):
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
    return float(loss.detach())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def rel(a, b):
    return abs(a - b) / abs(b)


def run_case(torch, name, module, X, y, args):
    import scipy.sparse.linalg as sla

    from rgeom.flatness import flatness
    from rgeom.linalg import hutchpp, lanczos
    from rgeom.linalg.shape import shape_problem
    from rgeom.metrics.kfac import KFAC
    from rgeom.models import Problem, from_torch

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    final_loss = train(torch, module, Xt, yt, args.train_steps)
    model = to_jax(torch, module)
    prob = Problem(model, "cross-entropy", (X, y))
    theta = model.theta
    D = model.dim
    out = {"dim": D, "train_loss": final_loss, "n_data": len(X), "dtype": "float64", "rgeom_backend": "jax"}
    print(f"\n== {name}: D = {D}, N = {len(X)}, training loss {final_loss:.4f}")

    # one-time compilation (per model): the kernels, and the K-FAC factor / whitening programs
    t0 = time.perf_counter()
    P0 = shape_problem(prob, theta, None, christoffel=False)
    v = np.random.default_rng(0).standard_normal(D)
    P0.hessian.mv(v), P0.hessian.quad(v)
    G = KFAC(prob)
    G0 = shape_problem(prob, theta, G, christoffel=False).metric
    G0.whiten(v), G0.whiten_t(v)
    out["compile_seconds"] = time.perf_counter() - t0

    # the JAX model is the torch model: same loss, same Hessian-vector product
    tprob = Problem(from_torch(module), "cross-entropy", (X, y))
    tm = tprob.model
    vt = tm.asarray(np.random.default_rng(1).standard_normal(D))
    in_jax_layout = lambda x: np.asarray(prob.backend.to_numpy(model.flat(tm.named(x))))  # noqa: E731
    hv_ref = in_jax_layout(tprob.hvp(tm.theta, vt))
    hv_r = P0.hessian.mv(in_jax_layout(vt))
    out["torch_vs_jax"] = {"loss_rel_diff": rel(prob.loss_value(), tprob.loss_value()),
                           "hvp_rel_diff": float(np.abs(hv_r - hv_ref).max() / np.abs(hv_ref).max())}
    print(f"   torch vs JAX model: loss rel. diff {out['torch_vs_jax']['loss_rel_diff']:.1e}, "
          f"HVP rel. diff {out['torch_vs_jax']['hvp_rel_diff']:.1e}; compile {out['compile_seconds']:.2f} s")

    # the cost of one product through rgeom's engine (NumPy <-> JAX conversion included)
    H = P0.hessian
    # The unit cost is the median of the repetitions: a row's time is a sum over many products, so
    # its per-product cost is a central value, not the luckiest call (the minimum is kept as well).
    hvps = [timed(lambda: H.mv(v))[1] for _ in range(args.hvp_reps)]
    quads = [timed(lambda: H.quad(v))[1] for _ in range(args.hvp_reps)]
    hvp, quad = float(np.median(hvps)), float(np.median(quads))
    out["rgeom_hvp_seconds"], out["rgeom_quad_seconds"] = hvp, quad
    out["rgeom_hvp_seconds_min"], out["rgeom_quad_seconds_min"] = min(hvps), min(quads)

    # references
    op = sla.LinearOperator((D, D), matvec=lambda x: H.mv(np.ravel(x)), dtype=np.float64)
    (lam_ref, _), t_ref = timed(lambda: sla.eigsh(op, k=1, which="LA", tol=1e-10))
    lam_ref = float(lam_ref[0])
    est = hutchpp(H, args.ref_trace_matvecs, seed=123, progress=False)
    tr_ref, tr_ref_se = float(est.value), float(est.stderr)
    out["reference"] = {"max_eigenvalue": lam_ref, "trace": tr_ref, "trace_stderr": tr_ref_se}
    print(f"   reference: λmax {lam_ref:.8g}, trace {tr_ref:.6g} ± {tr_ref_se:.2g}; one HVP {hvp * 1e3:.2f} ms, "
          f"one zᵀHz {quad * 1e3:.2f} ms")

    def measure_rows():
        rows = {}

        # --- top eigenvalue --------------------------------------------------------------------
        setup = {}

        def rgeom_eig():
            # per-point work inside the timing: the linearised gradient (one forward and backward
            # pass, ~ one product here because float64 tanh dominates it), reported separately too
            Pb, setup["seconds"] = timed(lambda: shape_problem(prob, theta, None, christoffel=False))
            return lanczos(Pb.hessian, 1, tol=1e-3, criterion="eigenvalue", seed=0, progress=False)

        res, t = timed(rgeom_eig)
        lam = float(res.eigenvalues[-1])
        rows["eig_rgeom"] = {"seconds": t, "hvps": res.n_matvecs, "value": lam, "rel_error": rel(lam, lam_ref),
                             "converged": res.converged, "overhead": t / (res.n_matvecs * hvp),
                             "setup_seconds": setup["seconds"],
                             "overhead_after_setup": (t - setup["seconds"]) / (res.n_matvecs * hvp)}
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
        f, t = timed(lambda: flatness(prob, theta, None, method="stochastic", measures=["trace"],
                                      n_probes=args.probes, christoffel=False, progress=False, seed=0))
        n = f.measures["trace"].n_matvecs
        rows["trace_rgeom"] = {"seconds": t, "hvps": n, "value": f.trace, "stderr": f.measures["trace"].stderr,
                               "rel_error": rel(f.trace, tr_ref), "overhead": t / (n * quad)}

        # --- invariant (K-FAC) vs naive ---------------------------------------------------------------
        kw = dict(method="lanczos", measures=["max_eigenvalue", "trace"], k=1, tol=1e-3, n_probes=args.probes,
                  christoffel=False, progress=False, seed=0)
        f_e, t_e = timed(lambda: flatness(prob, theta, None, **kw))
        f_k, t_k = timed(lambda: flatness(prob, theta, G, **kw))
        rows["naive_euclidean"] = {"seconds": t_e, "hvps": f_e.n_matvecs, "max_eigenvalue": f_e.max_eigenvalue,
                                   "trace": f_e.trace, "trace_stderr": f_e.measures["trace"].stderr,
                                   "trace_method": f_e.measures["trace"].method}
        _, t_fac = timed(lambda: G.at(theta))  # where the K-FAC time goes: factors (+ eigendecompositions) ...
        rows["invariant_kfac"] = {"seconds": t_k, "hvps": f_k.n_matvecs, "max_eigenvalue": f_k.max_eigenvalue,
                                  "trace": f_k.trace, "trace_stderr": f_k.measures["trace"].stderr,
                                  "trace_method": f_k.measures["trace"].method,
                                  "kernel_dim": f_k.kernel_dim, "converged": f_k.converged,
                                  "factor_seconds": t_fac,  # ... products by measure (Lanczos steps, kernel check):
                                  "hvps_by_measure": {k: e.n_matvecs for k, e in f_k.measures.items()},
                                  "kernel_check_hvps": getattr(f_k.hessian_kernel_norm, "n_matvecs", 0)}
        rows["naive_euclidean"]["hvps_by_measure"] = {k: e.n_matvecs for k, e in f_e.measures.items()}
        return rows

    # every row is timed in each of `rounds` round-robin rounds and its fastest round is kept: the
    # machine is shared, and a load spike should not decide a ratio (all rows get the same treatment)
    rounds = [measure_rows() for _ in range(args.rounds)]
    rows = {key: min((r[key] for r in rounds), key=lambda row: row["seconds"]) for key in rounds[0]}
    for key in rows:
        rows[key]["seconds_all_rounds"] = [r[key]["seconds"] for r in rounds]
    t_e, t_k = rows["naive_euclidean"]["seconds"], rows["invariant_kfac"]["seconds"]
    out["rows"] = rows

    ratios = {}
    for peer in ("pyhessian", "curvlinops"):
        if f"eig_{peer}" in rows:
            ratios[f"eig_time_rgeom/{peer}"] = rows["eig_rgeom"]["seconds"] / rows[f"eig_{peer}"]["seconds"]
        if f"trace_{peer}" in rows:
            ratios[f"trace_time_rgeom/{peer}"] = rows["trace_rgeom"]["seconds"] / rows[f"trace_{peer}"]["seconds"]
    ratios["kfac_invariant/euclidean_time"] = t_k / t_e
    # the same at equal product counts (K-FAC's own cost: factors, whitening), for the breakdown
    ratios["kfac_invariant/euclidean_time_per_product"] = (
        (t_k / rows["invariant_kfac"]["hvps"]) / (t_e / rows["naive_euclidean"]["hvps"]))
    ratios["rgeom_eig_overhead"] = rows["eig_rgeom"]["overhead"]
    ratios["rgeom_trace_overhead"] = rows["trace_rgeom"]["overhead"]

    # The rows above drop the Christoffel term (christoffel=False: G⁻¹∂²L, invariant only at a
    # critical point). rgeom's default keeps it; one run (it is slow) says what that costs here
    # and how much it changes the numbers (the natural-gradient norm bounds the difference).
    if not args.no_christoffel_row:
        kw = dict(method="lanczos", measures=["max_eigenvalue", "trace"], k=1, tol=1e-3, n_probes=args.probes,
                  progress=False, seed=0)
        f_c, t_c = timed(lambda: flatness(prob, theta, G, christoffel=True, **kw))
        rows["invariant_kfac_christoffel"] = {
            "seconds": t_c, "hvps": f_c.n_matvecs, "max_eigenvalue": f_c.max_eigenvalue, "trace": f_c.trace,
            "trace_stderr": f_c.measures["trace"].stderr, "converged": f_c.converged,
            "natural_gradient_norm": f_c.gradient_norm, "rounds": 1}
        ratios["kfac_invariant_christoffel/euclidean_time"] = t_c / t_e
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
    ap.add_argument("--threads", type=int, default=1, help="threads for torch and XLA alike (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds; each row keeps its fastest")
    ap.add_argument("--cases", default="all", help="comma-separated case names (default: all)")
    ap.add_argument("--no-christoffel-row", action="store_true",
                    help="skip the (slow) K-FAC row that keeps the Christoffel term")
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               f"{'true' if args.threads > 1 else 'false'} intra_op_parallelism_threads={args.threads}")
    args.train_steps = 50 if args.quick else 300
    args.probes = 20 if args.quick else 50
    args.hvp_reps = 5 if args.quick else 11
    args.ref_trace_matvecs = 300 if args.quick else 1000
    args.exact_trace_max_dim = 0

    import jax
    import torch

    jax.config.update("jax_enable_x64", True)  # this script's process-wide choice: float64 as torch
    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)  # PyHessian draws its probes in the default dtype
    X, y = digits()
    results = {"torch": torch.__version__, "jax": jax.__version__, "threads": torch.get_num_threads(),
               "backend": "jax (rgeom); torch (peers)",
               "quick": bool(args.quick), "peers": {p: bool(importlib.util.find_spec(p)) for p in ("pyhessian", "curvlinops")},
               "cases": {}}
    for name, module in make_models(torch).items():
        if args.cases != "all" and name not in args.cases.split(","):
            continue
        results["cases"][name] = run_case(torch, name, module.double(), X, y, args)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
