"""Flatness measures: the spectrum of the shape operator ``E = G⁻¹ Hess L``, dense or matrix-free.

The eigenvalues of ``G⁻¹ Hess`` are chart-independent; those of the naive ``∂²L`` (``metric=None``:
the identity metric of whatever chart the user holds) are not. :func:`flatness` computes them
densely (``scipy.linalg.eigh(H, G)``, the reference) for small ``d`` and with the matrix-free
engine of :mod:`rgeom.linalg` at network scale; :func:`compare_flatness` gives the naive and the
invariant measures side by side.
"""

import dataclasses
import inspect
import json
import math

import numpy as np

from ._checks import check_vector
from ._flatness_dense import HESSIAN_SYMMETRY_RTOL, ZERO_RTOL, _dense, _dense_setup
from ._flatness_matrix_free import _is_user_metric, _matrix_free
from .linalg.shape import shape_problem

__all__ = [
    "Flatness",
    "FlatnessComparison",
    "flatness",
    "compare_flatness",
    "MEASURES",
    "AUTO_DENSE_DIM",
    "HESSIAN_SYMMETRY_RTOL",
    "ZERO_RTOL",
]

#: ``method="auto"`` uses the dense reference up to this dimension (d Hessian-vector products and
#: an O(d³) eigensolve: well under a second for autograd at d = 256), the matrix-free engine above.
AUTO_DENSE_DIM = 256
#: Measures :func:`flatness` can compute.
MEASURES = ("max_eigenvalue", "min_eigenvalue", "trace", "logdet", "spectral_density")
DEFAULT_MEASURES = ("max_eigenvalue", "trace", "logdet")
METHODS = ("auto", "dense", "lanczos", "stochastic")


