"""Explicit Euler: ``y₁ = y₀ + h f(t₀, y₀)``, order 1 — the discrete update of every optimizer."""

import dataclasses

from .base import FixedStep

__all__ = ["Euler"]


@dataclasses.dataclass(frozen=True)
class Euler(FixedStep):
    """The explicit Euler method (order 1, one field evaluation per step).

    With the step size ``h`` equal to the learning rate, one step of the optimizer's vector
    field is the optimizer's usual discrete update.

    Examples
    --------
    >>> import numpy as np
    >>> field = lambda t, y: (-y[0],)
    >>> Euler().step(field, 0.0, (np.array([1.0, 2.0]),), 0.1)[0].tolist()
    [0.9, 1.8]
    """

    name = "euler"
    order = 1
    n_stages = 1

    def step(self, field, t, y, h):
        k = field(t, y)
        return tuple(yi + h * ki for yi, ki in zip(y, k))
