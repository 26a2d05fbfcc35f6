"""``−log p`` w.r.t. a chosen measure, as checked float64 callbacks for scipy (internal).

Both the naive and the invariant mode minimise ``f(θ) = −log p_M(θ)``, where ``p_M`` is the
density w.r.t. the measure ``M`` (Lebesgue, or the volume of a metric). This module owns the
checks every evaluation gets:

* ``log p = NaN``: at the start point a :class:`~rgeom.errors.NonFiniteError` naming it; at a
  trial point the step is rejected like one outside the support, and counted (``n_nan``) so the
  result can say so;
* ``log p = +inf``: :class:`~rgeom.errors.NotPositiveDefiniteError` when it comes from a metric
  whose ``log det G`` is ``-inf`` there (the volume degenerates), else ``NonFiniteError``;
* ``log p = -inf``: the point is outside the support; ``f = +inf`` and a trust-region optimizer
  rejects the step. At the start point this is a :class:`SupportError`;
* a non-finite gradient or Hessian at a finite value: ``NonFiniteError``.
"""

import numpy as np

from .._checks import check_vector, concrete
from ..backend import get_backend
from ..errors import NonFiniteError, NotPositiveDefiniteError, SingularJacobianError


class SupportError(NonFiniteError):
    """A point is outside the support of a density (its log-density is ``-inf``)."""


def _fmt(x):
    return np.array2string(np.asarray(x, dtype=np.float64), precision=6, threshold=6)


def _value(x):
    a = concrete(x)
    return float(np.asarray(a, dtype=np.float64)) if a is not None else float("nan")