@dataclasses.dataclass(frozen=True)
class Flatness:
    """Spectral flatness measures of ``E = G⁻¹ Hess L`` at one point.

    Attributes
    ----------
    eigenvalues : ndarray
        Ascending eigenvalues of ``E`` (generalized problem ``Hess v = λ G v``), float64: all of
        them on the dense path (on the metric's range when it is singular), the ``k`` largest
        Ritz values on the matrix-free path.
    max_eigenvalue, min_eigenvalue, trace : float
        Largest / smallest eigenvalue and the trace (NaN when not computed).
    logdet : float
        ``Σ log|λ|`` over the eigenvalues with ``|λ| > ZERO_RTOL · max|λ|``: ``log|det E|`` when
        ``E`` is regular, its log pseudo-determinant when it is singular (a symmetry of the loss
        that the metric does not share gives exact zero eigenvalues; ``log|det E|`` itself is then
        ``-inf``). ``zero_eigenvalues`` says how many were left out. NaN if not computed.
    sign : float
        Sign of that (pseudo-)determinant (+1 or -1) on the dense path; NaN on the matrix-free path.
    zero_eigenvalues : Estimate or None
        Number of eigenvalues with ``|λ| ≤ ZERO_RTOL · max|λ|`` (exact on the dense path, an SLQ
        estimate with a standard error on the matrix-free path); ``None`` if ``logdet`` was not
        computed. Non-zero means ``det E = 0``.
    gradient_norm : float
        Dual norm of the gradient ``√(∇Lᵀ G⁻¹ ∇L)`` (the natural-gradient norm): 0 at a critical
        point, where the Christoffel term vanishes; it bounds what ``christoffel=False`` drops.
    metric : str
        Description of the metric (``"Euclidean(d) [naive]"`` for ``metric=None``).
    christoffel : bool
        Whether the Christoffel term was kept.
    method, dtype, backend : str
        How it was computed, the floating type of the inputs, and the autodiff backend.
    measures : dict of str -> Estimate
        Every computed measure with ``value``, ``stderr`` (0 when exact), ``converged``,
        ``n_matvecs`` and ``error_bound``.
    kernel_dim : int or None
        Kernel dimension of the metric (the problem is solved on its range); ``None`` if unknown.
    hessian_kernel_norm : Estimate or None
        ``‖Hess P_ker‖_F``, the Hessian's component on that kernel (0 at a critical point).
    damping : float
        ``δ`` in ``G + δI`` (0: none).
    invariant : bool
        ``True`` when the result is chart-invariant: a metric was given, no damping, Christoffel
        term kept.
    converged : bool
        Every measure converged.
    n_matvecs : int
        Hessian-vector products used in total.
    route : str
        How one Hessian product was computed (see :mod:`rgeom.linalg.shape`).
    spectral_density : SpectralDensity or None
    seed : int
    dim : int
        Number of coordinates ``d``.
    """

    eigenvalues: np.ndarray
    max_eigenvalue: float
    min_eigenvalue: float
    trace: float
    logdet: float
    sign: float
    gradient_norm: float
    metric: str
    christoffel: bool
    method: str
    dtype: str
    backend: str
    measures: dict = dataclasses.field(default_factory=dict)
    kernel_dim: object = 0
    hessian_kernel_norm: object = None
    damping: float = 0.0
    invariant: bool = True
    converged: bool = True
    n_matvecs: int = 0
    route: str = ""
    spectral_density: object = None
    seed: int = 0
    dim: int = 0
    zero_eigenvalues: object = None

    def __str__(self):
        lam = np.array2string(self.eigenvalues, precision=8, max_line_width=80, threshold=8)
        lines = [
            f"Flatness of G⁻¹Hess [{self.metric}; christoffel={self.christoffel}; {self.method}, "
            f"{self.dtype}, {self.backend}]",
            f"  eigenvalues    {lam}",
        ]
        for name, label in (
            ("max_eigenvalue", "max eigenvalue"),
            ("min_eigenvalue", "min eigenvalue"),
            ("trace", "trace"),
            ("logdet", "log|det|" if not self._n_zeros() else "log|pdet|"),
        ):
            est = self.measures.get(name)
            if est is None:
                continue
            err = f" ± {est.stderr:.2g}" if est.stderr else ""
            flag = "" if est.converged else "  [NOT CONVERGED]"
            sign = (
                f" (sign {self.sign:+.0f})" if name == "logdet" and np.isfinite(self.sign) else ""
            )
            zeros = (
                f" ({self.zero_eigenvalues.value:.4g} zero eigenvalues left out)"
                if name == "logdet" and self._n_zeros()
                else ""
            )
            lines.append(f"  {label:<14} {est.value:.10g}{err}{sign}{zeros}{flag}")
        lines.append(f"  |grad|_G*      {self.gradient_norm:.3g}")
        if self.kernel_dim:
            hk = self.hessian_kernel_norm
            lines.append(
                f"  metric kernel  dim {self.kernel_dim}, ‖Hess on kernel‖ "
                f"{'unknown' if hk is None else format(hk.value, '.3g')}"
            )
        if self.damping:
            lines.append(f"  damping        {self.damping:g} (breaks invariance)")
        return "\n".join(lines)

    def _n_zeros(self):
        z = self.zero_eigenvalues
        return 0.0 if z is None else z.value

    def as_dict(self):
        """JSON-ready dictionary (eigenvalues as a list, measures as dictionaries)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["eigenvalues"] = self.eigenvalues.tolist()
        out["measures"] = {k: v.as_dict() for k, v in self.measures.items()}
        out["hessian_kernel_norm"] = (
            None if self.hessian_kernel_norm is None else self.hessian_kernel_norm.as_dict()
        )
        out["spectral_density"] = (
            None if self.spectral_density is None else self.spectral_density.as_dict()
        )
        out["zero_eigenvalues"] = (
            None if self.zero_eigenvalues is None else self.zero_eigenvalues.as_dict()
        )
        return out


def _check_args(method, measures, k, n_probes, slq_probes, lanczos_steps, tol, damping, kernel_probes=5):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    measures = DEFAULT_MEASURES if measures is None else tuple(measures)
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures:
        raise ValueError(f"measures must be a non-empty subset of {MEASURES}, got {measures!r}.")
    for name, val, lo in (
        ("k", k, 1),
        ("n_probes", n_probes, 2),
        ("slq_probes", slq_probes, 2),
        ("lanczos_steps", lanczos_steps, 3),
        ("kernel_probes", kernel_probes, 2),
    ):
        if int(val) != val or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}.")
    if not (tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}.")
    if not (np.isfinite(damping) and damping >= 0):
        raise ValueError(f"damping must be a finite number >= 0, got {damping!r}.")
    return measures


def _resolve_method(method, theta):
    if method != "auto":
        return method
    return "dense" if check_vector(theta, "theta").shape[0] <= AUTO_DENSE_DIM else "lanczos"


def flatness(
    loss,
    theta,
    metric=None,
    *,
    method="auto",
    measures=None,
    k=1,
    n_probes=30,
    slq_probes=10,
    lanczos_steps=30,
    kernel_probes=5,
    tol=1e-6,
    quadrature_tol=1e-3,
    max_steps=None,
    eig_criterion="residual",
    seed=0,
    christoffel=True,
    damping=0.0,
    sigma=None,
    backend=None,
    max_dense_dim=None,
    progress=True,
):
    """Invariant (or, with ``metric=None``, naive) flatness of ``loss`` at ``theta``.

    The eigenvalues of the shape operator ``G⁻¹ Hess L`` (generalized problem
    ``Hess v = λ G v``), from the dense matrices (``scipy.linalg.eigh(H, G)`` in float64) or
    matrix-free from Hessian-vector products:

    ==========================  ====================================  ========================
    measure                     matrix-free estimator                 Hessian products
    ==========================  ====================================  ========================
    ``max_eigenvalue`` (top k)  Lanczos, residual test ``tol``        ~10–100 (more if gap small)
    ``min_eigenvalue``          Lanczos on the other end              as above
    ``trace``                   Hutch++ with the Lanczos run of       ``n_probes`` (the top
                                ``max_eigenvalue`` as its sketch      eigenvalue's steps
                                (``"lanczos"``), or Hutchinson        included)
                                (``"stochastic"``)
    ``logdet``                  stochastic Lanczos quadrature         ``slq_probes × lanczos_steps``
    ``spectral_density``        SLQ, Gaussian broadening ``sigma``    shared with ``logdet``
    ==========================  ====================================  ========================

    Parameters
    ----------
    loss : callable
        ``θ (d,) -> scalar`` on the backend of ``theta``.
    theta : array, shape (d,)
        The point (need not be critical).
    metric : Metric, optional
        ``None`` uses the chart's identity metric: the naive measures of ``∂²L``. A metric with a
        known kernel (Fisher, GGN, K-FAC along network symmetries) is handled on its range.
    method : {"auto", "dense", "lanczos", "stochastic"}
        ``"auto"``: dense up to :data:`AUTO_DENSE_DIM`, else ``"lanczos"``. ``"stochastic"`` is
        ``"lanczos"`` with plain Hutchinson for the trace.
    measures : iterable of str, optional
        Subset of :data:`MEASURES` (default max eigenvalue, trace, log-det; the dense path
        computes all scalar measures anyway).
    k : int
        Number of top eigenvalues (matrix-free; ``eigenvalues`` holds them).
    n_probes : int
        Trace: Hutchinson probes, or the budget of Hessian products of the Krylov Hutch++
        (:func:`rgeom.linalg.krylov_hutchpp`: half Lanczos steps, half probes; when
        ``max_eigenvalue`` is measured too, its Lanczos run is the sketch and is paid once).
    slq_probes, lanczos_steps : int
        SLQ probes and Lanczos steps per probe (log-det, spectral density).
    kernel_probes : int
        Matrix-free, singular metric with no kernel basis: Hutchinson probes (Hessian products)
        of the diagnostic ``‖H P_ker‖_F`` (``hessian_kernel_norm``, reported with its standard
        error). It says whether the Hessian sees the kernel at all; it does not enter the
        measures, hence the small default.
    tol : float
        Lanczos relative residual tolerance: a converged eigenvalue is within ``tol·|λ|`` of the
        true one.
    quadrature_tol : float
        Relative tolerance of the SLQ quadrature-error indicator.
    max_steps : int, optional
        Cap on the Lanczos steps for eigenvalues (default ``max(100, 10 k)``); when reached before
        ``tol``, the measure is reported ``converged=False``.
    eig_criterion : {"residual", "eigenvalue"}
        Lanczos stopping rule for eigenvalues (matrix-free). ``"residual"`` (default): the Ritz
        residual ``‖r‖ ≤ tol·|λ|``, a bound on the eigenvalue error that needs no gap.
        ``"eigenvalue"``: the Kato–Temple estimate ``r²/gap ≤ tol·|λ|``, fewer steps when the
        top eigenvalue is separated; on clustered spectra it can stop before the Krylov space has
        found the largest one (see :func:`rgeom.linalg.lanczos`).
    seed : int
        Seeds every random vector: equal seeds give identical results.
    christoffel : bool
        Keep the Christoffel term (default). ``False`` computes the eigenvalues of ``G⁻¹ ∂²L``,
        which are only invariant at a critical point; ``gradient_norm`` (the natural-gradient
        norm) says how far off that is.
    damping : float
        Use ``G + damping · I``: makes a singular metric regular, **breaks invariance**
        (``invariant=False``, ``damping`` reported).
    sigma : float, optional
        Gaussian broadening of the spectral density.
    backend : str, optional
        Force a backend instead of inferring it from ``theta``.
    max_dense_dim : int, optional
        Dense path: refuse (``DenseSizeError``) above this dimension.
    progress : bool
        Progress bars on stderr (shown only on a terminal).

    Returns
    -------
    Flatness
        Eigenvalues in units of loss per squared metric length (per squared coordinate for the
        naive measures).

    Raises
    ------
    NotPositiveDefiniteError
        If the metric is not positive definite (dense check, or a negative ``xᵀGx`` met by the
        iterative solvers).

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> loss = lambda th: 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2
    >>> rgeom.flatness(loss, np.array([1.0, 1.0])).eigenvalues.tolist()
    [1.0, 4.0]
    >>> f = rgeom.flatness(loss, np.array([1.0, 1.0]), method="lanczos",
    ...                    measures=["max_eigenvalue"])
    >>> round(f.max_eigenvalue, 12), f.converged, f.measures["max_eigenvalue"].n_matvecs
    (4.0, True, 2)
    """
    return _flatness(**locals())


def _flatness(
    loss, theta, metric, *, method, measures, k, n_probes, slq_probes, lanczos_steps, kernel_probes, tol,
    quadrature_tol, max_steps, eig_criterion, seed, christoffel, damping, sigma, backend, max_dense_dim,
    progress, setup=None,
):
    measures = _check_args(method, measures, k, n_probes, slq_probes, lanczos_steps, tol, damping,
                           kernel_probes)
    if eig_criterion not in ("residual", "eigenvalue"):
        raise ValueError(f"eig_criterion must be 'residual' or 'eigenvalue', got {eig_criterion!r}.")
    method = _resolve_method(method, theta)
    if method == "dense":
        setup = setup or _dense_setup(loss, theta, metric, backend, max_dense_dim)
        out = _dense(setup, metric, measures, sigma, max_dense_dim, christoffel, damping)
    else:
        problem = shape_problem(
            loss, theta, metric, christoffel=christoffel, damping=damping, backend=backend
        )
        out = _matrix_free(
            problem,
            method,
            measures,
            k,
            n_probes,
            slq_probes,
            lanczos_steps,
            tol,
            quadrature_tol,
            seed,
            sigma,
            progress,
            max_steps,
            eig_criterion,
            kernel_probes=kernel_probes,
            user_metric=metric is not None and _is_user_metric(metric),
        )
    ests = out["measures"]
    value = lambda m: ests[m].value if m in ests else float("nan")  # noqa: E731
    converged = all(e.converged for e in ests.values()) and out["natural_gradient_converged"]
    return Flatness(
        eigenvalues=np.asarray(out["eigenvalues"], dtype=np.float64),
        max_eigenvalue=float(value("max_eigenvalue")),
        min_eigenvalue=float(value("min_eigenvalue")),
        trace=float(value("trace")),
        logdet=float(value("logdet")),
        sign=out["sign"],
        gradient_norm=out["gradient_norm"],
        metric=out["metric_name"],
        christoffel=bool(christoffel),
        method=out["method"],
        dtype=out["dtype"],
        backend=out["backend"],
        measures=ests,
        kernel_dim=out["kernel_dim"],
        hessian_kernel_norm=out["hessian_kernel_norm"],
        damping=float(damping),
        invariant=metric is not None and damping == 0 and bool(christoffel),
        converged=converged,
        n_matvecs=int(out["n_matvecs"]),
        route=out["route"],
        spectral_density=out["spectral_density"],
        seed=int(seed),
        dim=out["dim"],
        zero_eigenvalues=out["zero_eigenvalues"],
    )


def _finite(x):
    """JSON has no NaN / inf: map them to None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


