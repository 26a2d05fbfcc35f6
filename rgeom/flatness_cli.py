"""``rgeom flatness``: naive versus invariant flatness of a trained checkpoint, from the shell.

::

    rgeom flatness CHECKPOINT --model module:factory --data FILE --loss NAME \\
        --metric {euclidean,fisher,ggn,empirical-fisher,kfac,diag-fisher} \\
        --measures trace max_eigenvalue logdet --backend {autograd,jax,torch} --json --plot FILE
    rgeom flatness --demo [--json] [--plot FILE]

The demo loads the bundled ReLU MLP trained on scikit-learn's digits (``rgeom.data``), and its
Dinh-rescaled twin (first hidden layer ``αW₁, αb₁``, next weights ``W₂/α``; the same function),
and prints for both the naive and the invariant trace, top eigenvalues and log-det. The
Fisher / GGN / K-FAC metrics of the twin are computed directly in its own coordinates — they come
from the output space, so they are the pullback automatically; the Euclidean metric is pulled back
along the rescaling explicitly. Progress bars go to stderr; ``--json`` prints one object on stdout.
"""

import importlib
import inspect
import json
import sys
import time

import numpy as np

from .flatness import ZERO_RTOL

METRICS = ("euclidean", "fisher", "mc-fisher", "ggn", "empirical-fisher", "kfac", "diag-fisher")
DEMO_ALPHA = 10.0


# -- building blocks (also the Python route: see docs/tutorial_flatness.md) ------------------------
def load_factory(spec, backend=None):
    """Build a model from ``"module:factory"``; the factory returns a Model or a ``torch.nn.Module``.

    ``backend=`` is passed to the factory when its signature accepts it.

    Examples
    --------
    >>> load_factory("rgeom.data:demo_model").dim
    1210
    """
    from .models import Model

    if ":" not in spec:
        raise ValueError(f"--model must be 'module:factory', got {spec!r}.")
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--model {spec!r}: cannot import {attr!r} from {mod_name!r} ({e}).") from None
    kwargs = {}
    if backend is not None:
        try:
            if "backend" in inspect.signature(factory).parameters:
                kwargs["backend"] = backend
        except (TypeError, ValueError):
            pass
    model = factory(**kwargs)
    if isinstance(model, Model):
        if backend is not None and model.backend.name != backend:
            raise ValueError(f"--model {spec!r} built a {model.backend.name} model but --backend {backend} was asked.")
        return model
    if type(model).__module__.startswith("torch") or hasattr(model, "named_parameters"):
        from .models import from_torch

        if backend not in (None, "torch"):
            raise ValueError(f"--model {spec!r} returned a torch module; use --backend torch (got {backend}).")
        return from_torch(model)
    raise TypeError(f"--model {spec!r} must return an rgeom.models.Model or a torch.nn.Module, "
                    f"got {type(model).__name__}.")


def build_metric(name, problem, *, damping=0.0, mc_samples=1, seed=0):
    """The metric called ``name`` (one of :data:`METRICS`) for ``problem``'s model and data.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import Problem, mlp
    >>> prob = Problem(mlp([3, 4, 2]), "cross-entropy", (np.eye(3), np.array([0, 1, 0])))
    >>> build_metric("kfac", prob)
    KFAC(mlp(3-4-2, relu), fisher='exact')
    """
    from .metrics import Euclidean
    from .metrics.fisher import GGN, EmpiricalFisher, Fisher
    from .metrics.fisher_diagonal import DiagonalFisher
    from .metrics.kfac import KFAC

    if name == "euclidean":
        return Euclidean(problem.dim)
    if name == "fisher":
        return Fisher(problem, damping=damping)
    if name == "mc-fisher":
        return Fisher(problem, mc_samples=mc_samples, seed=seed, damping=damping)
    if name == "ggn":
        return GGN(problem, damping=damping)
    if name == "empirical-fisher":
        return EmpiricalFisher(problem, damping=damping)
    if name == "kfac":
        return KFAC(problem, damping=damping)
    if name == "diag-fisher":
        return DiagonalFisher(problem, damping=damping)
    raise ValueError(f"--metric must be one of {METRICS}, got {name!r}.")


