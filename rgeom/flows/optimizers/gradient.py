"""Plain and sign gradient descent: ``θ̇ = −∇L`` and ``θ̇ = −sign ∇L``.

Both feed a covector (the gradient) into the velocity of a point, which is only legitimate for
the identity metric of the chart at hand: GD is natural only under Euclidean isometries
(translations, orthogonal maps), sign-GD only under translations and signed permutations.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from .base import Component, Optimizer

__all__ = ["GD", "SignGD"]


@dataclasses.dataclass(frozen=True, repr=False)
class GD(Optimizer):
    """Gradient descent, ``θ̇ = −∇L(θ)``; its Euler step is ``θ ← θ − lr ∇L(θ)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import GD
    >>> f = GD().field(lambda th: (th ** 2).sum())
    >>> f(0.0, (np.array([1.0, -2.0]),))[0].tolist()
    [-2.0, 4.0]
    """

    name: ClassVar[str] = "gd"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            return (-get_backend(backend, theta).grad(loss, theta),)

        return f


@dataclasses.dataclass(frozen=True, repr=False)
class SignGD(Optimizer):
    """Sign gradient descent, ``θ̇ = −sign ∇L(θ)`` (a discontinuous field; signSGD's update).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import SignGD
    >>> SignGD().field(lambda th: (th ** 2).sum())(0.0, (np.array([3.0, -0.1]),))[0].tolist()
    [-1.0, 1.0]
    """

    name: ClassVar[str] = "sign_gd"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            return (-bk.xp.sign(bk.grad(loss, theta)),)

        return f
