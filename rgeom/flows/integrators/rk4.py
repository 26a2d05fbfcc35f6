"""The classical fourth-order Runge–Kutta method."""

import dataclasses

from .base import FixedStep, lincomb

__all__ = ["RK4"]


@dataclasses.dataclass(frozen=True)
class RK4(FixedStep):
    """Classical RK4 (order 4, four field evaluations per step).

    Examples
    --------
    >>> import numpy as np
    >>> field = lambda t, y: (-y[0],)
    >>> y1 = RK4().step(field, 0.0, (np.array([1.0]),), 0.1)[0]
    >>> round(float(y1[0]), 10)         # 1 - h + h²/2 - h³/6 + h⁴/24
    0.9048375
    """

    name = "rk4"
    order = 4
    n_stages = 4
    tableau = ((0.0, 0.5, 0.5, 1.0),
               ((0.0, 0.0, 0.0, 0.0), (0.5, 0.0, 0.0, 0.0), (0.0, 0.5, 0.0, 0.0), (0.0, 0.0, 1.0, 0.0)),
               (1 / 6, 1 / 3, 1 / 3, 1 / 6))

    def step(self, field, t, y, h):
        half = 0.5 * h
        k1 = field(t, y)
        k2 = field(t + half, lincomb(y, half, [1.0], [k1]))
        k3 = field(t + half, lincomb(y, half, [1.0], [k2]))
        k4 = field(t + h, lincomb(y, h, [1.0], [k3]))
        return lincomb(y, h, [1 / 6, 1 / 3, 1 / 3, 1 / 6], [k1, k2, k3, k4])
