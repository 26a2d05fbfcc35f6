"""Riemannian gradient descent: the exponential map, and the second-order geodesic correction.

Both move along (an approximation of) the geodesic that leaves θ with velocity
``v = −G⁻¹∇L``, instead of the chart's straight line:

* ``update="exp"``: ``θ ← exp_θ(lr·v)``, exactly invariant (an isometry maps geodesics to
  geodesics). For a metric pulled back along a map, and for constant metrics, the exponential
  map is taken in closed form (``exp_ψ(u) = g⁻¹(exp_θ(J u))``, straight lines for constant
  metrics); otherwise the geodesic equation is integrated by :func:`rgeom.exp` at
  ``rtol``/``atol``.
* ``update="geodesic"``: ``θ ← θ + lr·v − ½ lr² Γ(v, v)`` (Song et al. 2018), the geodesic's
  second-order Taylor polynomial: invariant to ``O(lr³)`` per step.

These are discrete schemes (not Euler steps of a field); their flow is natural gradient's.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ...geometry.geodesic import exp as geodesic_exp
from ...metrics.base import Metric
from ...metrics.christoffel import christoffel_contract
from ...metrics.pullback import Pullback
from ._metric import check_metric, direction, pulled_back, resolve
from ._rates import check_rate
from .base import Component, Optimizer

__all__ = ["RiemannianGD"]

_UPDATES = ("exp", "geodesic")


@dataclasses.dataclass(frozen=True, repr=False)
class RiemannianGD(Optimizer):
    """Riemannian gradient descent by the exponential map or the geodesic-corrected step.

    Parameters
    ----------
    metric : Metric or None
        ``None`` is the chart's Euclidean metric (then both updates are plain GD there).
    update : {"exp", "geodesic"}
        Exponential map, or ``θ + lr v − ½lr²Γ(v, v)``.
    closed_form : bool
        Use the closed-form exponential map of pullback and constant metrics (default);
        ``False`` always integrates the geodesic equation numerically.
    rtol, atol : float
        Tolerances of the numerical exponential map.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flows.optimizers import RiemannianGD
    >>> polar = rgeom.maps.Polar()
    >>> L = rgeom.pullback(lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2, polar)
    >>> opt = RiemannianGD(update="exp").pullback(polar, dim=2)
    >>> psi = opt.step(L, (polar.inverse(np.array([1.0, 1.0])),), 0.1)[0]
    >>> polar(psi).round(12).tolist()                           # θ − 0.1 ∇L exactly
    [0.9, 0.6]
    """

    metric: Metric = None
    update: str = "exp"
    closed_form: bool = True
    rtol: float = 1e-13
    atol: float = 1e-14
    name: ClassVar[str] = "rgd"
    discrete: ClassVar[bool] = True
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        check_metric(self.metric, type(self).__name__)
        if self.update not in _UPDATES:
            raise ValueError(f"RiemannianGD: update must be one of {_UPDATES}, got {self.update!r}.")
        check_rate(self.rtol, "rtol", type(self).__name__)
        check_rate(self.atol, "atol", type(self).__name__)

    def field(self, loss, *, lr=None, backend=None):
        """The flow these steps discretize: natural gradient, ``θ̇ = −G⁻¹∇L``."""

        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            return (-direction(self.metric, theta, bk.grad(loss, theta), bk),)

        return f

    def step(self, loss, state, lr, *, backend=None):
        theta = state[0]
        bk = get_backend(backend, theta)
        metric = resolve(self.metric, theta)
        v = -direction(metric, theta, bk.grad(loss, theta), bk)
        if self.update == "geodesic":
            return (theta + lr * v - 0.5 * lr * lr * christoffel_contract(metric, theta, v, v),)
        return (self._exp(metric, theta, lr * v),)

    def _exp(self, metric, theta, v):
        if self.closed_form and metric.constant:
            return theta + v
        if self.closed_form and isinstance(metric, Pullback):
            g = metric.map
            return g.inverse(self._exp(metric.base, g(theta), g.jvp(theta, v)))
        return geodesic_exp(metric, theta, v, rtol=self.rtol, atol=self.atol)

    def pullback(self, g, *, dim=None):
        return dataclasses.replace(self, metric=pulled_back(self.metric, g, dim, type(self).__name__))
