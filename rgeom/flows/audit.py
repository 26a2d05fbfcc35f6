"""The invariance harness and the optimizer naturality audit.

An optimizer is *natural* under a reparametrization ``θ = g(ψ)`` when running it on ``L∘g`` from
``ψ₀ = g⁻¹(θ₀)`` (with its metric pulled back along ``g``, where it has one) and mapping the
ψ-trajectory back through ``g`` reproduces the θ-trajectory. :func:`discrepancy` measures

    D(lr) = max_k ‖g(ψ_k) − θ_k‖₂,   k = 0 … n,   n · lr = T   (a fixed horizon T)

for a ladder of learning rates, in the units of θ. :func:`classify` turns the ladder into a
verdict:

* ``"exact"``: ``D(lr) <= exact_rtol · max_k ‖θ_k‖₂`` for every ``lr`` (round-off level;
  default ``exact_rtol = 1e-9``, i.e. about 10⁷ float64 ulps, which covers ``~10²`` steps of
  linear algebra with condition numbers ``~10²``).
* ``"order-p"``: the least-squares slope ``p`` of ``log D`` against ``log lr`` (points at
  round-off level excluded) is ``>= 0.5``, with ``R² >= 0.9``, and ``D`` decreases from the
  largest to the smallest ``lr``: the discrete optimizer is natural up to ``O(lr^p)``, its flow
  exactly.
* ``"not-invariant"``: anything else (``D`` does not go to zero with ``lr``: the flows differ).

:func:`audit` runs every optimizer × map family on the audit problem (:func:`default_problem`, a
small tanh MLP); ``rgeom audit`` prints the table.
"""

import dataclasses
import math
import sys

import numpy as np

from .._checks import check_vector, concrete
from ..backend import get_backend
from ..errors import ConvergenceError, ShapeError
from ..geometry.rules import pullback as pullback_function
from ..maps.base import Map
from .map_families import FAMILIES, LAYOUT_FAMILIES, MatrixLayout, Submersion, make_map
from .optimizers import REGISTRY, Optimizer, UnsupportedMapError, get
from ..linalg._progress import progress_bar
from .optimizers.base import check_lr

__all__ = [
    "Discrepancy", "discrepancy", "one_step", "fit_slope", "classify", "AuditProblem",
    "default_problem", "homogeneous_mlp", "AUDIT_OPTIMIZERS", "build_optimizer", "audit", "format_table",
    "plot", "EXACT_RTOL", "KFAC_DAMPING",
]

#: Relative round-off level below which a discrepancy counts as zero (see the module docstring).
EXACT_RTOL = 1e-9
#: Smallest fitted slope that counts as convergence, and the smallest R² of the log-log fit.
MIN_ORDER, MIN_R2 = 0.5, 0.9


@dataclasses.dataclass(frozen=True)
class Discrepancy:
    """The result of :func:`discrepancy` for one optimizer and one map.

    Attributes
    ----------
    lrs : tuple of float
    discrepancy : tuple of float
        ``max_k ‖g(ψ_k) − θ_k‖₂`` per learning rate, in units of θ.
    relative : tuple of float
        ``discrepancy / scale``.
    scale : float
        ``max_k ‖θ_k‖₂`` over every θ-run (the size round-off is relative to).
    n_steps : tuple of int
        Steps per run (``horizon / lr``, or 1 for :func:`one_step`).
    slope, r2 : float or None
        Least-squares slope of ``log D`` against ``log lr`` and its ``R²`` (``None`` when exact).
    verdict : str
        ``"exact"``, ``"order-p"`` or ``"not-invariant"``.
    """

    lrs: tuple
    discrepancy: tuple
    relative: tuple
    scale: float
    n_steps: tuple
    slope: object
    r2: object
    verdict: str

    @property
    def order(self):
        """The fitted order ``p`` when the verdict is ``"order-p"``, else ``None``."""
        return self.slope if self.verdict == "order-p" else None


def fit_slope(lrs, values):
    """Least-squares slope and ``R²`` of ``log values`` against ``log lrs``.

    Examples
    --------
    >>> slope, r2 = fit_slope([0.1, 0.05, 0.025], [2e-2, 5e-3, 1.25e-3])
    >>> round(slope, 12), round(r2, 12)
    (2.0, 1.0)
    """
    x, y = np.log(np.asarray(lrs, float)), np.log(np.asarray(values, float))
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError("fit_slope: need at least two distinct learning rates.")
    A = np.stack([x, np.ones_like(x)], 1)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    ss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(resid @ resid) / ss if ss > 0 else 0.0
    return float(coef[0]), r2