def measure(problem, theta, metric, *, measures, method="auto", k=5, n_probes=30, slq_probes=10,
            lanczos_steps=30, kernel_probes=5, tol=1e-6, max_steps=None, seed=0, christoffel=True, damping=0.0,
            progress=None):
    """Naive and invariant flatness of ``problem``'s loss at ``theta``: a :class:`~rgeom.flatness.FlatnessComparison`.

    The Riemannian Hessian keeps its Christoffel term by default (a checkpoint is not an exact
    critical point). ``christoffel=False`` drops it (``G⁻¹ ∂²L``: cheaper, equal to ``G⁻¹ Hess`` at a
    critical point); the natural-gradient norm reported next to it bounds what was dropped.
    ``tol`` and ``max_steps`` are the Lanczos tolerance and step cap of :func:`rgeom.flatness.flatness`:
    an eigenvalue that has not met ``tol`` within ``max_steps`` is reported ``converged: false``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import Problem, mlp
    >>> prob = Problem(mlp([3, 4, 2], activation="tanh"), "cross-entropy", (np.eye(3), np.array([0, 1, 0])))
    >>> cmp = measure(prob, prob.model.theta, build_metric("fisher", prob), measures=["trace"], progress=False)
    >>> cmp.invariant.christoffel, cmp.invariant.route
    (True, 'dense Hessian − dense Christoffel correction')
    """
    from .flatness import compare_flatness

    return compare_flatness(problem.objective, theta, metric, method=method, measures=list(measures), k=k,
                            n_probes=n_probes, slq_probes=slq_probes, lanczos_steps=lanczos_steps,
                            kernel_probes=kernel_probes, tol=tol,
                            max_steps=max_steps, seed=seed,
                            christoffel=christoffel, damping=damping,
                            progress=True if progress is None else progress)


def summary(cmp, *, elapsed=None, top=5):
    """The JSON object of one comparison: ``{"metric", "backend", "measures": {...}, ...}``."""
    d = cmp.as_dict()
    eig = d.pop("eigenvalues")
    d["top_eigenvalues"] = {k: sorted(v)[::-1][:top] for k, v in eig.items()}
    if elapsed is not None:
        d["seconds"] = round(float(elapsed), 3)
    return d


def _fmt(v):
    return "—" if v is None else f"{v:.6g}"


def print_table(title, d, out):
    """Human-readable rows of one :func:`summary`."""
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"{title}  [metric {d['metric']}; {d['method']}; backend {d['backend']}, {d['dtype']}, D = {d['dim']}]")
    p(f"  {'measure':<16}{'naive':>18}{'invariant':>18}")
    for name, m in d["measures"].items():
        se = m["stderr"]["invariant"]
        inv = _fmt(m["invariant"]) + (f" ± {se:.1g}" if se else "")
        flag = "" if m["converged"] else "   NOT CONVERGED"
        p(f"  {name:<16}{_fmt(m['naive']):>18}{inv:>18}{flag}")
    for side in ("naive", "invariant"):
        top = ", ".join(f"{x:.4g}" for x in d["top_eigenvalues"][side])
        p(f"  top eigenvalues ({side}): {top}")
    ld = d["measures"].get("logdet")
    if ld is not None and any(ld["zero_eigenvalues"].values()):
        for side, n0 in ld["zero_eigenvalues"].items():
            if n0:
                p(f"  logdet ({side}) is a log pseudo-determinant: {n0:.4g} eigenvalues with |λ| <= "
                  f"{ZERO_RTOL:g}·max|λ| left out (det = 0, log|det| = -inf)")
    hk = d.get("hessian_kernel_norm")
    if d.get("kernel_dim"):
        p(f"  metric kernel: dim {d['kernel_dim']} (symmetry directions), ‖Hess on kernel‖_F = "
          f"{'unknown' if hk is None else format(hk['value'], '.3g')}")
    gn = d["gradient_norm"]
    p(f"  gradient norm: naive {gn['naive']:.3g}, natural {gn['invariant']:.3g}"
      + (" (Christoffel term kept)" if d["christoffel"] else
         " (Christoffel term DROPPED: G⁻¹∂²L, equal to G⁻¹Hess only at a critical point; the natural-"
         "gradient norm bounds what was dropped)"))
    if d.get("damping"):
        p(f"  damping {d['damping']:g}: the invariant column is NOT invariant")


