"""Heun's method (explicit trapezoidal rule, RK2), order 2."""

import dataclasses

from .base import FixedStep, lincomb

__all__ = ["Heun"]


@dataclasses.dataclass(frozen=True)
class Heun(FixedStep):
    """Heun's method: ``k₁ = f(t, y)``, ``k₂ = f(t + h, y + h k₁)``, ``y₁ = y + h (k₁ + k₂)/2``.

    Order 2, two field evaluations per step. Registered as ``"heun"`` and ``"rk2"``.

    Examples
    --------
    >>> import numpy as np
    >>> field = lambda t, y: (-y[0],)
    >>> Heun().step(field, 0.0, (np.array([1.0]),), 0.1)[0].tolist()   # 1 - h + h²/2
    [0.905]
    """

    name = "heun"
    order = 2
    n_stages = 2
    tableau = ((0.0, 1.0), ((0.0, 0.0), (1.0, 0.0)), (0.5, 0.5))

    def step(self, field, t, y, h):
        k1 = field(t, y)
        k2 = field(t + h, lincomb(y, h, [1.0], [k1]))
        return lincomb(y, h, [0.5, 0.5], [k1, k2])
