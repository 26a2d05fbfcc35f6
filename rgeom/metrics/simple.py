"""Closed-form metric fields: Euclidean, diagonal and dense matrix-valued."""

import numpy as np

from .._checks import concrete
from ..errors import NonFiniteError, NotPositiveDefiniteError, ShapeError
from .base import Metric, MetricAt, check_spd_matrix


class Euclidean(Metric):
    """The identity metric ``G = I`` of the chart (what plain calculus silently assumes).

    Parameters
    ----------
    dim : int
        Dimension ``d`` of the coordinates.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> G = rgeom.metrics.Euclidean(2).at(np.array([0.3, 0.4]))
    >>> G.solve(np.array([1.0, 2.0])).tolist(), float(G.logdet())
    ([1.0, 2.0], 0.0)
    """

    constant = True

    def __init__(self, dim):
        if int(dim) != dim or dim < 1:
            raise ValueError(f"Euclidean: dim must be a positive integer, got {dim!r}.")
        self.dim = int(dim)

    def matvec(self, theta, u):
        return u

    def at(self, theta):
        return _EuclideanAt(self._check_point(theta), self._bk(theta))

    def __repr__(self):
        return f"Euclidean({self.dim})"


class _EuclideanAt(MetricAt):
    tags = frozenset({"identity", "diagonal"})

    def mv(self, u):
        return self._check_arg(u, "u")

    def solve(self, w):
        return self._check_arg(w, "w")

    def logdet(self):
        return self.backend.asarray(0.0)

    def diagonal(self):
        return self.backend.xp.ones_like(self.point)


class Diagonal(Metric):
    """``G(θ) = diag(fn(θ))`` for a function returning ``d`` positive numbers.

    Parameters
    ----------
    fn : callable
        ``θ (d,) -> (d,)``, positive entries, written for the backend of θ.
    dim : int, optional
    constant : bool
        Declare that ``fn`` does not depend on θ (skips Christoffel computations).

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> G = rgeom.metrics.Diagonal(lambda th: np.exp(th))
    >>> G.at(np.array([0.0, 1.0])).mv(np.array([1.0, 1.0])).round(6).tolist()
    [1.0, 2.718282]
    """

    def __init__(self, fn, *, dim=None, constant=False, backend=None):
        if not callable(fn):
            raise TypeError(f"Diagonal: fn must be callable θ -> diag(G(θ)), got {fn!r}.")
        self.fn, self.dim, self.constant, self.backend = fn, dim, constant, backend

    def matvec(self, theta, u):
        return self.fn(theta) * u

    def at(self, theta):
        theta = self._check_point(theta)
        diag = self.fn(theta)
        d = concrete(diag)
        if d is not None:
            if d.shape != tuple(theta.shape):
                raise ShapeError(f"Diagonal metric: fn(theta) must have shape {tuple(theta.shape)}, got {d.shape}.")
            if not np.all(np.isfinite(d)):
                raise NonFiniteError("Diagonal metric: fn(theta) has non-finite entries.")
            if not np.all(d > 0):
                raise NotPositiveDefiniteError(
                    f"Diagonal metric is not positive definite at theta: min entry {d.min():.3g} <= 0."
                )
        return _DiagonalAt(theta, self._bk(theta), diag)

    def __repr__(self):
        return f"Diagonal({getattr(self.fn, '__name__', 'fn')})"


class _DiagonalAt(MetricAt):
    tags = frozenset({"diagonal"})

    def __init__(self, point, backend, diag):
        super().__init__(point, backend)
        self._diag = diag

    def mv(self, u):
        return self._diag * self._check_arg(u, "u")

    def solve(self, w):
        return self._check_arg(w, "w") / self._diag

    def logdet(self):
        xp = self.backend.xp
        return xp.sum(xp.log(self._diag))

    def diagonal(self):
        return self._diag

    def as_matrix(self, *, max_dense_dim=None):
        return self.backend.xp.diag(self._diag)


class Dense(Metric):
    """``G(θ) = fn(θ)`` for a function returning a symmetric positive definite ``d × d`` matrix.

    Parameters
    ----------
    fn : callable
        ``θ (d,) -> (d, d)``, written for the backend of θ.
    dim : int, optional
    constant : bool
        Declare that ``fn`` does not depend on θ.

    Raises
    ------
    NotPositiveDefiniteError
        From :meth:`at` when ``fn(θ)`` is not symmetric positive definite.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> half_plane = rgeom.metrics.Dense(lambda th: np.eye(2) / th[1] ** 2)
    >>> float(half_plane.at(np.array([0.0, 2.0])).logdet()) == float(np.log(1 / 16))
    True
    """

    def __init__(self, fn, *, dim=None, constant=False, backend=None):
        if not callable(fn):
            raise TypeError(f"Dense: fn must be callable θ -> G(θ), got {fn!r}.")
        self.fn, self.dim, self.constant, self.backend = fn, dim, constant, backend

    @classmethod
    def constant_matrix(cls, G):
        """A constant metric from one SPD matrix ``G`` (validated now)."""
        G = np.asarray(G, dtype=np.float64)
        check_spd_matrix(G, "G")
        from ..backend import get_backend

        return cls(lambda th: get_backend(None, th).asarray(G), dim=G.shape[0], constant=True)

    def matvec(self, theta, u):
        return self.fn(theta) @ u

    def matrix(self, theta):
        return self.fn(theta)

    def at(self, theta):
        theta = self._check_point(theta)
        G = self.fn(theta)
        d = theta.shape[0]
        if tuple(G.shape) != (d, d):
            raise ShapeError(f"Dense metric: fn(theta) must have shape ({d}, {d}), got {tuple(G.shape)}.")
        check_spd_matrix(G, "metric G(theta)")
        return _DenseAt(theta, self._bk(theta), G)

    def __repr__(self):
        return f"Dense({getattr(self.fn, '__name__', 'fn')})"


class _DenseAt(MetricAt):
    def __init__(self, point, backend, G):
        super().__init__(point, backend)
        self._G = G
        self._chol = backend.xp.linalg.cholesky(G)

    def mv(self, u):
        return self._G @ self._check_arg(u, "u")

    def solve(self, w):
        return self.backend.xp.linalg.solve(self._G, self._check_arg(w, "w"))

    def logdet(self):
        xp = self.backend.xp
        return 2.0 * xp.sum(xp.log(xp.diag(self._chol)))

    def as_matrix(self, *, max_dense_dim=None):
        return self._G
