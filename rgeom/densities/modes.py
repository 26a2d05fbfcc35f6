"""Modes of a density: the naive MAP (w.r.t. Lebesgue measure in the chart) and the invariant mode.

The naive MAP maximises ``p(θ)``, a density w.r.t. ``dθ``; a change of chart multiplies it by
``|det J|`` and moves the maximiser. The invariant mode maximises ``p / √det G``, the density
w.r.t. the Riemannian volume, a scalar function: the same point in every chart, provided the
metric is carried along (``G_ψ = Jᵀ G J``). Both use the same optimizer: scipy's trust-region
Newton method on ``−log p_M`` with autodiff derivatives (``trust-exact`` with the dense Hessian
for ``d <= 200``, the matrix-free ``trust-krylov`` above).
"""

import dataclasses
import warnings

import numpy as np
import scipy.optimize

from .._checks import MAX_DENSE_DIM
from ..errors import ConvergenceError, NotPositiveDefiniteError
from ..geometry.density import Density
from ..geometry.rules import _pullback
from ..metrics.base import Metric
from ..metrics.pullback import Pullback
from .objective import NegLogDensity

#: Largest dimension for which ``method="auto"`` uses the dense Hessian (``trust-exact``).
DENSE_MODE_DIM = 200

#: Condition number of ``G`` at the mode above which the metric counts as singular there.
MAX_METRIC_CONDITION = 1e12

_METHODS = ("auto", "trust-exact", "trust-krylov")
_ON_FAILURE = ("warn", "raise", "ignore")


class NotConvergedWarning(UserWarning):
    """A mode search stopped before meeting its tolerance (the result says ``converged=False``)."""


@dataclasses.dataclass(frozen=True)
class Mode:
    """A maximiser of a density w.r.t. a stated measure, with the optimizer's report.

    Attributes
    ----------
    point : array, shape (d,)
        The mode, on the backend of the start point.
    log_density : float
        ``log p_M`` at ``point`` in nats, w.r.t. :attr:`measure`.
    measure : str
        ``"lebesgue"`` (naive MAP of the chart) or ``"riemannian"`` (invariant mode).
    metric : Metric or None
        The metric whose volume is the reference measure (None: Lebesgue).
    converged : bool
        Whether the optimizer met its tolerance at a strict local maximum.
    message : str
        The optimizer's status, and why ``converged`` is False when it is.
    gradient_norm : float
        ``√(gᵀ G⁻¹ g)`` for ``g = ∇ log p_M`` at ``point`` (Euclidean norm for Lebesgue): nats
        per unit of metric length, chart-independent for the invariant mode.
    n_iterations, n_evaluations : int
        Optimizer iterations and objective evaluations.
    method : str
        The scipy method used.
    backend, dtype : str
        Autodiff backend and floating type of ``point``.
    mapped : bool
        True after :meth:`pullback` / :meth:`pushforward`: the point then is the same point of the
        manifold in other coordinates, which for a naive MAP is in general *not* the naive MAP
        of the new chart.
    """

    point: object
    log_density: float
    measure: str
    metric: object
    converged: bool
    message: str
    gradient_norm: float
    n_iterations: int
    n_evaluations: int
    method: str
    backend: str
    dtype: str
    mapped: bool = False
    _objective: object = dataclasses.field(default=None, repr=False, compare=False)

    def numpy(self):
        """``point`` as a float64 NumPy array."""
        from ..backend import get_backend

        return np.asarray(get_backend(self.backend).to_numpy(self.point), dtype=np.float64)

    def pullback(self, g):
        """The same point in the chart ψ of ``θ = g(ψ)``: ``ψ = g⁻¹(point)``.

        ``log_density`` becomes the density of the pulled-back distribution there (``+ log|det J|``
        for Lebesgue, unchanged for the volume measure) and ``metric`` is pulled back, so the
        result can be compared with a mode computed directly in ψ.

        Examples
        --------
        >>> import autograd.numpy as np, rgeom
        >>> p = rgeom.Density(lambda th: -0.5 * np.sum(th ** 2))          # N(0, 1), unnormalized
        >>> m = p.mode(np.array([0.3]))
        >>> round(float(m.pullback(rgeom.maps.Exp().inv).point[0]), 12)   # e^0
        1.0
        """
        psi = g.inverse(self.point)
        g.check_invertible(psi, "g.inverse(mode.point)")
        log_density = self.log_density
        if self.metric is None:
            log_density += float(np.asarray(g.log_abs_det_jacobian(psi)))
        metric = None if self.metric is None else Pullback(self.metric, g)
        return dataclasses.replace(self, point=psi, log_density=log_density, metric=metric, mapped=True,
                                   _objective=None)

    def pushforward(self, g):
        """The same point in the chart θ of ``θ = g(ψ)``: ``pullback(g.inv)``."""
        return self.pullback(g.inv)

    def __str__(self):
        pt = np.array2string(self.numpy(), precision=8, threshold=8)
        kind = "naive MAP (Lebesgue)" if self.metric is None else f"invariant mode (volume of {self.metric!r})"
        status = "converged" if self.converged else "NOT CONVERGED"
        return (f"{kind}: {pt}, log p = {self.log_density:.10g} [{status}: {self.message}; "
                f"|grad| = {self.gradient_norm:.2g}, {self.n_iterations} iterations, {self.method}, "
                f"{self.backend}, {self.dtype}]")


