"""The diagonal of the Fisher / GGN / empirical Fisher as a metric: exact, from per-sample Jacobian rows.

The cheapest network metric: ``G = diag(F)`` with ``F`` the exact diagonal of one of the
output-space metrics of :mod:`rgeom.metrics.fisher`, computed in chunks of per-sample Jacobian
rows. A diagonal is not the pullback of anything under general maps, but it transforms correctly
under elementwise rescalings of the parameters — Dinh rescaling included.
"""

import numpy as np

from .._checks import check_dense_size
from ..errors import NotPositiveDefiniteError, ShapeError
from .base import Metric, MetricAt
from .fisher import GGN, EmpiricalFisher, Fisher, _check_damping, _OutputSpaceAt


class DiagonalFisher(Metric):
    """The diagonal of the Fisher / GGN / empirical Fisher as a metric (exact diagonal).

    Singular where an entry is zero (e.g. weights of an always-zero input or of a dead unit):
    ``solve`` is then the pseudo-inverse, ``logdet`` the log pseudo-determinant, ``whiten`` is
    ``G^{+1/2}`` and ``kernel_dim`` counts the zero entries (those ``≤ rank_rtol · max``).

    Parameters
    ----------
    model, loss, data, batch_size, progress
        As :class:`GGN`.
    kind : {"fisher", "ggn", "empirical", "mc-fisher"}
    mc_samples, seed : for ``kind="mc-fisher"``.
    damping : float
        ``δ ≥ 0`` added to every entry (no kernel then). **Breaks invariance.**
    rank_rtol : float
        Entries ``≤ rank_rtol · max`` are the kernel. Default 0: exactly zero entries only (sums of
        squares of exactly zero derivatives; rounding cannot produce them otherwise), which keeps
        the kernel unchanged under any rescaling of coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.metrics import DiagonalFisher, GGN
    >>> X = np.random.default_rng(0).normal(size=(8, 3)); y = np.arange(8) % 2
    >>> net = mlp([3, 4, 2], activation="tanh")
    >>> d = DiagonalFisher(net, "cross-entropy", (X, y)).at(net.theta)
    >>> G = GGN(net, "cross-entropy", (X, y)).at(net.theta).as_matrix()
    >>> bool(np.allclose(d.diagonal(), np.diag(G), rtol=1e-12, atol=1e-15)), d.kernel_dim
    (True, 0)
    """

    _KINDS = {"fisher": Fisher, "ggn": GGN, "empirical": EmpiricalFisher, "mc-fisher": Fisher}

    def __init__(self, model, loss=None, data=None, *, kind="fisher", mc_samples=1, seed=0,
                 damping=0.0, rank_rtol=0.0, batch_size=None, progress=None):
        if kind not in self._KINDS:
            raise ValueError(f"DiagonalFisher: kind must be one of {sorted(self._KINDS)}, got {kind!r}.")
        kw = {"mc_samples": mc_samples, "seed": seed} if kind == "mc-fisher" else {}
        self.full = self._KINDS[kind](model, loss, data, batch_size=batch_size, progress=progress,
                                      cache=False, **kw)
        self.kind, self.problem = kind, self.full.problem
        self.dim, self.backend = self.full.dim, self.full.backend
        self.damping = _check_damping(damping)
        self.rank_rtol = rank_rtol

    def matvec(self, theta, u):
        bk = self.problem.backend
        d = _diag_traced(self.full, theta, bk)
        return (d + self.damping) * u

    def at(self, theta):
        theta = self._check_point(theta)
        d = _OutputSpaceAt(self.full, theta, 0.0)._diagonal_numpy()
        return DiagonalAt(theta, self.problem.backend, d, damping=self.damping, rank_rtol=self.rank_rtol)

    def __repr__(self):
        extra = f", damping={self.damping:g}" if self.damping else ""
        return f"DiagonalFisher({self.problem.model.name}, kind={self.kind!r}{extra})"


def _diag_traced(full, theta, bk):
    """Differentiable ``diag G(θ)`` (small problems; used for Christoffel symbols)."""
    xp = bk.xp
    prob = full.problem
    total = 0.0
    for b, (X, T, n) in enumerate(prob.batches):
        F = prob.model.apply(theta, X)
        B = full._factor(F, T, full._extra(F, T, b))
        for i in range(n):
            fn = lambda th, i=i: xp.einsum("nc,nck->nk", prob.model.apply(th, X[i:i + 1]), B[i:i + 1])  # noqa: E731
            J = bk.jacobian(fn, theta).reshape((-1, theta.shape[0]))
            total = total + xp.sum(J * J, 0)
    return total / prob.n


