"""Natural gradient and natural-gradient momentum, for any rgeom metric.

Natural gradient flow ``θ̇ = −G(θ)⁻¹∇L`` is natural under every diffeomorphism when the metric
is pulled back along it (:meth:`NaturalGradient.pullback`): the ψ-flow maps exactly onto the
θ-flow. Its Euler steps agree to ``O(lr)`` over a fixed horizon, exactly for affine maps.
Damping ``(G + λI)`` in the chart at hand breaks this (``λI`` is not a tensor); damping that is
part of the metric on θ (``G + λI`` on Θ, then pulled back) keeps it.

Momentum needs a connection (Goodbrake 2023): the velocity ``v`` of

    θ̇ = v,   v̇ = −γ v − G⁻¹∇L − Γ(v, v)

lives in a tangent space that moves with θ; the Levi-Civita term ``Γ(v, v)`` makes
``v̇ + Γ(v, v)`` the covariant derivative, so the flow is natural. Without it the flow itself
changes with the chart under nonlinear maps.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ...metrics.base import Metric
from ...metrics.christoffel import christoffel_contract
from ..map_families import SubmersionPullback
from ._metric import check_damping, check_metric, direction, pulled_back, resolve
from ._rates import beta, check_rate
from .base import Component, Optimizer, check_lr

__all__ = ["NaturalGradient", "NaturalMomentum"]


@dataclasses.dataclass(frozen=True, repr=False)
class NaturalGradient(Optimizer):
    """Natural gradient descent, ``θ̇ = −G(θ)⁻¹ ∇L(θ)``, for any :class:`~rgeom.metrics.Metric`.

    Parameters
    ----------
    metric : Metric or None
        Fisher, GGN, a pullback, …; ``None`` is the chart's Euclidean metric (then this is GD in
        that chart, and the pulled-back metric in any other).
    damping : float
        ``λ >= 0``: use ``(G + λI)⁻¹`` (dense, small d). Chart-dependent: breaks naturality.
    pinv : bool
        Use the pseudo-inverse ``G⁺`` of the dense ``metric.matrix(θ)`` (singular metrics);
        eigenvalues below ``rcond · λ_max`` are dropped. A metric pulled back along a submersion
        (:class:`~rgeom.flows.map_families.SubmersionPullback`) applies the same rule through the
        thin SVD of ``G^{1/2} Dπ``, never forming the big matrix.
    rcond : float

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flows.optimizers import NaturalGradient
    >>> G = rgeom.metrics.Dense.constant_matrix([[2.0, 0.0], [0.0, 4.0]])
    >>> f = NaturalGradient(G).field(lambda th: 0.5 * (th ** 2).sum())
    >>> f(0.0, (np.array([2.0, 2.0]),))[0].tolist()              # −G⁻¹θ
    [-1.0, -0.5]
    """

    metric: Metric = None
    damping: float = 0.0
    pinv: bool = False
    rcond: float = 1e-10
    name: ClassVar[str] = "ngd"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        check_metric(self.metric, type(self).__name__)
        check_damping(self.damping, type(self).__name__)
        check_rate(self.rcond, "rcond", type(self).__name__)

    def _direction(self, theta, grad, bk):
        return direction(self.metric, theta, grad, bk, damping=self.damping, pinv=self.pinv, rcond=self.rcond)

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            return (-self._direction(theta, bk.grad(loss, theta), bk),)

        return f

    def pullback(self, g, *, dim=None):
        metric = pulled_back(self.metric, g, dim, type(self).__name__)
        if not self.pinv and isinstance(metric, SubmersionPullback):
            raise ValueError(f"{type(self).__name__}: a metric pulled back along a submersion is singular; "
                             "use pinv=True.")
        return dataclasses.replace(self, metric=metric)


@dataclasses.dataclass(frozen=True, repr=False)
class NaturalMomentum(Optimizer):
    """Natural-gradient momentum: ``θ̇ = v``, ``v̇ = −γ v − G⁻¹∇L [− Γ(v, v)]``; ``v₀ = 0``.

    Parameters
    ----------
    metric : Metric or None
        As in :class:`NaturalGradient`.
    gamma : float
        Damping rate per unit time; ``β = 1 − γ·lr`` and classical step ``lr²`` as for
        :class:`~rgeom.flows.optimizers.HeavyBall`.
    christoffel : bool
        Include the Levi-Civita correction ``−Γ(v, v)`` (natural) or not (natural only under
        affine maps).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.flows.optimizers import NaturalMomentum
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar())
    >>> f = NaturalMomentum(G, gamma=1.0).field(lambda psi: 0.0 * psi[0])
    >>> state = (np.array([2.0, 0.0]), np.array([0.0, 1.0]))      # turning at r = 2, no force
    >>> f(0.0, state)[1].round(12).tolist()                        # −γv − Γ(v, v) = (r, −1)
    [2.0, -1.0]
    """

    metric: Metric = None
    gamma: float = 1.0
    christoffel: bool = True
    damping: float = 0.0
    name: ClassVar[str] = "ngd_momentum"
    components: ClassVar[tuple] = (Component("theta", "point"), Component("velocity", "vector"))

    def __post_init__(self):
        check_metric(self.metric, type(self).__name__)
        check_rate(self.gamma, "gamma", type(self).__name__)
        check_damping(self.damping, type(self).__name__)

    def init(self, loss, theta, *, backend=None):
        return (theta, get_backend(backend, theta).xp.zeros_like(theta))

    def hyper(self, lr):
        return {"lr": check_lr(lr) ** 2, "beta": beta(self.gamma, lr, "gamma", type(self).__name__)}

    def field(self, loss, *, lr=None, backend=None):
        gamma = self.gamma

        def f(t, state):
            theta, v = state
            bk = get_backend(backend, theta)
            metric = resolve(self.metric, theta)
            acc = -gamma * v - direction(metric, theta, bk.grad(loss, theta), bk, damping=self.damping)
            if self.christoffel:
                acc = acc - christoffel_contract(metric, theta, v, v)
            return (v, acc)

        return f

    def pullback(self, g, *, dim=None):
        return dataclasses.replace(self, metric=pulled_back(self.metric, g, dim, type(self).__name__))