def classify(lrs, disc, scale, *, exact_rtol=EXACT_RTOL, min_order=MIN_ORDER, min_r2=MIN_R2):
    """The verdict for a ladder of discrepancies: ``(verdict, slope, r2)``.

    Parameters
    ----------
    lrs, disc : sequences of float
        Learning rates and the discrepancies measured at them (same length, >= 2 for a fit).
    scale : float
        Size of the trajectory; ``disc <= exact_rtol · scale`` is round-off.

    Examples
    --------
    >>> classify([0.1, 0.05], [1e-17, 3e-17], 1.0)
    ('exact', None, None)
    >>> v, p, r2 = classify([0.1, 0.05, 0.025], [1e-2, 5e-3, 2.5e-3], 1.0)
    >>> v, round(p, 6)
    ('order-p', 1.0)
    >>> classify([0.1, 0.05, 0.025], [0.3, 0.3, 0.3], 1.0)[0]
    'not-invariant'
    """
    lrs, disc = np.asarray(lrs, float), np.asarray(disc, float)
    if lrs.shape != disc.shape or lrs.size < 1:
        raise ShapeError("classify: lrs and disc must be non-empty sequences of the same length.")
    floor = exact_rtol * max(float(scale), np.finfo(float).tiny)
    if not np.all(np.isfinite(disc)):
        return "not-invariant", None, None
    above = disc > floor
    if not above.any():
        return "exact", None, None
    if lrs.size < 2:
        return "not-invariant", None, None
    use = above if above.sum() >= 2 else np.ones_like(above)
    slope, r2 = fit_slope(lrs[use], np.maximum(disc[use], floor))
    order = np.argsort(lrs)
    decreasing = disc[order[0]] < disc[order[-1]]
    if slope >= min_order and r2 >= min_r2 and decreasing:
        return "order-p", slope, r2
    return "not-invariant", slope, r2


def _check_lrs(lrs):
    try:
        lrs = [float(x) for x in lrs]
    except TypeError:
        raise ValueError(f"lrs must be a sequence of learning rates, got {lrs!r}.") from None
    if not lrs:
        raise ValueError("lrs must contain at least one learning rate.")
    for i, lr in enumerate(lrs):
        check_lr(lr, f"lrs[{i}]")
    return lrs


def _steps(horizon, lr):
    n = horizon / lr
    if abs(n - round(n)) > 1e-9 * max(n, 1.0) or round(n) < 1:
        raise ValueError(f"horizon={horizon!r} must be a positive integer multiple of every learning rate; "
                         f"horizon / lr = {n:.6g} for lr={lr!r}.")
    return int(round(n))


def _start(g, theta0, psi0, dim_name="theta0"):
    """``(θ₀, ψ₀)`` for a map (``ψ₀ = g⁻¹(θ₀)``) or a submersion (``θ₀ = π(ψ₀)``)."""
    if isinstance(g, Submersion):
        if psi0 is None:
            raise ValueError("discrepancy: a Submersion cannot be inverted; "
                             "pass psi0 (the big model's start).")
        psi0 = check_vector(psi0, "psi0", g.dim_in)
        theta_pi = g(psi0)
        if theta0 is None:
            return theta_pi, psi0
        theta0 = check_vector(theta0, dim_name, g.dim_out)
        if not np.allclose(concrete(theta_pi), concrete(theta0), rtol=1e-12, atol=1e-12):
            raise ValueError("discrepancy: theta0 must equal g(psi0) for a submersion (or pass theta0=None).")
        return theta0, psi0
    if not isinstance(g, Map):
        raise TypeError(f"discrepancy: g must be an rgeom.maps.Map or a Submersion, got {type(g).__name__}.")
    theta0 = check_vector(theta0, dim_name)
    d = theta0.shape[0]
    if g.dim is not None and g.dim != d:
        raise ShapeError(f"discrepancy: the map {g!r} acts on vectors of length {g.dim}, but theta0 has {d} "
                         "parameters.")
    if psi0 is None:
        psi0 = g.inverse(theta0)
    psi0 = check_vector(psi0, "g.inverse(theta0)", d)
    g.check_invertible(psi0, "g.inverse(theta0)")
    return theta0, psi0


