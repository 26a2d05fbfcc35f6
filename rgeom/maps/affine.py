"""Affine maps θ = A ψ + b."""

import numpy as np

from .._checks import check_dense_size
from ..backend import get_backend
from ..errors import ShapeError, SingularJacobianError
from .base import MAX_JACOBIAN_CONDITION, Map


class Affine(Map):
    """``θ = A ψ + b`` with a fixed invertible ``A`` (d × d) and offset ``b`` (d,).

    Parameters
    ----------
    A : array_like, shape (d, d)
        Invertible matrix; its inverse is factorised once here.
    b : array_like, shape (d,), optional
        Offset (zero by default).

    Raises
    ------
    ShapeError
        If ``A`` is not square or ``b`` does not have shape ``(d,)``.
    SingularJacobianError
        If ``A`` is singular or its condition number exceeds 1e12.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.Affine([[2.0, 0.0], [1.0, 1.0]], [0.0, 1.0])
    >>> g(np.array([1.0, 1.0])).tolist()
    [2.0, 3.0]
    >>> print(round(float(g.log_abs_det_jacobian(np.zeros(2))), 9))      # log 2
    0.693147181
    """

    def __init__(self, A, b=None):
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ShapeError(f"Affine: A must be a square matrix, got shape {A.shape}.")
        d = A.shape[0]
        b = np.zeros(d) if b is None else np.asarray(b, dtype=np.float64)
        if b.shape != (d,):
            raise ShapeError(f"Affine: b must have shape ({d},), got {b.shape}.")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise ValueError("Affine: A and b must be finite.")
        cond = np.linalg.cond(A)
        if not cond < MAX_JACOBIAN_CONDITION:
            raise SingularJacobianError(
                f"Affine: A is singular or ill-conditioned (cond = {cond:.3g} >= "
                f"{MAX_JACOBIAN_CONDITION:.0e}); the map would not be invertible."
            )
        self.A, self.b, self.dim = A, b, d
        self.A_inv = np.linalg.inv(A)
        self._logdet = float(np.linalg.slogdet(A)[1])

    def _c(self, name, like):
        return get_backend(None, like).asarray(getattr(self, name))

    def forward(self, psi):
        return self._c("A", psi) @ psi + self._c("b", psi)

    def inverse(self, theta):
        return self._c("A_inv", theta) @ (theta - self._c("b", theta))

    def jvp(self, psi, u):
        return self._c("A", u) @ u

    def vjp(self, psi, w):
        return w @ self._c("A", w)

    def inverse_jvp(self, theta, v):
        return self._c("A_inv", v) @ v

    def inverse_vjp(self, theta, w):
        return w @ self._c("A_inv", w)

    def jacobian(self, psi, *, max_dense_dim=None):
        check_dense_size(self.dim, max_dense_dim, "Affine.jacobian")
        return self._c("A", psi)

    def log_abs_det_jacobian(self, psi):
        return get_backend(None, psi).asarray(self._logdet)

    def __repr__(self):
        return f"Affine(d={self.dim})"