@_pullback.register
def _(m: Mode, g):
    return m.pullback(g)


def _check_options(metric, method, on_failure, gtol):
    if metric is not None and not isinstance(metric, Metric):
        raise TypeError(f"mode: metric must be None (naive MAP) or an rgeom Metric, got {type(metric).__name__}.")
    if method not in _METHODS:
        raise ValueError(f"mode: method must be one of {_METHODS}, got {method!r}.")
    if on_failure not in _ON_FAILURE:
        raise ValueError(f"mode: on_failure must be one of {_ON_FAILURE}, got {on_failure!r}.")
    if not (isinstance(gtol, (int, float)) and gtol > 0):
        raise ValueError(f"mode: gtol must be a positive number, got {gtol!r}.")


def _check_metric_at_mode(metric, obj, x_np):
    """Raise if the metric is singular (or nearly) at the mode: the volume degenerates there."""
    if metric is None or obj.d > MAX_DENSE_DIM:
        return
    try:
        G = obj.to_numpy(metric.at(obj.to_backend(x_np)).as_matrix())
    except NotPositiveDefiniteError as exc:
        raise NotPositiveDefiniteError(f"mode: the metric {metric!r} is not positive definite at the "
                                       f"mode {x_np}: {exc}") from exc
    cond = np.linalg.cond(G)
    if not cond < MAX_METRIC_CONDITION:
        raise NotPositiveDefiniteError(
            f"mode: the metric {metric!r} is singular at the mode {np.round(x_np, 8)} "
            f"(cond G = {cond:.3g} >= {MAX_METRIC_CONDITION:.0e}); the density w.r.t. its volume "
            "degenerates there. Use a metric that is positive definite on the whole support."
        )


def _eps(dtype):
    """Machine epsilon of a NumPy, JAX or torch floating dtype."""
    try:
        return float(np.finfo(np.dtype(str(dtype).replace("torch.", ""))).eps)
    except TypeError:
        return float(np.finfo(np.float64).eps)


def _newton_polish(obj, x, fval, grad, gtol, steps=6):
    """Plain Newton steps ``x − H⁻¹g`` while they shrink the gradient.

    The trust-region method stops when ``f`` can no longer resolve progress (its differences
    reach rounding level) although the gradient still can; a few Newton steps, which use only
    the gradient and Hessian, take the point to full precision (quadratic convergence).
    """
    done = 0
    for _ in range(steps):
        gnorm = float(np.linalg.norm(grad))
        if gnorm <= 0.01 * gtol:
            break
        H = obj.hess(x)
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            break
        x_new = x - step
        f_new, g_new = obj.value_and_grad(x_new)
        if not (np.isfinite(f_new) and np.linalg.norm(g_new) < gnorm and f_new <= fval + 1e-12 * (1 + abs(fval))):
            break
        x, fval, grad, done = x_new, f_new, g_new, done + 1
    return x, fval, grad, done