@dataclasses.dataclass(frozen=True)
class FlatnessComparison:
    """Naive and invariant flatness at the same point, from :func:`compare_flatness`.

    Attributes
    ----------
    naive : Flatness
        Of ``∂²L`` with the chart's identity metric (changes under reparametrization).
    invariant : Flatness
        Of ``G⁻¹ Hess L`` (chart-independent unless damped).
    """

    naive: Flatness
    invariant: Flatness

    def as_dict(self):
        """One JSON-ready dictionary; see :func:`compare_flatness` for the layout."""
        inv, nai = self.invariant, self.naive
        measures = {}
        for name in MEASURES[:4]:
            a, b = nai.measures.get(name), inv.measures.get(name)
            if a is None and b is None:
                continue
            pick = lambda e, f: None if e is None else f(e)  # noqa: E731
            measures[name] = {
                "naive": pick(a, lambda e: e.value),
                "invariant": pick(b, lambda e: e.value),
                "stderr": {
                    "naive": pick(a, lambda e: e.stderr),
                    "invariant": pick(b, lambda e: e.stderr),
                },
                "error_bound": {
                    "naive": pick(a, lambda e: e.error_bound),
                    "invariant": pick(b, lambda e: e.error_bound),
                },
                "converged": all(e.converged for e in (a, b) if e is not None),
                "n_matvecs": {
                    "naive": pick(a, lambda e: e.n_matvecs),
                    "invariant": pick(b, lambda e: e.n_matvecs),
                },
                "method": pick(b if b is not None else a, lambda e: e.method),
            }
            if name == "logdet":
                zn, zi = nai.zero_eigenvalues, inv.zero_eigenvalues
                measures[name]["zero_eigenvalues"] = {
                    "naive": pick(zn, lambda e: e.value),
                    "invariant": pick(zi, lambda e: e.value),
                }
                measures[name]["zero_eigenvalues_stderr"] = {
                    "naive": pick(zn, lambda e: e.stderr),
                    "invariant": pick(zi, lambda e: e.stderr),
                }
        hk = inv.hessian_kernel_norm
        return {
            "metric": inv.metric,
            "backend": inv.backend,
            "dtype": inv.dtype,
            "dim": inv.dim,
            "method": inv.method,
            "christoffel": inv.christoffel,
            "damping": inv.damping,
            "invariant": inv.invariant,
            "converged": bool(inv.converged and nai.converged),
            "seed": inv.seed,
            "measures": measures,
            "eigenvalues": {
                "naive": nai.eigenvalues.tolist(),
                "invariant": inv.eigenvalues.tolist(),
            },
            "gradient_norm": {"naive": nai.gradient_norm, "invariant": inv.gradient_norm},
            "kernel_dim": inv.kernel_dim,
            "hessian_kernel_norm": None if hk is None else {"value": hk.value, "stderr": hk.stderr},
            "n_matvecs": {"naive": nai.n_matvecs, "invariant": inv.n_matvecs},
            "route": {"naive": nai.route, "invariant": inv.route},
        }

    def as_json(self, **kwargs):
        """``as_dict()`` serialised with :func:`json.dumps` (NaN and inf become ``null``)."""
        return json.dumps(_finite(self.as_dict()), **kwargs)

    def __str__(self):
        rows = [
            f"naive vs invariant flatness [{self.invariant.metric}; {self.invariant.method}]",
            f"  {'measure':<16}{'naive':>16}{'invariant':>16}",
        ]
        for name, m in self.as_dict()["measures"].items():
            def fmt(v, s):
                return "—" if v is None else (f"{v:.6g}" + (f"±{s:.1g}" if s else ""))

            rows.append(
                f"  {name:<16}{fmt(m['naive'], m['stderr']['naive']):>16}"
                f"{fmt(m['invariant'], m['stderr']['invariant']):>16}"
            )
        return "\n".join(rows)