class DiagonalAt(MetricAt):
    """A non-negative diagonal metric ``diag(d) + δI`` with pseudo-inverse, pseudo-log-det and whitening.

    Parameters
    ----------
    point : array (D,)
    backend : Backend
    diag : array (D,)
        Non-negative entries (float64 NumPy).
    damping : float
    rank_rtol : float
        Entries ``≤ rank_rtol · max(d)`` form the kernel (default 0: exact zeros).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.backend import get_backend
    >>> from rgeom.metrics.fisher_diagonal import DiagonalAt
    >>> G = DiagonalAt(np.zeros(3), get_backend("autograd"), np.array([4.0, 0.0, 1.0]))
    >>> G.kernel_dim, G.solve(np.ones(3)).tolist(), G.whiten(np.ones(3)).tolist(), float(G.logdet())
    (1, [0.25, 0.0, 1.0], [0.5, 0.0, 1.0], 1.3862943611198906)
    """

    tags = frozenset({"diagonal", "psd"})

    def __init__(self, point, backend, diag, *, damping=0.0, rank_rtol=0.0):
        super().__init__(point, backend)
        d = np.asarray(diag, dtype=np.float64)
        if d.shape != (self.dim,):
            raise ShapeError(f"DiagonalAt: diag must have shape ({self.dim},), got {d.shape}.")
        if not np.all(np.isfinite(d)):
            raise NotPositiveDefiniteError("DiagonalAt: diagonal has non-finite entries.")
        scale = max(d.max(initial=0.0), np.finfo(float).tiny)
        if d.min() < -1e-12 * scale:
            raise NotPositiveDefiniteError(f"DiagonalAt: negative entry {d.min():.3g}: not a metric.")
        self.damping = _check_damping(damping)
        self.rank_rtol = float(rank_rtol)
        self._raw = np.clip(d, 0.0, None)
        self._d = self._raw + self.damping
        self._kernel = self._d <= self.rank_rtol * scale if not self.damping else np.zeros(self.dim, bool)
        self.kernel_dim = int(self._kernel.sum())
        safe = np.where(self._kernel, 1.0, self._d)
        self._inv = np.where(self._kernel, 0.0, 1.0 / safe)
        self._isqrt = np.sqrt(self._inv)
        self._sqrt = np.where(self._kernel, 0.0, np.sqrt(safe))
        self._dtype = backend.to_numpy(point).dtype if hasattr(point, "dtype") else np.float64

    def _times(self, v, x):
        bk = self.backend
        return bk.asarray(v.astype(self._dtype)) * self._check_arg(x, "x")

    def mv(self, u):
        return self._times(self._d, u)

    def solve(self, w):
        """``G⁺ w`` (pseudo-inverse: zero on the kernel)."""
        return self._times(self._inv, w)

    def whiten(self, x):
        """``G^{+1/2} x``."""
        return self._times(self._isqrt, x)

    def unwhiten(self, x):
        """``G^{1/2} x``."""
        return self._times(self._sqrt, x)

    def project(self, x):
        """Orthogonal projection onto the range (zero the kernel coordinates)."""
        return self._times((~self._kernel).astype(np.float64), x)

    def kernel_basis(self):
        """Orthonormal kernel basis ``(D, kernel_dim)``: coordinate vectors (NumPy)."""
        return np.eye(self.dim)[:, self._kernel]

    def logdet(self):
        """``log det G`` on the range (the log pseudo-determinant when ``kernel_dim > 0``)."""
        return float(np.sum(np.log(self._d[~self._kernel])))

    def diagonal(self):
        return self.backend.asarray(self._d.astype(self._dtype))

    def as_matrix(self, *, max_dense_dim=None):
        check_dense_size(self.dim, max_dense_dim, "DiagonalAt.as_matrix")
        return self.backend.asarray(np.diag(self._d).astype(self._dtype))

    def damped(self, delta):
        """``G + δI`` (no kernel; breaks invariance)."""
        return DiagonalAt(self.point, self.backend, self._raw, damping=self.damping + _check_damping(delta),
                          rank_rtol=self.rank_rtol)