class NegLogDensity:
    """``f(x) = −log p_M(x)`` for ``p_M = density.with_respect_to(metric)`` on one backend.

    Parameters
    ----------
    density : Density
    metric : Metric or None
        The measure (None: Lebesgue in the chart).
    x0 : array, shape (d,)
        Start point: fixes the backend and dtype; checked to be in the support.
    backend : None, str or Backend
    """

    def __init__(self, density, metric, x0, backend=None):
        dim = density.dim if density.dim is not None else getattr(metric, "dim", None)
        if not hasattr(x0, "dtype"):
            x0 = np.asarray(x0, dtype=np.float64)
        self.bk = get_backend(backend, x0)
        self.x0 = check_vector(self.bk.asarray(x0), "x0", dim)   # integers become float64
        self.dtype = self.x0.dtype
        self.density, self.metric = density, metric
        self.target = density.with_respect_to(metric)
        self.d = int(x0.shape[0])
        self.n_outside = 0
        self.n_nan, self.first_nan = 0, None
        self._last = None
        bk = self.bk
        self._own = density.log_prob
        if bk.name == "jax":  # compile once per objective: eager JAX re-traces every call
            self._value_and_grad = bk.jit(lambda x: bk.value_and_grad(self.f, x))
            self._hessian = bk.jit(lambda x: bk.hessian(self.f, x))
            self._hvp = bk.jit(lambda x, v: bk.hvp(self.f, x, v))
        else:
            self._value_and_grad = lambda x: bk.value_and_grad(self.f, x)
            self._hessian = lambda x: bk.hessian(self.f, x)
            self._hvp = lambda x, v: bk.hvp(self.f, x, v)
        value = self.log_density(self.x0, where="x0")
        if value == -np.inf:
            raise SupportError(self._support_message(self.x0))

    # --- conversions ---------------------------------------------------------------------------
    def to_backend(self, x):
        return self.bk.asarray(np.asarray(x, dtype=np.float64), dtype=self.dtype)

    def to_numpy(self, x):
        return np.asarray(self.bk.to_numpy(x), dtype=np.float64)

    def f(self, x):
        """``−log p_M(x)`` on the backend (differentiable)."""
        return -self.target.log_prob(x)

    # --- diagnostics ---------------------------------------------------------------------------
    def _support_message(self, x):
        msg = (f"x0 = {_fmt(self.to_numpy(x))} is outside the support of {self.density!r}: its "
               "log-density is -inf there. Start the optimizer inside the support.")
        g = getattr(self.density, "map", None)
        if g is not None:
            with np.errstate(all="ignore"):
                theta = concrete(g(x))
            msg += (f" The map {g!r} sends x0 to {_fmt(theta)}, outside the support of the base "
                    "density: check that the map's image lies in the support.")
        return msg

    def _diagnose(self, x, value, where):
        """Raise the clearest error for a NaN / +inf log-density at ``x``."""
        pt = _fmt(self.to_numpy(x))
        for name, m in (("the density's own metric", self.density.metric), ("metric", self.metric)):
            if m is None:
                continue
            try:
                logdet = _value(m.at(x).logdet())
            except (NotPositiveDefiniteError, SingularJacobianError) as exc:
                raise type(exc)(f"{name} {m!r} is singular or not positive definite at {where} = {pt} "
                                f"(reached while optimizing {self.density!r}): {exc}") from exc
            if not np.isfinite(logdet):
                raise NotPositiveDefiniteError(
                    f"{name} {m!r} is singular at {where} = {pt} (log det G = {logdet}): the density "
                    "w.r.t. its volume is unbounded there, so it has no mode. Use a metric that is "
                    "positive definite on the whole support."
                )
        if np.isnan(value):
            raise NonFiniteError(
                f"log_density of {self.density!r} returned NaN at {where} = {pt}. A log-density must "
                "be finite inside the support and -inf outside it (never NaN): guard logs of "
                "negative numbers with a where()."
            )
        raise NonFiniteError(
            f"log_density of {self.density!r} returned +inf at {where} = {pt}: an unbounded density "
            "has no mode and no Laplace approximation."
        )

    def _check_value(self, x, value, where):
        if np.isnan(value) or value == np.inf:
            self._diagnose(x, value, where)
        return value

    def log_density(self, x, where="theta"):
        """``log p_M(x)`` as a float, checked (may be ``-inf``: outside the support)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            own = _value(self.density.log_prob(x))
        if own == -np.inf:
            return own
        self._check_value(x, own, where)
        try:
            value = _value(self.target.log_prob(x))
        except (NotPositiveDefiniteError, SingularJacobianError) as exc:
            raise type(exc)(f"the metric is singular or not positive definite at {where} = "
                            f"{_fmt(self.to_numpy(x))}: {exc}") from exc
        return self._check_value(x, value, where)

    # --- scipy callbacks (float64 NumPy in and out) --------------------------------------------
    def value_and_grad(self, x_np):
        key = np.asarray(x_np, dtype=np.float64).tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        x = self.to_backend(x_np)
        with np.errstate(invalid="ignore", divide="ignore"):
            own = _value(self._own(x))
        if own == -np.inf:
            self.n_outside += 1
            out = (np.inf, np.zeros(self.d))
        elif np.isnan(own):
            # A NaN away from x0 (e.g. a pulled-back density evaluated outside the domain of its
            # map) is treated like a point outside the support: the step is rejected, and the
            # result's message reports it.
            self.n_nan += 1
            if self.first_nan is None:
                self.first_nan = np.array(x_np, dtype=np.float64)
            out = (np.inf, np.zeros(self.d))
        else:
            self._check_value(x, own, "a trial point")
            try:
                val, grad = self._value_and_grad(x)
            except (NotPositiveDefiniteError, SingularJacobianError) as exc:
                raise type(exc)(f"the metric is singular or not positive definite at "
                                f"{_fmt(x_np)} (reached while optimizing): {exc}") from exc
            logp = self._check_value(x, -_value(val), "a trial point")
            grad = self.to_numpy(grad)
            if not np.all(np.isfinite(grad)):
                raise NonFiniteError(
                    f"the gradient of log p of {self.density!r} is not finite at {_fmt(x_np)} "
                    f"(log p = {logp:.6g}); is the log-density differentiable there?"
                )
            out = (-logp, grad)
        self._last = (key, out)
        return out

    def fun(self, x_np):
        return self.value_and_grad(x_np)[0]

    def jac(self, x_np):
        return self.value_and_grad(x_np)[1]

    def _outside(self, x_np):
        """True at a trial point outside the support (f = +inf): its step will be rejected."""
        return self.value_and_grad(x_np)[0] == np.inf

    def hess(self, x_np):
        if self._outside(x_np):  # scipy's trust-exact builds the model there before rejecting it
            return np.eye(self.d)
        H = self.to_numpy(self._hessian(self.to_backend(x_np)))
        if not np.all(np.isfinite(H)):
            raise NonFiniteError(f"the Hessian of log p of {self.density!r} is not finite at {_fmt(x_np)}.")
        return 0.5 * (H + H.T)

    def hessp(self, x_np, v):
        if self._outside(x_np):
            return np.asarray(v, dtype=np.float64)
        hv = self.to_numpy(self._hvp(self.to_backend(x_np), self.to_backend(v)))
        if not np.all(np.isfinite(hv)):
            raise NonFiniteError(f"a Hessian-vector product of log p is not finite at {_fmt(x_np)}.")
        return hv

    def dual_norm(self, x_np, grad):
        """``√(gᵀ G⁻¹ g)`` with the measure's metric (Euclidean for Lebesgue): chart-independent
        for the invariant mode."""
        if self.metric is None:
            return float(np.linalg.norm(grad))
        x = self.to_backend(x_np)
        w = self.to_numpy(self.metric.at(x).solve(self.to_backend(grad)))
        return float(np.sqrt(max(float(grad @ w), 0.0)))