def mode(density, x0, *, metric=None, method="auto", gtol=1e-9, maxiter=None, on_failure="warn",
         backend=None):
    """The mode of ``density`` w.r.t. ``metric``'s volume: naive MAP (``None``) or invariant mode.

    Maximises ``log p_M = log p_Leb − ½ log det G`` (``G = I`` for ``metric=None``) with scipy's
    trust-region Newton methods and autodiff gradients/Hessians on the backend of ``x0``. Steps
    that leave the support (``log p = -inf``) are rejected.

    Parameters
    ----------
    density : Density
        Any :class:`rgeom.Density` (its own reference measure is accounted for).
    x0 : array, shape (d,)
        Start point inside the support.
    metric : Metric, optional
        ``None``: the naive MAP, mode of the density w.r.t. Lebesgue measure *in this chart*.
        A metric ``G``: the invariant mode, of ``p / √det G`` (see ``docs/densities.md`` for the
        choice of ``G``: user-given, a reference chart's Euclidean metric pulled back, or a
        Fisher metric, i.e. the Jeffreys measure).
    method : {"auto", "trust-exact", "trust-krylov"}
        ``auto``: ``trust-exact`` (dense Hessian) for ``d <= 200``, else matrix-free ``trust-krylov``.
    gtol : float
        Convergence: Euclidean norm of ``∇ log p_M`` in the chart (nats per coordinate unit).
        With the dense Hessian, a Newton decrement ``½ gᵀH⁻¹g <= 50 ε (1 + |log p_M|)`` (``ε`` the
        machine epsilon of ``x0``'s dtype: ``1.1e-14`` in float64, ``6e-6`` in float32; reached
        when rounding stops further progress) also counts.
    maxiter : int, optional
        Iteration limit (default ``200 d``).
    on_failure : {"warn", "raise", "ignore"}
        What to do when the optimizer did not converge: warn (:class:`NotConvergedWarning`) and
        return the result with ``converged=False``, raise :class:`~rgeom.errors.ConvergenceError`,
        or only mark the result.
    backend : None, str or Backend
        Force a backend; default: inferred from ``x0``.

    Returns
    -------
    Mode

    Raises
    ------
    SupportError
        ``x0`` is outside the support (for a pulled-back density the message names the map).
    NonFiniteError
        The log-density returned NaN or ``+inf``, or a non-finite gradient, at a visited point.
    NotPositiveDefiniteError
        The metric is singular or indefinite at a visited point or at the mode.
    ConvergenceError
        Not converged and ``on_failure="raise"``.

    Examples
    --------
    ``θ ~ N(0, 1)`` seen in ``ψ = e^θ`` (``θ = log ψ``):

    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.densities import Gaussian, mode
    >>> log_chart = rgeom.maps.Exp().inv                                  # θ = g(ψ) = log ψ
    >>> q = rgeom.pullback(Gaussian([0.0], [[1.0]]), log_chart)
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(1), log_chart)         # G_ψ = 1/ψ²
    >>> naive, inv = mode(q, np.array([2.0])), mode(q, np.array([2.0]), metric=G)
    >>> round(float(naive.point[0]), 8), round(float(inv.point[0]), 8), inv.converged
    (0.36787944, 1.0, True)
    """
    if not isinstance(density, Density):
        raise TypeError(f"mode: density must be an rgeom.Density, got {type(density).__name__}.")
    _check_options(metric, method, on_failure, gtol)
    obj = NegLogDensity(density, metric, x0, backend)
    d = obj.d
    if method == "auto":
        method = "trust-exact" if d <= DENSE_MODE_DIM else "trust-krylov"
    kwargs = {"hess": obj.hess} if method == "trust-exact" else {"hessp": obj.hessp}
    x_start = obj.to_numpy(obj.x0)
    res = scipy.optimize.minimize(
        obj.fun, x_start, jac=obj.jac, method=method,
        options={"gtol": gtol, "maxiter": 200 * d if maxiter is None else int(maxiter)}, **kwargs
    )
    x = np.asarray(res.x, dtype=np.float64)
    fval, grad = obj.value_and_grad(x)
    polished = 0
    if method == "trust-exact" and np.isfinite(fval):
        x, fval, grad, polished = _newton_polish(obj, x, fval, grad, gtol)
    gnorm = float(np.linalg.norm(grad))
    converged, reasons = bool(np.isfinite(fval) and gnorm <= gtol), []
    if method == "trust-exact" and np.isfinite(fval):
        H = obj.hess(x)
        lam_min = float(np.linalg.eigvalsh(H)[0])
        if not lam_min > 0:
            converged = False
            reasons.append(f"the Hessian of −log p is not positive definite there (smallest "
                           f"eigenvalue {lam_min:.3g}): a saddle or a flat direction, not a strict maximum")
        elif not converged:
            decrement = 0.5 * float(grad @ np.linalg.solve(H, grad))
            if decrement <= 50.0 * _eps(obj.dtype) * (1.0 + abs(fval)):
                converged = True
                reasons.append(f"Newton decrement {decrement:.2g} at rounding level")
    if gnorm > gtol and not converged:
        reasons.append(f"gradient norm {gnorm:.3g} > gtol = {gtol:g}")
    if polished:
        reasons.insert(0, f"then {polished} Newton step(s)")
    if obj.n_nan:
        reasons.append(f"log p was NaN at {obj.n_nan} trial point(s), first at {np.round(obj.first_nan, 6)}, "
                       "treated as outside the support (return -inf there, not NaN)")
    message = "; ".join([f"scipy {method}: {res.message}"] + reasons)
    if np.isfinite(fval):
        _check_metric_at_mode(metric, obj, x)
    result = Mode(
        point=obj.to_backend(x),
        log_density=-float(fval),
        measure="lebesgue" if metric is None else "riemannian",
        metric=metric,
        converged=converged,
        message=message,
        gradient_norm=obj.dual_norm(x, grad) if np.isfinite(fval) else float("nan"),
        n_iterations=int(res.nit),
        n_evaluations=int(res.nfev),
        method=method,
        backend=obj.bk.name,
        dtype=str(obj.dtype).replace("torch.", ""),
        _objective=obj,
    )
    if not converged:
        text = (f"mode of {density!r} ({'naive' if metric is None else 'invariant'}) did not converge: "
                f"{message}. Last point {np.round(x, 8)}.")
        if on_failure == "raise":
            raise ConvergenceError(text)
        if on_failure == "warn":
            warnings.warn(text, NotConvergedWarning, stacklevel=2)
    return result
