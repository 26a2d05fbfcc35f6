"""Probability densities over parameters, and the measure each is taken against."""

from ..backend import get_backend
from ..metrics.base import Metric


class Density:
    """A probability density given by its log, w.r.t. a stated reference measure.

    ``metric=None`` means Lebesgue measure in the chart (the usual "pdf"): it picks up
    ``|det J|`` under a change of variables, so its mode depends on the chart. With a metric,
    the density is taken w.r.t. the Riemannian volume ``√det G dθ``: it is a scalar function and
    its mode is chart-independent.

    Parameters
    ----------
    log_density : callable
        ``θ (d,) -> scalar``, the natural log of the density, on any backend.
    metric : Metric, optional
        Reference measure: the volume form of this metric (None: Lebesgue).

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> p = rgeom.Density(lambda th: -0.5 * np.sum(th ** 2) - np.log(2 * np.pi))
    >>> q = rgeom.pullback(p, rgeom.maps.Scale(2.0))            # θ = 2ψ picks up log 4
    >>> round(float(q.log_prob(np.zeros(2)) - p.log_prob(np.zeros(2))), 12) == round(float(np.log(4)), 12)
    True
    """

    def __init__(self, log_density, *, metric=None):
        if not callable(log_density):
            raise TypeError(f"Density: log_density must be callable θ -> log p(θ), got {log_density!r}.")
        if metric is not None and not isinstance(metric, Metric):
            raise TypeError(f"Density: metric must be None or an rgeom Metric, got {type(metric).__name__}.")
        self._log_density, self.metric = log_density, metric

    @property
    def measure(self):
        """``"lebesgue"`` or ``"riemannian"``."""
        return "lebesgue" if self.metric is None else "riemannian"

    def log_prob(self, theta):
        """Log density at ``theta`` w.r.t. :attr:`measure` (a scalar)."""
        return self._log_density(theta)

    def __call__(self, theta):
        return get_backend(None, theta).xp.exp(self.log_prob(theta))

    def with_respect_to(self, metric):
        """The same distribution as a density w.r.t. ``metric``'s volume (``None``: Lebesgue).

        ``log p_vol = log p_leb − ½ log det G``.
        """
        if metric is self.metric:
            return self

        def half_logdet(m, th):
            return 0.0 if m is None else 0.5 * m.at(th).logdet()

        src = self.metric
        return Density(lambda th: self.log_prob(th) + half_logdet(src, th) - half_logdet(metric, th), metric=metric)

    def __repr__(self):
        ref = "Lebesgue" if self.metric is None else f"volume of {self.metric!r}"
        return f"Density(w.r.t. {ref})"
