"""Adaptive methods: Adam, RMSProp and AdaGrad as flows on (θ, m, v).

Continuous-time parametrization (cf. Barakat & Bianchi 2021; Malladi et al. 2022), with the
per-step EMA rates written as rates per unit time, ``β₁ = 1 − γ₁·lr`` and ``β₂ = 1 − γ₂·lr``:

    Adam:     ṁ = γ₁ (∇L − m),   v̇ = γ₂ (∇L² − v),   θ̇ = −m / (√v + ε)
    RMSProp:  v̇ = γ (∇L² − v),   θ̇ = −∇L / (√v + ε)
    AdaGrad:  v̇ = ∇L²,           θ̇ = −∇L / (√v + ε)

One Euler step is the textbook update with those ``β``'s (AdaGrad's accumulator holds
``lr·Σ∇L²``, so its classical step size is ``√lr``). Bias correction is replaced by starting the
moments at the first gradient, ``m₀ = ∇L(θ₀)``, ``v₀ = ∇L(θ₀)²``, which keeps the field regular at
``t = 0``. ``m`` is a covector (an average of gradients); the elementwise square ``v`` has no
tensorial rule, so these methods are natural only under translations and signed permutations.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ._rates import beta, check_rate
from .base import Component, Optimizer, check_lr

__all__ = ["Adam", "RMSProp", "AdaGrad"]


def _denominator(bk, v, eps):
    return bk.xp.sqrt(v) + eps


@dataclasses.dataclass(frozen=True, repr=False)
class Adam(Optimizer):
    """Adam: ``ṁ = γ₁(∇L − m)``, ``v̇ = γ₂(∇L² − v)``, ``θ̇ = −m/(√v + ε)``.

    Parameters
    ----------
    gamma1, gamma2 : float
        EMA rates per unit time of the first and second moments (``β = 1 − γ·lr``).
    eps : float
        Added to ``√v`` (in gradient units).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import Adam
    >>> loss = lambda th: (th ** 2).sum()
    >>> opt = Adam()
    >>> state = opt.init(loss, np.array([1.0, -3.0]))        # m₀ = ∇L, v₀ = ∇L²
    >>> opt.field(loss)(0.0, state)[0].round(6).tolist()      # the sign step at t = 0
    [-1.0, 1.0]
    >>> opt.hyper(0.1)
    {'lr': 0.1, 'beta1': 0.9, 'beta2': 0.9}
    """

    gamma1: float = 1.0
    gamma2: float = 1.0
    eps: float = 1e-8
    name: ClassVar[str] = "adam"
    components: ClassVar[tuple] = (
        Component("theta", "point"), Component("m", "covector"), Component("v", "none"),
    )

    def __post_init__(self):
        owner = type(self).__name__
        check_rate(self.gamma1, "gamma1", owner)
        check_rate(self.gamma2, "gamma2", owner)
        check_rate(self.eps, "eps", owner, allow_zero=True)

    def init(self, loss, theta, *, backend=None):
        g = get_backend(backend, theta).grad(loss, theta)
        return (theta, g, g * g)

    def hyper(self, lr):
        owner = type(self).__name__
        return {"lr": check_lr(lr), "beta1": beta(self.gamma1, lr, "gamma1", owner),
                "beta2": beta(self.gamma2, lr, "gamma2", owner)}

    def field(self, loss, *, lr=None, backend=None):
        g1, g2, eps = self.gamma1, self.gamma2, self.eps

        def f(t, state):
            theta, m, v = state
            bk = get_backend(backend, theta)
            g = bk.grad(loss, theta)
            return (-m / _denominator(bk, v, eps), g1 * (g - m), g2 * (g * g - v))

        return f


@dataclasses.dataclass(frozen=True, repr=False)
class RMSProp(Optimizer):
    """RMSProp: ``v̇ = γ(∇L² − v)``, ``θ̇ = −∇L/(√v + ε)``; ``v₀ = ∇L(θ₀)²``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import RMSProp
    >>> loss = lambda th: (th ** 2).sum()
    >>> opt = RMSProp(gamma=2.0)
    >>> opt.field(loss)(0.0, opt.init(loss, np.array([2.0])))[0].round(6).tolist()
    [-1.0]
    """

    gamma: float = 1.0
    eps: float = 1e-8
    name: ClassVar[str] = "rmsprop"
    components: ClassVar[tuple] = (Component("theta", "point"), Component("v", "none"))

    def __post_init__(self):
        check_rate(self.gamma, "gamma", type(self).__name__)
        check_rate(self.eps, "eps", type(self).__name__, allow_zero=True)

    def init(self, loss, theta, *, backend=None):
        g = get_backend(backend, theta).grad(loss, theta)
        return (theta, g * g)

    def hyper(self, lr):
        return {"lr": check_lr(lr), "beta": beta(self.gamma, lr, "gamma", type(self).__name__)}

    def field(self, loss, *, lr=None, backend=None):
        gamma, eps = self.gamma, self.eps

        def f(t, state):
            theta, v = state
            bk = get_backend(backend, theta)
            g = bk.grad(loss, theta)
            return (-g / _denominator(bk, v, eps), gamma * (g * g - v))

        return f


@dataclasses.dataclass(frozen=True, repr=False)
class AdaGrad(Optimizer):
    """AdaGrad: ``v̇ = ∇L²``, ``θ̇ = −∇L/(√v + ε)``; ``v₀ = ∇L(θ₀)²`` (one unit of time).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import AdaGrad
    >>> loss = lambda th: (th ** 2).sum()
    >>> opt = AdaGrad()
    >>> [x.round(6).tolist() for x in opt.field(loss)(0.0, opt.init(loss, np.array([0.5])))]
    [[-1.0], [1.0]]
    """

    eps: float = 1e-8
    name: ClassVar[str] = "adagrad"
    components: ClassVar[tuple] = (Component("theta", "point"), Component("v", "none"))

    def __post_init__(self):
        check_rate(self.eps, "eps", type(self).__name__, allow_zero=True)

    def init(self, loss, theta, *, backend=None):
        g = get_backend(backend, theta).grad(loss, theta)
        return (theta, g * g)

    def hyper(self, lr):
        return {"lr": check_lr(lr) ** 0.5}

    def field(self, loss, *, lr=None, backend=None):
        eps = self.eps

        def f(t, state):
            theta, v = state
            bk = get_backend(backend, theta)
            g = bk.grad(loss, theta)
            return (-g / _denominator(bk, v, eps), g * g)

        return f
