"""Probability densities over parameters, and the measure each is taken against.

A density is only meaningful together with its reference measure:

* **Lebesgue measure in the chart** (``metric=None``, the usual "pdf"). Under ``θ = g(ψ)`` it
  picks up ``|det J|``: ``p_ψ(ψ) = p_θ(g(ψ)) |det J(ψ)|``. Its mode (the MAP point) depends on
  the chart.
* **The Riemannian volume** ``√det G dθ`` of a metric (``metric=G``): the density is
  ``p / √det G``, a scalar function (it composes with ``g``), so its mode is the same point in
  every chart.

Modes and Laplace approximations live in :mod:`rgeom.densities`; the methods :meth:`Density.mode`
and :meth:`Density.laplace` are shortcuts to them.
"""

import numpy as np

from .._checks import concrete
from ..backend import get_backend
from ..maps.base import Map
from ..metrics.base import Metric
from ..metrics.pullback import Pullback


def _check_metric(metric, where):
    if metric is not None and not isinstance(metric, Metric):
        raise TypeError(f"{where}: metric must be None (Lebesgue) or an rgeom Metric, got "
                        f"{type(metric).__name__}.")
    return metric


def same_metric(a, b):
    """Whether two metric objects are the same metric: identical, or pullbacks of the same metric
    along the same map object (``rgeom.pullback`` builds a new object on every call)."""
    if a is b:
        return True
    if isinstance(a, Pullback) and isinstance(b, Pullback):
        return a.map is b.map and same_metric(a.base, b.base)
    return False


def _half_logdet(metric, theta):
    """``½ log det G(θ)`` (0 for Lebesgue measure), differentiable in θ."""
    return 0.0 if metric is None else 0.5 * metric.at(theta).logdet()


