"""The metric interface: a field θ ↦ G(θ) and its linear operator at one point."""

import numpy as np

from .._checks import check_dense_size, check_vector, concrete
from ..backend import get_backend
from ..errors import NonFiniteError, NotPositiveDefiniteError, ShapeError

#: Relative asymmetry ‖G - Gᵀ‖ / ‖G‖ above which a dense metric is rejected.
SYMMETRY_RTOL = 1e-10


class Metric:
    """A Riemannian metric field: at each point θ a symmetric positive definite ``G(θ)``.

    Subclasses implement :meth:`matvec` (``G(θ) u`` as a differentiable function of θ) and
    :meth:`at` (the operator at one point, with ``mv``, ``solve``, ``logdet``, ``as_matrix``).

    Attributes
    ----------
    dim : int or None
        Dimension of the coordinates, ``None`` when any length is accepted.
    constant : bool
        Tag: ``G`` does not depend on θ, so all Christoffel symbols vanish (fast path).
    backend : None or str
        Forced backend; ``None`` infers it from the arrays passed in.
    """

    dim = None
    constant = False
    backend = None

    def matvec(self, theta, u):
        """``G(θ) u``, shape ``(d,)``; differentiable in ``theta`` on its backend."""
        raise NotImplementedError

    def at(self, theta):
        """The metric at ``theta`` as a :class:`MetricAt` operator (validated there)."""
        raise NotImplementedError

    def matrix(self, theta):
        """Dense ``G(θ)``, shape ``(d, d)``, differentiable in ``theta`` (small ``d`` only)."""
        bk = self._bk(theta)
        eye = bk.xp.eye(theta.shape[0], dtype=theta.dtype)
        return bk.xp.stack([self.matvec(theta, eye[i]) for i in range(theta.shape[0])], 1)

    def inner(self, theta, u, v):
        """``⟨u, v⟩_G = uᵀ G(θ) v`` (a scalar)."""
        return self._bk(theta, u, v).xp.sum(u * self.matvec(theta, v))

    def _bk(self, *arrays):
        return get_backend(self.backend, *arrays)

    def _check_point(self, theta, name="theta"):
        return check_vector(theta, name, self.dim)


class MetricAt:
    """A metric frozen at one point: a symmetric positive definite linear operator.

    Attributes
    ----------
    point : array, shape (d,)
        The base point θ.
    dim : int
    backend : Backend
    tags : frozenset of str
        Structural tags, e.g. ``{"identity"}``, ``{"diagonal"}``, that unlock fast paths.
    """

    tags = frozenset()

    def __init__(self, point, backend):
        self.point, self.backend, self.dim = point, backend, point.shape[0]

    def mv(self, u):
        """``G u``, shape ``(d,)``."""
        raise NotImplementedError

    def solve(self, w):
        """``G⁻¹ w``, shape ``(d,)``."""
        raise NotImplementedError

    def logdet(self):
        """``log det G`` (natural log, a scalar)."""
        raise NotImplementedError

    def as_matrix(self, *, max_dense_dim=None):
        """Dense ``G``, shape ``(d, d)``; raises ``DenseSizeError`` above ``max_dense_dim``."""
        check_dense_size(self.dim, max_dense_dim, "MetricAt.as_matrix")
        xp = self.backend.xp
        eye = xp.eye(self.dim, dtype=self.point.dtype)
        return xp.stack([self.mv(eye[i]) for i in range(self.dim)], 1)

    def _check_arg(self, x, name):
        shape = tuple(x.shape)
        if shape != (self.dim,):
            raise ShapeError(f"{name} must have shape ({self.dim},) to match the metric, got {shape}.")
        return x


def check_spd_matrix(G, name="metric"):
    """Raise if the dense matrix ``G`` is not finite, symmetric and positive definite."""
    a = concrete(G)
    if a is None:
        return
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ShapeError(f"{name} must give a square matrix, got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise NonFiniteError(f"{name} contains non-finite entries.")
    scale = max(np.abs(a).max(), np.finfo(float).tiny)
    asym = np.abs(a - a.T).max() / scale
    if asym > SYMMETRY_RTOL:
        raise NotPositiveDefiniteError(
            f"{name} is not symmetric: max |G - Gᵀ| / max |G| = {asym:.3g} > {SYMMETRY_RTOL:g}."
        )
    lam_min = np.linalg.eigvalsh(0.5 * (a + a.T))[0]
    if not lam_min > 0:
        raise NotPositiveDefiniteError(
            f"{name} is not positive definite: smallest eigenvalue {lam_min:.3g} <= 0."
        )
