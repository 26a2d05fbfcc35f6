"""Heavy-ball and Nesterov momentum as a damped second-order flow on (θ, v).

Continuous-time parametrization (Polyak 1964; Su, Boyd & Candès 2016 for Nesterov):

    θ̇ = v,   v̇ = −γ v − ∇L(θ + τ v)

with damping rate ``γ`` per unit time and look-ahead ``τ`` (0 for heavy ball). One Euler step of
size ``lr`` with ``p = lr·v`` is the classical momentum update with step ``η = lr²`` and momentum
``β = 1 − γ·lr``: ``p ← β p − η ∇L(θ + β p)``, except that θ moves by the previous ``p``
(explicit Euler updates every component from the old state; the difference is ``O(lr²)`` per
step). Nesterov's look-ahead is ``τ = β·lr``, so its field depends on the learning rate; as
``lr → 0`` both tend to the same flow.

``v`` is declared a *vector* (a velocity), yet it is driven by the covector ``∇L``: the two only
agree for an orthonormal chart, so momentum is natural only under Euclidean isometries.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ._rates import beta, check_rate
from .base import Component, Optimizer, check_lr

__all__ = ["HeavyBall", "Nesterov"]


@dataclasses.dataclass(frozen=True, repr=False)
class HeavyBall(Optimizer):
    """Polyak's heavy ball: ``θ̇ = v``, ``v̇ = −γ v − ∇L(θ)``; ``v₀ = 0``.

    Parameters
    ----------
    gamma : float
        Damping rate per unit time (``β = 1 − γ·lr``).

    Examples
    --------
    >>> from rgeom.flows.optimizers import HeavyBall
    >>> HeavyBall(gamma=1.0).hyper(0.5)                  # classical step lr², momentum 1 − γ·lr
    {'lr': 0.25, 'beta': 0.5}
    """

    gamma: float = 1.0
    name: ClassVar[str] = "heavy_ball"
    components: ClassVar[tuple] = (Component("theta", "point"), Component("velocity", "vector"))

    def __post_init__(self):
        check_rate(self.gamma, "gamma", type(self).__name__)

    def init(self, loss, theta, *, backend=None):
        return (theta, get_backend(backend, theta).xp.zeros_like(theta))

    def hyper(self, lr):
        return {"lr": check_lr(lr) ** 2, "beta": beta(self.gamma, lr, "gamma", type(self).__name__)}

    def _lookahead(self, lr):
        return 0.0

    def field(self, loss, *, lr=None, backend=None):
        gamma, tau = self.gamma, self._lookahead(lr)

        def f(t, state):
            theta, v = state
            bk = get_backend(backend, theta)
            return (v, -gamma * v - bk.grad(loss, theta + tau * v if tau else theta))

        return f


@dataclasses.dataclass(frozen=True, repr=False)
class Nesterov(HeavyBall):
    """Nesterov momentum: ``θ̇ = v``, ``v̇ = −γ v − ∇L(θ + β·lr·v)`` (look-ahead gradient).

    Without ``lr`` (``field(loss)``) the look-ahead is zero and the field is the heavy ball's.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import Nesterov
    >>> f = Nesterov(gamma=1.0).field(lambda th: 0.5 * (th ** 2).sum(), lr=0.5)
    >>> [x.tolist() for x in f(0.0, (np.array([1.0]), np.array([2.0])))]   # ∇L at 1 + 0.25·2
    [[2.0], [-3.5]]
    """

    name: ClassVar[str] = "nesterov"

    def _lookahead(self, lr):
        return 0.0 if lr is None else beta(self.gamma, lr, "gamma", type(self).__name__) * check_lr(lr)
