"""Affine coupling maps (RealNVP-style): nonlinear diffeomorphisms with exact inverses."""

import numpy as np

from ..backend import get_backend, namespace
from ..errors import ShapeError
from .base import Map


class AffineCoupling(Map):
    """``θ_a = ψ_a``, ``θ_b = ψ_b ⊙ exp(tanh(S ψ_a)) + tanh(T ψ_a)`` for a split ``(a, b)``.

    A nonlinear diffeomorphism of ``R^d`` whose inverse is exact and whose Jacobian is
    triangular: ``log|det J| = Σ tanh(S ψ_a)``.

    Parameters
    ----------
    mask : array_like of bool, shape (d,)
        True for the coordinates ``a`` that pass through unchanged; needs both kinds.
    S, T : array_like, shape (d_b, d_a)
        Weights of the log-scale and shift networks.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.AffineCoupling([True, False], [[0.5]], [[1.0]])
    >>> x = np.array([0.3, -1.2])
    >>> np.allclose(g.inverse(g(x)), x)
    True
    """

    def __init__(self, mask, S, T):
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 1 or mask.all() or not mask.any():
            raise ShapeError("AffineCoupling: mask must be 1-D with both True and False entries.")
        self.a_idx, self.b_idx = np.flatnonzero(mask), np.flatnonzero(~mask)
        shape = (len(self.b_idx), len(self.a_idx))
        self.S, self.T = np.asarray(S, dtype=np.float64), np.asarray(T, dtype=np.float64)
        for name, M in (("S", self.S), ("T", self.T)):
            if M.shape != shape:
                raise ShapeError(f"AffineCoupling: {name} must have shape {shape}, got {M.shape}.")
        self.dim = mask.shape[0]
        self._perm = np.argsort(np.concatenate([self.a_idx, self.b_idx]))

    def _nets(self, x_a):
        bk = get_backend(None, x_a)
        xp = bk.xp
        return xp.tanh(bk.asarray(self.S) @ x_a), xp.tanh(bk.asarray(self.T) @ x_a)

    def _join(self, xp, a, b):
        return xp.concatenate([a, b])[self._perm]

    def forward(self, psi):
        xp = namespace(psi)
        a, b = psi[self.a_idx], psi[self.b_idx]
        s, t = self._nets(a)
        return self._join(xp, a, b * xp.exp(s) + t)

    def inverse(self, theta):
        xp = namespace(theta)
        a, b = theta[self.a_idx], theta[self.b_idx]
        s, t = self._nets(a)
        return self._join(xp, a, (b - t) * xp.exp(-s))

    def log_abs_det_jacobian(self, psi):
        return namespace(psi).sum(self._nets(psi[self.a_idx])[0])

    def __repr__(self):
        return f"AffineCoupling(d={self.dim})"