class Density:
    """A probability density given by its log, w.r.t. a stated reference measure.

    ``metric=None`` means Lebesgue measure in the chart (the usual "pdf"): it picks up
    ``|det J|`` under a change of variables, so its mode depends on the chart. With a metric,
    the density is taken w.r.t. the Riemannian volume ``√det G dθ``: it is a scalar function and
    its mode is chart-independent.

    Parameters
    ----------
    log_density : callable
        ``θ (d,) -> scalar``, the natural log of the density (normalized or not), written for the
        backend of its input (``autograd.numpy`` for NumPy arrays, ``jax.numpy``, ``torch``).
        Outside the support it should return ``-inf``, never NaN.
    metric : Metric, optional
        Reference measure: the volume form of this metric (None: Lebesgue).
    dim : int, optional
        Dimension ``d`` of the points (checked by :meth:`mode` / :meth:`laplace`); defaults to the
        metric's.

    Attributes
    ----------
    metric : Metric or None
    measure : str
        ``"lebesgue"`` or ``"riemannian"``.
    base, map : Density, Map or None
        For a density obtained by :meth:`pullback`: the density it came from and the map.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> p = rgeom.Density(lambda th: -0.5 * np.sum(th ** 2) - np.log(2 * np.pi))
    >>> q = rgeom.pullback(p, rgeom.maps.Scale(2.0))            # θ = 2ψ picks up log 4
    >>> round(float(q.log_prob(np.zeros(2)) - p.log_prob(np.zeros(2))), 12) == round(float(np.log(4)), 12)
    True

    The naive mode moves with the chart, the invariant one does not (``θ ~ N(0, 1)``, ``ψ = e^θ``):

    >>> p = rgeom.Density(lambda th: -0.5 * np.sum(th ** 2))
    >>> q = rgeom.pullback(p, rgeom.maps.Exp().inv)              # θ = log ψ
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(1), rgeom.maps.Exp().inv)
    >>> round(float(q.mode(np.array([2.0])).point[0]), 8)      # e^(μ − σ²)
    0.36787944
    >>> round(float(q.mode(np.array([2.0]), metric=G).point[0]), 8)   # e^μ
    1.0
    """

    base = None
    map = None

    def __init__(self, log_density, *, metric=None, dim=None):
        if not callable(log_density):
            raise TypeError(f"Density: log_density must be callable θ -> log p(θ), got {log_density!r}.")
        self._log_density = log_density
        self.metric = _check_metric(metric, "Density")
        self.dim = dim if dim is not None else getattr(metric, "dim", None)

    @property
    def measure(self):
        """``"lebesgue"`` or ``"riemannian"``."""
        return "lebesgue" if self.metric is None else "riemannian"

    def log_prob(self, theta):
        """Log density at ``theta`` (shape ``(d,)``) w.r.t. :attr:`measure`: a scalar, in nats."""
        return self._log_density(theta)

    def __call__(self, theta):
        return get_backend(None, theta).xp.exp(self.log_prob(theta))

    def in_support(self, theta):
        """Whether ``theta`` is in the support, i.e. ``log_prob(theta) > -inf`` (a Python bool)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            value = concrete(self.log_prob(theta))
        return bool(value is not None and np.all(np.asarray(value) > -np.inf))

    # --- change of reference measure and of chart -------------------------------------------------
    def with_respect_to(self, metric):
        """The same distribution as a density w.r.t. ``metric``'s volume (``None``: Lebesgue).

        ``log p_vol = log p_leb − ½ log det G``; in general
        ``log p_new = log p + ½ log det G_old − ½ log det G_new``. Samples are unchanged.

        Examples
        --------
        >>> import autograd.numpy as np, rgeom
        >>> G = rgeom.metrics.Diagonal(lambda th: 4.0 + 0.0 * th)      # √det G = 2 in 1-D
        >>> p = rgeom.Density(lambda th: -0.5 * np.sum(th ** 2))
        >>> round(float(p.with_respect_to(G).log_prob(np.zeros(1))), 12) == round(-float(np.log(2)), 12)
        True
        """
        _check_metric(metric, "with_respect_to")
        if same_metric(metric, self.metric):
            return self
        return _Reweighted(self, metric)

    def pullback(self, g):
        """This density in the chart ψ of ``θ = g(ψ)`` (what :func:`rgeom.pullback` does).

        Lebesgue: ``log p(g(ψ)) + log|det J(ψ)|``; Riemannian: ``log p(g(ψ))`` w.r.t. the
        pulled-back metric. Samples map by ``g⁻¹``.
        """
        if not isinstance(g, Map):
            raise TypeError(f"pullback: g must be an rgeom.maps.Map, got {type(g).__name__}.")
        return _PulledBack(self, g)

    def pushforward(self, g):
        """This density (in ψ) expressed in the chart θ of ``θ = g(ψ)``: ``pullback(g.inv)``."""
        if not isinstance(g, Map):
            raise TypeError(f"pushforward: g must be an rgeom.maps.Map, got {type(g).__name__}.")
        return self.pullback(g.inv)

    # --- sampling, modes, Laplace ------------------------------------------------------------------
    def sample(self, n, *, seed, backend=None):
        """``n`` exact samples, shape ``(n, d)``; only for densities with a known sampler.

        User densities have none: use ``laplace(...).sample`` for approximate samples.
        """
        raise NotImplementedError(
            f"{self!r} has no exact sampler; catalogue densities (rgeom.densities) and their "
            "pullbacks do. For an approximation use density.laplace(x0, ...).sample(n, seed=...)."
        )

    def mode(self, x0, *, metric=None, **options):
        """The mode of this density w.r.t. ``metric``'s volume (``None``: the naive chart MAP).

        Shortcut for :func:`rgeom.densities.mode`; see there for ``options``.
        """
        from ..densities.modes import mode

        return mode(self, x0, metric=metric, **options)

    def laplace(self, x0=None, *, metric=None, **options):
        """Naive (``metric=None``) or invariant Laplace approximation; see :func:`rgeom.densities.laplace`."""
        from ..densities.laplace_approx import laplace

        return laplace(self, x0, metric=metric, **options)

    def __repr__(self):
        ref = "Lebesgue" if self.metric is None else f"volume of {self.metric!r}"
        return f"Density(w.r.t. {ref})"


class _Reweighted(Density):
    """``base`` re-expressed w.r.t. another measure (same distribution, same samples)."""

    def __init__(self, base, metric):
        self._source = base
        super().__init__(self._log, metric=metric, dim=base.dim)

    def _log(self, theta):
        src = self._source
        return src.log_prob(theta) + _half_logdet(src.metric, theta) - _half_logdet(self.metric, theta)

    def in_support(self, theta):
        return self._source.in_support(theta)

    def sample(self, n, *, seed, backend=None):
        return self._source.sample(n, seed=seed, backend=backend)

    def with_respect_to(self, metric):
        _check_metric(metric, "with_respect_to")
        if same_metric(metric, self._source.metric):
            return self._source
        return super().with_respect_to(metric)

    def __repr__(self):
        return f"{self._source!r}.with_respect_to({self.metric!r})"


class _PulledBack(Density):
    """``base`` expressed in the chart ψ of ``θ = g(ψ)``."""

    def __init__(self, base, g):
        self.base, self.map = base, g
        metric = None if base.metric is None else Pullback(base.metric, g)
        dim = g.dim if g.dim is not None else base.dim
        super().__init__(self._log, metric=metric, dim=dim)

    def _log(self, psi):
        g = self.map
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            theta = g(psi)
        th = concrete(theta)
        if th is not None and not np.all(np.isfinite(th)):
            # ψ is outside the domain of g: no point of Θ, zero density (not NaN).
            return get_backend(None, psi).asarray(np.array(-np.inf), dtype=psi.dtype)
        if self.base.metric is None:
            return self.base.log_prob(theta) + g.log_abs_det_jacobian(psi)
        return self.base.log_prob(theta)

    def in_support(self, psi):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            theta = self.map(psi)
        th = concrete(theta)
        if th is None or not np.all(np.isfinite(th)):
            return False
        return self.base.in_support(theta)

    def sample(self, n, *, seed, backend=None):
        from ..densities.samples import pullback_samples

        return pullback_samples(self.base.sample(n, seed=seed, backend=backend), self.map)

    def __repr__(self):
        return f"pullback({self.base!r}, {self.map!r})"
