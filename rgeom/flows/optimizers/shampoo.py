"""Shampoo (Gupta, Koren & Singer 2018): ``−L^{-1/4} G R^{-1/4}`` per matrix block.

Continuous-time parametrization, with the statistics accumulated per unit time (as AdaGrad's):

    L̇ = G Gᵀ,   Ṙ = Gᵀ G,   Ẇ = −L^{-1/4} G R^{-1/4}      (G = ∇_W L, per block)

with ``L₀ = G₀G₀ᵀ + εI`` and ``R₀ = G₀ᵀG₀ + εI``. The statistics have no tensorial rule under
general maps (kind ``"none"``) but are conjugated by per-block orthogonal maps
``W = Q₁ Wψ Q₂``, under which Shampoo is exactly invariant; a general Kronecker map breaks it.
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ...errors import ShapeError
from ..map_families import MatrixLayout
from ._rates import check_rate
from .base import Component, Optimizer

__all__ = ["Shampoo"]


def _inverse_fourth_root(M, xp):
    w, V = xp.linalg.eigh(0.5 * (M + M.T))
    return (V * xp.maximum(w, xp.zeros_like(w) + 1e-300) ** -0.25) @ V.T


@dataclasses.dataclass(frozen=True, repr=False)
class Shampoo(Optimizer):
    """Shampoo on the blocks of a :class:`~rgeom.flows.map_families.MatrixLayout`.

    The state is ``(θ, L₁, R₁, L₂, R₂, …)`` with the statistics flattened row-major.

    Parameters
    ----------
    layout : MatrixLayout
    eps : float
        Initial ``εI`` of both statistics (> 0). Directions the gradients have not visited move
        ``ε^{-1/2}`` times faster than a unit gradient; small ``ε`` makes the flow stiff and
        amplifies round-off by ``ε^{-1/4}`` per factor.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.map_families import MatrixLayout
    >>> from rgeom.flows.optimizers import Shampoo
    >>> opt = Shampoo(MatrixLayout([(1, 1)]), eps=1e-12)
    >>> loss = lambda th: 2.0 * th[0] ** 2
    >>> state = opt.init(loss, np.array([1.0]))           # G = 4, L = R = 16
    >>> opt.field(loss)(0.0, state)[0].round(9).tolist()   # −16^{-1/4} · 4 · 16^{-1/4}
    [-1.0]
    """

    layout: MatrixLayout = None
    eps: float = 1e-4
    name: ClassVar[str] = "shampoo"
    components: ClassVar[tuple] = (Component("theta", "point"),)   # + L_i, R_i (kind "none")

    def __post_init__(self):
        if not isinstance(self.layout, MatrixLayout):
            raise TypeError(f"Shampoo: layout must be a MatrixLayout, got {self.layout!r}.")
        check_rate(self.eps, "eps", "Shampoo")
        stats = []
        for i in range(len(self.layout.shapes)):
            stats += [Component(f"L{i}", "none"), Component(f"R{i}", "none")]
        object.__setattr__(self, "components", (Component("theta", "point"), *stats))

    def _check(self, theta):
        if tuple(theta.shape) != (self.layout.size,):
            raise ShapeError(f"Shampoo: theta must have shape ({self.layout.size},) for {self.layout!r}, "
                             f"got {tuple(theta.shape)}.")

    def _statistics(self, G, xp):
        return G @ G.T, G.T @ G

    def init(self, loss, theta, *, backend=None):
        self._check(theta)
        bk = get_backend(backend, theta)
        xp = bk.xp
        state = [theta]
        for G in self.layout.split(bk.grad(loss, theta)):
            for M in self._statistics(G, xp):
                state.append(xp.reshape(M + self.eps * xp.eye(M.shape[0], dtype=M.dtype), (-1,)))
        return tuple(state)

    def field(self, loss, *, lr=None, backend=None):
        layout = self.layout

        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            xp = bk.xp
            steps, rates = [], []
            for i, G in enumerate(layout.split(bk.grad(loss, theta))):
                r, c = G.shape
                L = xp.reshape(state[1 + 2 * i], (r, r))
                R = xp.reshape(state[2 + 2 * i], (c, c))
                steps.append(-_inverse_fourth_root(L, xp) @ G @ _inverse_fourth_root(R, xp))
                rates += [xp.reshape(M, (-1,)) for M in self._statistics(G, xp)]
            return (layout.join(steps), *rates)

        return f

    def pullback(self, g, *, dim=None):
        if g.dim is not None and g.dim != self.layout.size:
            raise ShapeError(f"Shampoo: map of dimension {g.dim} does not fit {self.layout!r}.")
        return self