def plot(results, path, *, title=""):
    """Spectral densities (naive and invariant) of each labelled result, written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, side in zip(axes, ("naive", "invariant")):
        for (label, cmp), style in zip(results, ("-", "--", ":", "-.")):
            f = getattr(cmp, side)
            lam = np.asarray(f.eigenvalues)
            if f.spectral_density is not None and f.spectral_density.slq is not None:
                sd = f.spectral_density
                ax.plot(sd.grid, sd.density, style, label=label)
                ax.set_xscale("symlog", linthresh=max(1e-8, 1e-6 * np.abs(sd.grid).max()))
                ax.set_xlabel("eigenvalue λ")
                continue
            # all eigenvalues (dense path): Gaussian-broadened density of log10|λ|, by sign
            pos = np.log10(lam[lam > 0])
            grid = np.linspace(-12, 6, 600)
            dens = np.exp(-0.5 * ((grid[:, None] - pos[None, :]) / 0.15) ** 2).sum(1) / (0.15 * np.sqrt(2 * np.pi) * lam.size)
            ax.plot(grid, dens, style, label=f"{label} ({int(np.sum(lam < 0))} λ < 0)")
            ax.set_xlabel("log10 λ  (positive eigenvalues)")
        ax.set_title(f"{side}: " + ("∂²L, G = I" if side == "naive" else "G⁻¹ Hess L"))
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_or_skip(results, path, *, title="", err=None):
    """:func:`plot` when matplotlib is installed; otherwise a note on stderr and ``None``.

    The plot is an extra (``pip install "rgeom[plot]"``): without matplotlib the measures are
    still computed and printed, and the message says how to get the figure.

    Returns
    -------
    str or None
        ``path`` when the figure was written, ``None`` when it was skipped.
    """
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        print(f"rgeom flatness: matplotlib is not installed: plot {str(path)!r} skipped "
              "(pip install \"rgeom[plot]\" to get it).", file=err or sys.stderr)
        return None
    plot(results, path, title=title)
    return str(path)


# -- commands -------------------------------------------------------------------------------------
def run_demo(*, json_output=False, plot_path="flatness_demo.png", metric="kfac", method="dense",
             alpha=DEMO_ALPHA, backend=None, christoffel=True, progress=None, out=None):
    """The bundled demo: the checkpoint and its Dinh-rescaled twin, naive vs invariant."""
    from .data import load_demo
    from .metrics import Euclidean, Pullback
    from .models import Problem, dinh_rescaling

    out = out or sys.stdout
    if backend is None:  # the fastest installed backend for dense Hessians; the output names it
        import importlib.util

        backend = "torch" if importlib.util.find_spec("torch") is not None else "autograd"
    model, data = load_demo(backend)
    prob = Problem(model, "cross-entropy", data, progress=progress)
    g = dinh_rescaling(model, 0, alpha)  # θ = g(ψ)
    psi = g.inverse(model.theta)
    twin = prob.with_model(model.with_theta(psi))
    measures = ("max_eigenvalue", "trace", "logdet") + (("spectral_density",) if plot_path else ())
    kw = dict(measures=measures, method=method, christoffel=christoffel, progress=progress)
    results, payload = [], {"alpha": alpha}
    for label, p, theta in (("original", prob, model.theta), ("rescaled", twin, psi)):
        if metric == "euclidean":  # the original chart's metric, pulled back along the rescaling
            G = Euclidean(p.dim) if label == "original" else Pullback(Euclidean(p.dim), g)
        else:
            G = build_metric(metric, p)
        t0 = time.perf_counter()
        cmp = measure(p, theta, G, **kw)
        payload[label] = summary(cmp, elapsed=time.perf_counter() - t0)
        results.append((f"{label}" + ("" if label == "original" else f" (α = {alpha:g})"), cmp))
    if plot_path:
        plot_path = plot_or_skip(results, plot_path,
                                 title=f"bundled digits ReLU MLP, metric {metric}; Dinh rescaling α = {alpha:g}")
        payload["plot"] = plot_path
    if json_output:
        from .flatness import _finite

        print(json.dumps(_finite(payload)), file=out)
        return payload
    print(f"rgeom flatness --demo: a 64-16-10 ReLU MLP trained on digits (N = {prob.n}, "
          f"accuracy {prob.accuracy():.3f}) and its Dinh-rescaled twin (α = {alpha:g}): same function, "
          f"loss {prob.loss_value():.10f} vs {twin.loss_value():.10f}\n", file=out)
    for label, _ in results:
        print_table(label, payload[label.split(" ")[0]], out)
        print(file=out)
    o, r = payload["original"]["measures"], payload["rescaled"]["measures"]
    for name in ("trace", "max_eigenvalue"):
        if name in o:
            print(f"{name}: naive ratio rescaled/original = {r[name]['naive'] / o[name]['naive']:.4g}; "
                  f"invariant ratio = {r[name]['invariant'] / o[name]['invariant']:.12g}", file=out)
    if plot_path:
        print(f"spectral densities written to {plot_path}", file=out)
    return payload


def run(args, out=None):
    """Entry point of ``rgeom flatness`` (parsed arguments -> exit status).

    Bad input (a checkpoint that does not fit, a loss that does not fit the outputs, an empty data
    set, an unknown factory) prints one ``rgeom flatness: error: ...`` line on stderr and returns 2;
    a result with an estimate that did not converge returns 3.
    """
    from .errors import RgeomError

    try:
        return _run(args, out or sys.stdout)
    except (RgeomError, ValueError, TypeError, FileNotFoundError, NotImplementedError) as e:
        print(f"rgeom flatness: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


def _run(args, out):
    progress = False if args.no_progress else None
    if args.demo:
        run_demo(json_output=args.json, plot_path=args.plot or "flatness_demo.png", metric=args.metric or "kfac",
                 method=args.method or "dense", alpha=args.alpha, backend=args.backend,
                 christoffel=not args.no_christoffel, progress=progress, out=out)
        return 0
    missing = [flag for flag, v in (("CHECKPOINT", args.checkpoint), ("--model", args.model),
                                    ("--data", args.data)) if v is None]
    if missing:
        print(f"rgeom flatness: {', '.join(missing)} required (or use --demo).", file=sys.stderr)
        return 2
    from .checkpoints import load_checkpoint
    from .models import Problem

    model = load_checkpoint(args.checkpoint, load_factory(args.model, args.backend))
    prob = Problem(model, args.loss, args.data, batch_size=args.batch_size, progress=progress)
    G = build_metric(args.metric or "fisher", prob, mc_samples=args.mc_samples, seed=args.seed)
    measures = list(args.measures) + (["spectral_density"] if args.plot and "spectral_density" not in args.measures else [])
    t0 = time.perf_counter()
    cmp = measure(prob, model.theta, G, measures=measures, method=args.method or "auto", k=args.k,
                  n_probes=args.probes, slq_probes=args.slq_probes, lanczos_steps=args.lanczos_steps,
                  kernel_probes=args.kernel_probes, tol=args.tol, max_steps=args.max_steps, seed=args.seed, christoffel=not args.no_christoffel, damping=args.damping,
                  progress=progress)
    d = summary(cmp, elapsed=time.perf_counter() - t0)
    if args.plot:
        d["plot"] = plot_or_skip([(args.checkpoint, cmp)], args.plot,
                                 title=f"{args.checkpoint}: metric {args.metric or 'fisher'}")
    if args.json:
        from .flatness import _finite

        print(json.dumps(_finite(d)), file=out)
    else:
        print_table(str(args.checkpoint), d, out)
    return 0 if d["converged"] else 3


def register(subparsers):
    """Add ``rgeom flatness`` to the command line."""
    p = subparsers.add_parser(
        "flatness", help="naive vs invariant flatness of a trained checkpoint (or --demo)",
        description="Naive (∂²L, G = I) and invariant (G⁻¹ Hess L) flatness of a checkpoint: trace, "
                    "top eigenvalues, log-det, spectral density. Exit status 3 if an estimate did not converge.")
    p.add_argument("checkpoint", nargs="?", help="checkpoint file (.pt/.pth weights-only, .safetensors, .npz)")
    p.add_argument("--demo", action="store_true", help="bundled digits ReLU MLP and its Dinh-rescaled twin")
    p.add_argument("--model", help="module:factory returning an rgeom Model or a torch.nn.Module")
    p.add_argument("--data", help="data file with arrays X and y (.npz, .safetensors, .pt)")
    p.add_argument("--loss", default="cross-entropy",
                   help="cross-entropy | categorical | mse | gaussian | bernoulli (default cross-entropy)")
    p.add_argument("--metric", choices=METRICS, default=None, help="metric of the invariant measures (default fisher)")
    p.add_argument("--measures", nargs="+", default=["max_eigenvalue", "trace", "logdet"],
                   choices=["max_eigenvalue", "min_eigenvalue", "trace", "logdet", "spectral_density"])
    p.add_argument("--backend", choices=["autograd", "jax", "torch"], default=None)
    p.add_argument("--method", choices=["auto", "dense", "lanczos", "stochastic"], default=None,
                   help="dense reference or matrix-free engine (default auto; the demo uses dense)")
    p.add_argument("--k", type=int, default=5, help="number of top eigenvalues (matrix-free)")
    p.add_argument("--probes", type=int, default=30, help="trace probes / Hutch++ budget")
    p.add_argument("--slq-probes", type=int, default=10, help="probes of the log-det / density (matrix-free)")
    p.add_argument("--lanczos-steps", type=int, default=30, help="Lanczos steps per SLQ probe (matrix-free)")
    p.add_argument("--kernel-probes", type=int, default=5,
                   help="Hessian products of the ‖H P_ker‖ diagnostic on a singular metric (matrix-free)")
    p.add_argument("--tol", type=float, default=1e-6, help="relative residual tolerance of the top eigenvalues")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cap on Lanczos steps for the top eigenvalues (reached first: converged false, exit 3)")
    p.add_argument("--mc-samples", type=int, default=1, help="draws per sample for --metric mc-fisher")
    p.add_argument("--damping", type=float, default=0.0, help="G + δI (breaks invariance; reported)")
    p.add_argument("--no-christoffel", action="store_true",
                   help="drop the Christoffel term of the Riemannian Hessian (cheaper; exact only at a critical "
                        "point: the natural-gradient norm reported bounds what was dropped)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=DEMO_ALPHA, help="Dinh rescaling factor of --demo")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", metavar="FILE", help="write the spectral densities (PNG)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