def compare_flatness(loss, theta, metric, **kwargs):
    """Naive (``G = I``) and invariant (``G⁻¹ Hess``) flatness side by side, with the same seed.

    Parameters
    ----------
    loss, theta, metric
        As in :func:`flatness`; ``metric`` is required.
    **kwargs
        Passed to :func:`flatness` for both (``damping`` only to the invariant side).

    Returns
    -------
    FlatnessComparison
        ``as_dict()`` / ``as_json()`` give ``{"metric", "backend", "dtype", "dim", "method",
        "christoffel", "damping", "invariant", "converged", "seed", "measures": {name: {"naive",
        "invariant", "stderr": {"naive", "invariant"}, "error_bound": {...}, "converged",
        "n_matvecs": {...}, "method"}}, "eigenvalues": {"naive", "invariant"} (all on the dense
        path, the top ``k`` otherwise), "gradient_norm": {...}, "kernel_dim",
        "hessian_kernel_norm", "n_matvecs": {...}, "route": {...}}``.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flatness import compare_flatness
    >>> g = rgeom.maps.LayerRescaling([1, 1], [10.0, 0.1])
    >>> loss = rgeom.pullback(lambda th: (th[0] * th[1] - 1.0) ** 2 + th[0] ** 2, g)
    >>> cmp = compare_flatness(loss, g.inverse(np.array([0.5, 1.5])),
    ...                        rgeom.pullback(rgeom.metrics.Euclidean(2), g))
    >>> m = cmp.as_dict()["measures"]["trace"]
    >>> round(m["naive"], 6), round(m["invariant"], 6)      # 10²·6.5 + 0.1²·0.5  vs  6.5 + 0.5
    (650.005, 7.0)
    """
    if metric is None:
        raise ValueError("compare_flatness: pass the metric of the invariant measures (got None).")
    kw = dict(inspect.signature(flatness).parameters)
    bad = sorted(set(kwargs) - set(kw) | {"loss", "theta", "metric"} & set(kwargs))
    if bad:
        raise TypeError(f"compare_flatness: unexpected keyword arguments {bad}.")
    kw = {n: p.default for n, p in kw.items() if n not in ("loss", "theta", "metric")}
    kw.update(kwargs)
    kw["method"] = _resolve_method(kw["method"], theta)
    setup = None
    if kw["method"] == "dense":  # ∂²L and ∇L once for both sides
        _check_args(kw["method"], kw["measures"], kw["k"], kw["n_probes"], kw["slq_probes"],
                    kw["lanczos_steps"], kw["tol"], kw["damping"], kw["kernel_probes"])
        setup = _dense_setup(loss, theta, metric, kw["backend"], kw["max_dense_dim"])
    return FlatnessComparison(
        naive=_flatness(loss, theta, None, **{**kw, "damping": 0.0}, setup=setup),
        invariant=_flatness(loss, theta, metric, **kw, setup=setup),
    )