def _run(opt, loss, x0, lr, n, integrator, backend, chart):
    sol = opt.run(loss, x0, lr, n, integrator=integrator, backend=backend)
    if sol.status != "success":
        raise ConvergenceError(
            f"{opt!r} in the {chart} chart at lr={lr:g}: status {sol.status!r} at t = {sol.t_reached:.6g} "
            f"of {lr * n:.6g} ({sol.message}). Use smaller learning rates or a shorter horizon."
        )
    return sol.ys[0]


def discrepancy(optimizer, loss, theta0, g, lrs, horizon=None, *, integrator=None, psi0=None,
                backend=None, exact_rtol=EXACT_RTOL, progress=False):
    """Run ``optimizer`` in θ and in ψ (``θ = g(ψ)``), map ψ back, and measure the gap.

    Parameters
    ----------
    optimizer : Optimizer
        In the θ chart; the ψ-run uses ``optimizer.pullback(g)`` (its metric pulled back).
    loss : callable
        ``L(θ)``; the ψ-run minimizes ``L∘g``.
    theta0 : array, shape (d,)
        Start in θ (may be ``None`` for a submersion, where it is ``g(psi0)``).
    g : rgeom.maps.Map or Submersion
        The reparametrization (or quotient map ``L_big = L∘g``).
    lrs : sequence of float
        Learning rates (``> 0``).
    horizon : float, optional
        Fixed time ``T = lr · n_steps`` (an integer multiple of every ``lr``). ``None`` takes one
        step per learning rate (see :func:`one_step`).
    integrator : None or str
        Passed to :meth:`Optimizer.run` (``None`` = the optimizer's own update).
    psi0 : array, optional
        Start in ψ; default ``g⁻¹(θ₀)``; required for a submersion.

    Returns
    -------
    Discrepancy

    Raises
    ------
    ValueError
        A learning rate ``<= 0``, or a horizon that is not a multiple of a learning rate.
    ShapeError
        A map that does not fit ``theta0``.
    UnsupportedMapError
        An optimizer with no meaning in the map's chart (K-FAC under a map mixing layers).
    ConvergenceError
        A run that diverged or failed (the message says which chart, ``lr`` and time reached).

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flows.optimizers import get
    >>> loss = lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2
    >>> polar, theta0 = rgeom.maps.Polar(), np.array([1.0, 1.0])
    >>> res = discrepancy(get("ngd"), loss, theta0, polar, [0.02, 0.01, 0.005], horizon=0.1)
    >>> res.verdict, round(res.slope, 1)
    ('order-p', 1.0)
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"discrepancy: optimizer must be an rgeom Optimizer, got {type(optimizer).__name__}.")
    lrs = _check_lrs(lrs)
    if horizon is not None:
        horizon = check_lr(horizon, "horizon")
    theta0, psi0 = _start(g, theta0, psi0)
    bk = get_backend(backend, theta0)
    d = theta0.shape[0]
    opt_psi = optimizer.pullback(g, dim=d)
    loss_psi = _compose(loss, g)
    out, steps, scale = [], [], 0.0
    with progress_bar(len(lrs), f"{optimizer.name} under {g!r}", progress) as bar:
        for lr in lrs:
            n = 1 if horizon is None else _steps(horizon, lr)
            th = _run(optimizer, loss, theta0, lr, n, integrator, bk, "θ")
            ps = _run(opt_psi, loss_psi, psi0, lr, n, integrator, bk, "ψ")
            th_np = np.asarray(bk.to_numpy(th), dtype=np.float64)
            mapped = np.stack([np.asarray(bk.to_numpy(g(ps[k])), dtype=np.float64)
                               for k in range(ps.shape[0])])
            out.append(float(np.max(np.linalg.norm(mapped - th_np, axis=1))))
            scale = max(scale, float(np.max(np.linalg.norm(th_np, axis=1))))
            steps.append(n)
            bar.update(1)
    verdict, slope, r2 = classify(lrs, out, scale, exact_rtol=exact_rtol)
    tiny = max(scale, np.finfo(float).tiny)
    return Discrepancy(tuple(lrs), tuple(out), tuple(x / tiny for x in out), scale, tuple(steps), slope, r2,
                       verdict)


def one_step(optimizer, loss, theta0, g, lrs, **kwargs):
    """:func:`discrepancy` after a single step of each size: ``‖g(ψ₁) − θ₁‖₂`` against ``lr``.

    A natural flow's Euler step errs by ``O(lr²)`` here; the geodesic-corrected step by
    ``O(lr³)``; the exponential map not at all.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flows.optimizers import get
    >>> loss = lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2
    >>> polar, theta0 = rgeom.maps.Polar(), np.array([1.0, 1.0])
    >>> res = one_step(get("rgd_geodesic"), loss, theta0, polar, [0.04, 0.02, 0.01])
    >>> round(res.slope, 1)
    3.0
    """
    return discrepancy(optimizer, loss, theta0, g, lrs, None, **kwargs)


def _compose(loss, g):
    if isinstance(g, Submersion):
        return lambda psi: loss(g.forward(psi))
    return pullback_function(loss, g)


# --- the audit problem ----------------------------------------------------------------------------
def homogeneous_mlp(widths, *, activation="tanh", backend="autograd"):
    """An MLP whose layer ``l`` is one homogeneous matrix ``W̄_l = [W_l | b_l]`` acting on ``ā = (a; 1)``.

    The parameters are laid out as a :class:`~rgeom.flows.map_families.MatrixLayout` (one
    ``out × (in + 1)`` block per layer, row-major), which is what the layer-wise map families act
    on, and every block is a dense :class:`~rgeom.models.Layer` without separate bias, so the
    K-FAC metric's input factor is ``A = E[ā āᵀ]`` directly. Parameters start at zero.

    Parameters
    ----------
    widths : sequence of int
        ``(n_in, hidden…, n_out)``.
    activation : str
        Of the hidden layers (see :func:`rgeom.models.mlp`).
    backend : str

    Returns
    -------
    rgeom.models.Model

    Examples
    --------
    >>> import numpy as np
    >>> net = homogeneous_mlp((1, 2, 1))
    >>> net.layout, [(L.weight, L.bias) for L in net.layers]
    (MatrixLayout([(2, 2), (1, 3)]), [('W0', None), ('W1', None)])
    >>> theta = np.arange(7.0)                      # W̄₀ = [[0, 1], [2, 3]], W̄₁ = [[4, 5, 6]]
    >>> f = net(np.array([[0.5]]), theta)[0, 0]     # W̄₁ (tanh(W̄₀ (0.5; 1)); 1)
    >>> bool(np.isclose(f, 4 * np.tanh(1.0) + 5 * np.tanh(4.0) + 6))
    True
    """
    from ..models.model import Layer, Model, _activation

    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ShapeError(f"homogeneous_mlp: widths must list at least two positive sizes, got {widths}.")
    bk = get_backend(backend)
    layout = MatrixLayout([(widths[i + 1], widths[i] + 1) for i in range(len(widths) - 1)])
    act, n_layers = _activation(activation, bk.xp), len(widths) - 1

    def fn(named, X, tap=None):
        a = X
        for i in range(n_layers):
            abar = bk.xp.concatenate([a, bk.xp.ones((a.shape[0], 1), dtype=a.dtype)], 1)
            s = abar @ named[f"W{i}"].T
            if tap is not None:
                s = tap(i, abar, s)
            a = act(s) if i < n_layers - 1 else s
        return a

    layers = [Layer("dense", f"W{i}", None) for i in range(n_layers)]
    return Model(fn, layout, np.zeros(layout.dim), bk, layers=layers,
                 name=f"homogeneous_mlp({'-'.join(map(str, widths))}, {activation})")


@dataclasses.dataclass(frozen=True)
class AuditProblem:
    """A loss on a matrix layout, a start and a model: what every audit row runs on.

    Attributes
    ----------
    problem : rgeom.models.Problem
        The network (:func:`homogeneous_mlp`; its ``model.layout`` serves the layer-wise maps and
        Shampoo), the Gaussian likelihood ``½‖f − y‖²`` and the data.
    theta0 : ndarray, shape (d,)
    ggn : Metric
        The Gauss-Newton metric of the loss on θ with a ridge, ``JᵀJ/n + (μ + 0.1) I`` (the row
        ``ngd_ggn``; the ridge is part of the metric on θ, so it is pulled back with it).
    loss : callable
        ``L(θ)``: the network's squared loss plus weight decay.
    """

    problem: object
    theta0: np.ndarray
    ggn: object
    loss: object

    @property
    def model(self):
        """The network (:class:`rgeom.models.Model` on a MatrixLayout)."""
        return self.problem.model

    @property
    def dim(self):
        return self.theta0.shape[0]


def default_problem(seed=13, *, widths=(1, 2, 1), n_data=16, weight_decay=0.0):
    """The audit problem: a tanh MLP ``1 → 2 → 1`` (7 parameters) on 16 teacher-generated points.

    ``L(θ) = ½ mean‖f(x) − y‖² + ½ μ‖θ‖²`` with ``μ = weight_decay``, from a start whose
    entries have random signs and sizes in ``[0.5, 1.5]``, away from the minimum. With the default
    seed, along the audit's runs (horizon 0.4) the Hessian stays far from singular (Newton flows
    are defined), no gradient component changes sign (sign-based methods are smooth flows there)
    and K-FAC's Euler steps stay bounded; ``tests/test_flows_audit.py`` checks these.

    Examples
    --------
    >>> p = default_problem()
    >>> p.dim, p.model.layout
    (7, MatrixLayout([(2, 2), (1, 3)]))
    """
    from ..metrics.simple import Dense
    from ..models.problem import Problem

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_data, widths[0]))
    net = homogeneous_mlp(widths)
    teacher = rng.normal(size=net.layout.size)
    Y = net(X, teacher) + 0.1 * rng.normal(size=(n_data, widths[-1]))
    d = net.layout.size
    theta0 = rng.choice([-1.0, 1.0], size=d) * rng.uniform(0.5, 1.5, size=d)
    prob = Problem(net.with_theta(theta0), "gaussian", (X, Y))
    mu = float(weight_decay)

    def loss(theta):
        return prob.objective(theta) + 0.5 * mu * get_backend(None, theta).xp.sum(theta * theta)

    def ggn(theta):
        bk = get_backend(None, theta)
        J = bk.jacobian(lambda t: bk.xp.reshape(net.apply(t, bk.asarray(X)), (-1,)), theta)
        return J.T @ J / n_data + (mu + 0.1) * bk.xp.eye(d, dtype=theta.dtype)

    return AuditProblem(prob, theta0, Dense(ggn, dim=d), loss)


#: The audit's rows: registry names plus ``ngd_ggn`` (natural gradient with the network's GGN) and
#: ``kfac_damped`` (K-FAC with its metric damped, ``G + δI``, δ = :data:`KFAC_DAMPING`).
AUDIT_OPTIMIZERS = (
    "gd", "sign_gd", "heavy_ball", "nesterov", "adam", "rmsprop", "adagrad", "newton",
    "riemannian_newton", "ngd", "ngd_ggn", "ngd_momentum", "ngd_momentum_lc", "rgd_exp",
    "rgd_geodesic", "kfac", "kfac_damped", "shampoo",
)
#: Damping of the audit row ``kfac_damped``.
KFAC_DAMPING = 1e-3


def build_optimizer(name, problem):
    """The optimizer ``name`` configured for ``problem`` (metric, model or layout as needed).

    Metric-based optimizers use the Euclidean metric of the θ chart (pulled back in ψ), except
    ``ngd_ggn``, which uses ``problem.ggn``, and K-FAC, whose metric is the K-FAC metric of the
    problem's network and data (:class:`rgeom.metrics.kfac.KFAC`; damped for ``kfac_damped``).
    """
    if name == "ngd_ggn":
        return get("ngd", metric=problem.ggn)
    if name in ("kfac", "kfac_damped"):
        from ..metrics.kfac import KFAC as KFACMetric

        damping = KFAC_DAMPING if name == "kfac_damped" else 0.0
        return get("kfac", metric=KFACMetric(problem.problem, damping=damping))
    if name == "shampoo":
        return get("shampoo", layout=problem.model.layout)
    if name not in REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; the audit knows: {', '.join(AUDIT_OPTIMIZERS)}.")
    return get(name)


def _select(names, known, what):
    if names is None:
        return tuple(known)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {what} {unknown[0] if unknown else '(none given)'!r}; known {what}s: "
                         f"{', '.join(known)}.")
    return tuple(names)


def audit(optimizers=None, maps=None, *, problem=None, horizon=0.4, lrs=None, integrator=None, seed=0,
          progress=False):
    """Every optimizer × map family: discrepancy ladder, fitted slope and verdict.

    Parameters
    ----------
    optimizers, maps : sequence of str or comma-separated str, optional
        Rows to run (default: :data:`AUDIT_OPTIMIZERS` × :data:`~rgeom.flows.map_families.FAMILIES`).
    problem : AuditProblem, optional
        Default :func:`default_problem` ``()``.
    horizon : float
        Time horizon ``T``.
    lrs : sequence of float, optional
        Default ``T/4, T/8, T/16``.
    integrator : None or str
    seed : int
        Seed of the maps.

    Returns
    -------
    list of dict
        One per applicable pair: ``optimizer``, ``maps``, ``lrs``, ``discrepancy``, ``slope``,
        ``verdict`` (``"exact"`` / ``"order-p"`` / ``"not-invariant"``), ``r2``, ``relative``.
        Pairs without meaning (K-FAC under maps that mix layers) are left out.

    Examples
    --------
    >>> rows = audit(["gd", "ngd"], ["orthogonal", "positive_diagonal"])
    >>> for r in rows:
    ...     print(r["optimizer"], r["maps"], r["verdict"])
    gd orthogonal exact
    gd positive_diagonal not-invariant
    ngd orthogonal exact
    ngd positive_diagonal exact
    """
    opt_names = _select(optimizers, AUDIT_OPTIMIZERS, "optimizer")
    map_names = _select(maps, FAMILIES, "map family")
    problem = default_problem() if problem is None else problem
    lrs = [horizon / 4, horizon / 8, horizon / 16] if lrs is None else list(lrs)
    d, layout = problem.dim, problem.model.layout
    built = {m: make_map(m, d, seed=seed, layout=layout if m in LAYOUT_FAMILIES else None) for m in map_names}
    rows = []
    with progress_bar(len(opt_names) * len(map_names), "rgeom audit", progress) as bar:
        for name in opt_names:
            opt = build_optimizer(name, problem)
            for m in map_names:
                try:
                    res = discrepancy(opt, problem.loss, problem.theta0, built[m], lrs, horizon,
                                      integrator=integrator)
                except UnsupportedMapError:
                    res = None
                bar.update(1)
                if res is None:
                    continue
                rows.append({
                    "optimizer": name, "maps": m, "lrs": list(res.lrs), "discrepancy": list(res.discrepancy),
                    "relative": list(res.relative), "slope": res.slope, "r2": res.r2, "verdict": res.verdict,
                })
    return rows


def _verdict_text(row):
    if row["verdict"] == "order-p":
        return f"O(lr^{row['slope']:.2f})"
    return row["verdict"]


def format_table(rows):
    """The audit as text: one line per optimizer, one column per map family (verdicts).

    Examples
    --------
    >>> print(format_table([{"optimizer": "gd", "maps": "orthogonal", "verdict": "exact", "slope": None}]))
    optimizer   orthogonal
    gd          exact
    """
    opts = list(dict.fromkeys(r["optimizer"] for r in rows))
    maps = list(dict.fromkeys(r["maps"] for r in rows))
    cell = {(r["optimizer"], r["maps"]): _verdict_text(r) for r in rows}
    widths = [max(len("optimizer"), *(len(o) for o in opts))] + [
        max(len(m), *(len(cell.get((o, m), "n/a")) for o in opts)) for m in maps]
    lines = ["   ".join(h.ljust(w) for h, w in zip(["optimizer", *maps], widths)).rstrip()]
    for o in opts:
        vals = [o] + [cell.get((o, m), "n/a") for m in maps]
        lines.append("   ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip())
    return "\n".join(lines)


def plot(rows, path, *, optimizers=None):
    """Save a log-log figure of discrepancy against learning rate, one panel per map family.

    Needs matplotlib (Agg backend). Exact rows are drawn at their (round-off) values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = list(dict.fromkeys(r["maps"] for r in rows))
    opts = optimizers or list(dict.fromkeys(r["optimizer"] for r in rows))
    ncol = min(3, len(maps))
    nrow = math.ceil(len(maps) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(opts), 2)))
    for ax, m in zip(axes.flat, maps):
        for c, o in zip(colors, opts):
            for r in rows:
                if r["maps"] == m and r["optimizer"] == o:
                    disc = np.maximum(np.asarray(r["discrepancy"]), 1e-17)
                    ax.loglog(r["lrs"], disc, "o-", color=c, ms=3, lw=1, label=o)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("learning rate")
        ax.grid(True, which="major", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("max ‖g(ψ_k) − θ_k‖")
    for ax in list(axes.flat)[len(maps):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08 if len(labels) > 6 else 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":  # pragma: no cover
    print(format_table(audit(progress=True)), file=sys.stdout)
