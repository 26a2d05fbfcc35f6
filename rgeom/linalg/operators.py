"""A small linear-operator protocol for the spectral engine.

The engine works on flat NumPy ``float64`` vectors of shape ``(d,)``. Operators built from
backend objects (a torch or JAX Hessian-vector product, an rgeom metric) convert at the boundary:
a NumPy vector goes in with ``Backend.asarray`` (zero-copy for torch CPU tensors), the result comes
back with ``Backend.to_numpy`` (one O(d) copy), in the point's own dtype in between. The price is
two O(d) conversions per product, negligible next to one Hessian-vector product at network scale;
in exchange the Krylov bookkeeping (full reorthogonalisation: BLAS-2 on a contiguous float64
basis, tridiagonal eigenproblems) is backend-agnostic and always float64.

A :class:`LinearOperator` holds ``mv`` and, for a metric, optional exact ``solve`` (``G⁻¹``, or
the pseudo-inverse ``G⁺`` for a singular metric), a whitening factor ``W`` with ``W Wᵀ = G⁺``
(symmetric ``whiten = G^{+1/2}`` with ``unwhiten = G^{1/2}``, or a non-symmetric ``whiten`` /
``whiten_t`` pair with its own range projector ``factor_project``), a range projector
``project``, the kernel dimension and, when known,
an orthonormal kernel basis, and optionally a quadratic form ``quad`` (``xᵀ A x`` without forming
``A x``: what trace probes need, cheaper for a network Hessian by nested forward mode). Every
call is counted in :attr:`LinearOperator.counts`.
"""

import numpy as np
import scipy.sparse.linalg

from .._checks import check_dense_size
from ..errors import ShapeError

__all__ = [
    "LinearOperator",
    "aslinearoperator",
    "from_metric_at",
    "metric_from_matrix",
    "damped",
    "to_scipy",
    "identity",
]


class LinearOperator:
    """A linear map ``x ↦ A x`` on ``R^d`` acting on NumPy ``float64`` vectors, with call counts.

    Parameters
    ----------
    mv : callable
        ``(d,) float64 -> (d,)``: the product ``A x``.
    dim : int
        The dimension ``d``.
    solve : callable, optional
        Exact ``A⁻¹ x`` (``A⁺ x`` on the range for a singular metric). ``None``: the engine uses
        conjugate gradients when it needs a solve.
    whiten, unwhiten : callable, optional
        Symmetric ``A^{+1/2} x`` and ``A^{1/2} x`` (metrics with a cheap factor: diagonal,
        Kronecker). The generalized eigenproblem ``H v = λ A v`` then becomes the symmetric
        ``A^{-1/2} H A^{-1/2}``.
    whiten_t : callable, optional
        For a non-symmetric factor ``W`` with ``W Wᵀ = A⁺`` (``whiten`` applies ``W``): ``Wᵀ x``.
        The engine then works with ``Wᵀ H W`` (e.g. ``W = J⁻¹`` for a metric pulled back from
        the Euclidean one, where ``Wᵀ H W`` is the Hessian in the original chart; ``W = Q Λ^{+1/2}``
        in the eigen-coordinates of a Kronecker-factored metric). ``unwhiten``, if given, stays
        the symmetric ``A^{1/2}`` (it is not ``W⁻¹``).
    project : callable, optional
        Orthogonal projector onto the range of a singular ``A`` (tangent coordinates).
    factor_project : callable, optional
        With ``whiten_t`` and a singular ``A``: the orthogonal projector onto the range of ``Wᵀ``
        in the factor's own (Krylov) coordinates — where the engine's start vectors and probes
        live — so ``W · factor_project = W`` and ``Wᵀ H W`` restricted to its image has the
        spectrum of ``A⁺H`` on the range (for eigen-coordinates: the 0/1 mask of the nonzero
        eigenvalues). Required by the engine for a singular metric with a non-symmetric factor.
    kernel_dim : int, optional
        Dimension of the kernel of ``A`` (0: non-singular; ``None``: unknown).
    kernel_basis : ndarray, shape (d, r), optional
        Orthonormal basis of the kernel.
    damping : float
        A multiple of the identity already added to the metric (``A = G + damping·I``).
    quad : callable, optional
        ``(d,) float64 -> float``: the quadratic form ``xᵀ A x`` by a route cheaper than ``mv``
        (counted as a product). ``None``: ``x · mv(x)``.
    tags : iterable of str
        Structure: ``"identity"``, ``"diagonal"``, ``"symmetric"``, ``"psd"``.
    name : str
        Used in messages.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import LinearOperator
    >>> A = LinearOperator(lambda x: np.array([2.0, 3.0]) * x, 2, name="diag(2, 3)")
    >>> A.mv(np.ones(2)).tolist(), A.counts["mv"]
    ([2.0, 3.0], 1)
    >>> A.as_matrix().tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    """

    def __init__(
        self,
        mv,
        dim,
        *,
        solve=None,
        whiten=None,
        unwhiten=None,
        whiten_t=None,
        project=None,
        factor_project=None,
        kernel_dim=None,
        kernel_basis=None,
        damping=0.0,
        quad=None,
        tags=(),
        name="A",
    ):
        if not callable(mv):
            raise TypeError(f"LinearOperator: mv must be callable (d,) -> (d,), got {mv!r}.")
        if int(dim) != dim or dim < 1:
            raise ValueError(f"LinearOperator: dim must be a positive integer, got {dim!r}.")
        for nm, f in (
            ("solve", solve),
            ("whiten", whiten),
            ("unwhiten", unwhiten),
            ("whiten_t", whiten_t),
            ("project", project),
            ("factor_project", factor_project),
            ("quad", quad),
        ):
            if f is not None and not callable(f):
                raise TypeError(f"LinearOperator: {nm} must be callable or None, got {f!r}.")
        self.dim, self.name, self.tags = int(dim), str(name), frozenset(tags)
        self._mv, self._solve, self._whiten, self._unwhiten = mv, solve, whiten, unwhiten
        self._whiten_t = whiten_t
        self._quad = quad
        if kernel_basis is not None:
            kernel_basis = np.asarray(kernel_basis, dtype=np.float64).reshape(self.dim, -1)
            kernel_basis = np.linalg.qr(kernel_basis)[0] if kernel_basis.shape[1] else kernel_basis
            if kernel_dim is None:
                kernel_dim = kernel_basis.shape[1]
            if project is None:
                K = kernel_basis
                project = lambda x: x - K @ (K.T @ x)  # noqa: E731
        if project is None and kernel_dim and whiten_t is None and whiten and unwhiten:
            project = lambda x: whiten(unwhiten(x))  # noqa: E731  G^{+1/2} G^{1/2} = P_range
        self._project = project
        self._factor_project = factor_project
        self.kernel_dim = None if kernel_dim is None else int(kernel_dim)
        self.kernel_basis = kernel_basis
        self.damping = float(damping)
        self.counts = {"mv": 0, "solve": 0, "whiten": 0}
        self._damped_factory = None

    # --- products ------------------------------------------------------------------------
    def _check(self, x, name):
        if getattr(x, "shape", None) != (self.dim,):
            raise ShapeError(
                f"{self.name}: {name} must have shape ({self.dim},), got {np.shape(x)}."
            )
        return x

    def mv(self, x):
        """``A x``, shape ``(d,)``."""
        self.counts["mv"] += 1
        return np.asarray(self._mv(self._check(x, "x")), dtype=np.float64)

    def quad(self, x):
        """The quadratic form ``xᵀ A x`` (a float; one product)."""
        if self._quad is None:
            return float(np.einsum("i,i->", x, self.mv(x)))
        self.counts["mv"] += 1
        return float(self._quad(self._check(x, "x")))

    @property
    def has_solve(self):
        """Whether an exact ``solve`` is available."""
        return self._solve is not None

    @property
    def has_whiten(self):
        """Whether a symmetric inverse square root ``whiten`` is available."""
        return self._whiten is not None

    @property
    def has_project(self):
        """Whether a projector onto the range is available."""
        return self._project is not None

    def solve(self, b):
        """Exact ``A⁻¹ b`` (pseudo-inverse on the range for a singular metric)."""
        if self._solve is None:
            raise NotImplementedError(f"{self.name} has no exact solve; use rgeom.linalg.cg.")
        self.counts["solve"] += 1
        return np.asarray(self._solve(self._check(b, "b")), dtype=np.float64)

    def whiten(self, x):
        """``A^{+1/2} x`` (symmetric inverse square root)."""
        if self._whiten is None:
            raise NotImplementedError(f"{self.name} has no whitening factor.")
        self.counts["whiten"] += 1
        return np.asarray(self._whiten(self._check(x, "x")), dtype=np.float64)

    @property
    def symmetric_factor(self):
        """Whether ``whiten`` is the symmetric ``A^{+1/2}`` (no separate ``whiten_t``)."""
        return self._whiten_t is None

    def whiten_t(self, x):
        """``Wᵀ x`` for the whitening factor ``W`` (``= whiten(x)`` when it is symmetric)."""
        if self._whiten_t is None:
            return self.whiten(x)
        self.counts["whiten"] += 1
        return np.asarray(self._whiten_t(self._check(x, "x")), dtype=np.float64)

    def unwhiten(self, x):
        """``A^{1/2} x``."""
        if self._unwhiten is None:
            raise NotImplementedError(f"{self.name} has no square root.")
        self.counts["whiten"] += 1
        return np.asarray(self._unwhiten(self._check(x, "x")), dtype=np.float64)

    def project(self, x):
        """Orthogonal projection of ``x`` onto the range (the identity for a regular operator)."""
        if self._project is None:
            return x
        return np.asarray(self._project(self._check(x, "x")), dtype=np.float64)

    @property
    def has_factor_project(self):
        """Whether a range projector in the coordinates of a non-symmetric factor is available."""
        return self._factor_project is not None

    def factor_project(self, y):
        """Projection of ``y`` (factor coordinates) onto the range of ``Wᵀ`` (see the class doc).

        With a symmetric factor the factor's coordinates are tangent coordinates: this is
        :meth:`project`. The identity when nothing is known (a regular operator).
        """
        if self._whiten_t is None:
            return self.project(y)
        if self._factor_project is None:
            return y
        return np.asarray(self._factor_project(self._check(y, "y")), dtype=np.float64)

    @property
    def is_identity(self):
        return "identity" in self.tags and self.damping == 0.0

    # --- dense and scipy views -----------------------------------------------------------
    def as_matrix(self, *, max_dense_dim=None):
        """Dense ``(d, d)`` matrix from ``d`` products (small ``d`` only)."""
        check_dense_size(self.dim, max_dense_dim, f"{self.name}.as_matrix")
        eye = np.eye(self.dim)
        return np.stack([self.mv(eye[i]) for i in range(self.dim)], 1)

    def to_scipy(self):
        """A :class:`scipy.sparse.linalg.LinearOperator` (float64) with the same product."""
        return to_scipy(self)

    def __repr__(self):
        return f"LinearOperator({self.name}, dim={self.dim})"


def identity(dim):
    """The identity operator on ``R^dim`` (tags ``identity``, ``diagonal``)."""
    one = lambda x: x  # noqa: E731
    return LinearOperator(
        one,
        dim,
        solve=one,
        whiten=one,
        unwhiten=one,
        kernel_dim=0,
        tags=("identity", "diagonal", "symmetric", "psd"),
        name="I",
    )


def to_scipy(op):
    """Export ``op`` as a :class:`scipy.sparse.linalg.LinearOperator` (float64).

    Examples
    --------
    >>> import numpy as np, scipy.sparse.linalg
    >>> from rgeom.linalg import aslinearoperator, to_scipy
    >>> S = to_scipy(aslinearoperator(np.diag([1.0, 5.0, 2.0])))
    >>> round(float(scipy.sparse.linalg.eigsh(S, k=1, which="LA", v0=np.ones(3))[0][0]), 8)
    5.0
    """
    op = aslinearoperator(op)
    return scipy.sparse.linalg.LinearOperator(
        (op.dim, op.dim),
        matvec=lambda x: op.mv(np.ravel(x)),
        rmatvec=lambda x: op.mv(np.ravel(x)),
        dtype=np.float64,
    )


def _backend_converters(bk, like):
    """``(to_backend, to_numpy)`` for vectors: NumPy float64 in and out, ``like``'s dtype inside.

    torch: ``torch.as_tensor`` shares the NumPy buffer (no copy for a float64 CPU point) and puts
    the vector on ``like``'s device; the way back is one device-to-host copy at most.
    """
    dtype = getattr(like, "dtype", None)
    if bk.name == "torch":
        import torch

        device = like.device

        def to_bk(x):
            return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

        def to_np(y):
            return np.asarray(y.detach().to("cpu").numpy(), dtype=np.float64)

        return to_bk, to_np

    def to_bk(x):
        return bk.asarray(np.ascontiguousarray(x), dtype=dtype)

    def to_np(y):
        return np.asarray(bk.to_numpy(y), dtype=np.float64)

    return to_bk, to_np


def _wrap(fn, to_bk, to_np):
    return None if fn is None else (lambda x: to_np(fn(to_bk(x))))


def from_metric_at(G, *, name=None):
    """The engine's view of an rgeom metric at a point (a ``MetricAt``-like object).

    Uses what the object offers: ``mv``; ``solve`` when the class implements it (pseudo-inverse
    for a singular metric); a non-symmetric whitening factor when the object has
    ``whiten_factor`` / ``whiten_factor_t`` (``W``, ``Wᵀ`` with ``W Wᵀ = G⁺``) and
    ``factor_project`` (its range projector, see :class:`LinearOperator`; applied as a NumPy
    mask when the object also gives it as ``factor_range``, a 0/1 vector) — preferred, being
    cheaper (K-FAC's eigen-coordinates: two matrix products per layer against four) — else
    ``whiten``/``unwhiten`` when present, otherwise built from ``diagonal()`` for diagonal
    metrics; ``project``, ``kernel_dim`` and ``kernel_basis()`` when present (degenerate metrics
    such as Fisher or K-FAC along network symmetries). ``unwhiten`` is always the symmetric
    ``G^{1/2}``.

    Parameters
    ----------
    G : MetricAt
    name : str, optional

    Returns
    -------
    LinearOperator

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.linalg import from_metric_at
    >>> G = rgeom.metrics.Diagonal(lambda th: 1.0 + th ** 2).at(np.array([1.0, 2.0]))
    >>> op = from_metric_at(G)
    >>> op.whiten(np.array([2.0, 5.0])).round(10).tolist(), op.kernel_dim
    ([1.4142135624, 2.2360679775], 0)
    >>> from rgeom.metrics import KFAC
    >>> from rgeom.models import mlp
    >>> rng = np.random.default_rng(0)
    >>> net = mlp([2, 3], activation="identity")
    >>> K = KFAC(net, "cross-entropy", (rng.normal(size=(30, 2)), np.arange(30) % 3)).at(net.theta)
    >>> op = from_metric_at(K)                     # K-FAC: W = Q Λ^{+1/2} in eigen-coordinates
    >>> op.symmetric_factor, op.kernel_dim, int(op.factor_project(np.ones(9)).sum())
    (False, 3, 6)
    """
    from ..metrics.base import MetricAt

    bk = G.backend
    to_bk, to_np = _backend_converters(bk, G.point)
    tags = set(getattr(G, "tags", ()))
    d = int(G.dim)
    if "identity" in tags:
        op = identity(d)
        op.name = name or "I"
        return op
    solve = None
    if getattr(G, "exact_solve", True) and (
        not isinstance(G, MetricAt) or type(G).solve is not MetricAt.solve
    ):
        solve = _wrap(G.solve, to_bk, to_np)
    whiten, unwhiten = (
        _wrap(getattr(G, "whiten", None), to_bk, to_np),
        _wrap(getattr(G, "unwhiten", None), to_bk, to_np),
    )
    whiten_t = factor_project = None
    if callable(getattr(G, "whiten_factor", None)) and callable(getattr(G, "whiten_factor_t", None)):
        whiten, whiten_t = (_wrap(G.whiten_factor, to_bk, to_np), _wrap(G.whiten_factor_t, to_bk, to_np))
        mask = getattr(G, "factor_range", None)  # a diagonal projector: its 0/1 mask, in NumPy
        if mask is None:
            factor_project = _wrap(getattr(G, "factor_project", None), to_bk, to_np)
        else:
            mask = np.asarray(mask, dtype=np.float64)
            factor_project = lambda y: y * mask  # noqa: E731
    kernel_dim = getattr(G, "kernel_dim", None)
    if whiten is None and "diagonal" in tags and hasattr(G, "diagonal"):
        diag = np.asarray(to_np(G.diagonal()), dtype=np.float64)
        root = np.sqrt(diag)
        whiten, unwhiten = (lambda x: x / root), (lambda x: x * root)
        kernel_dim = 0 if kernel_dim is None else kernel_dim
    if kernel_dim is None:
        kernel_dim = _known_kernel_dim(G)
    if whiten is None and kernel_dim == 0:
        whiten, whiten_t = _factor(G, to_bk, to_np) or (None, None)
    basis = getattr(G, "kernel_basis", None)
    basis = basis() if callable(basis) else basis
    basis = (
        None
        if basis is None
        else np.asarray(to_np(basis) if not isinstance(basis, np.ndarray) else basis)
    )
    project = _wrap(getattr(G, "project", None), to_bk, to_np)
    op = LinearOperator(
        _wrap(G.mv, to_bk, to_np),
        d,
        solve=solve,
        whiten=whiten,
        unwhiten=unwhiten,
        whiten_t=whiten_t,
        project=project,
        factor_project=factor_project,
        kernel_dim=kernel_dim,
        kernel_basis=basis,
        damping=float(getattr(G, "damping", 0.0) or 0.0),
        tags=tags | {"symmetric", "psd"},
        name=name or type(G).__name__,
    )
    if callable(getattr(G, "damped", None)):  # the metric knows how to damp itself exactly

        def factory(delta):
            new = from_metric_at(G.damped(delta), name=f"{op.name} + {delta:g}·I")
            new.damping, new.kernel_dim = op.damping + delta, 0
            return new

        op._damped_factory = factory
    return op


def metric_from_matrix(G, *, rank_rtol=1e-10, name="G"):
    """A dense symmetric positive semi-definite metric with exact solve, whitening and kernel.

    From one eigendecomposition ``G = U diag(s) Uᵀ``: ``solve`` is ``G⁺``, ``whiten`` ``G^{+1/2}``,
    eigenvalues ``≤ rank_rtol · max s`` form the kernel (small ``d`` only).

    Raises
    ------
    NotPositiveDefiniteError
        If ``G`` is not symmetric or has an eigenvalue below ``−rank_rtol · max s``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import metric_from_matrix
    >>> G = metric_from_matrix(np.diag([4.0, 1.0, 0.0]))
    >>> G.kernel_dim, G.whiten(np.ones(3)).tolist(), G.solve(np.ones(3)).tolist()
    (1, [0.5, 1.0, 0.0], [0.25, 1.0, 0.0])
    """
    from ..errors import NotPositiveDefiniteError

    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ShapeError(f"metric_from_matrix: {name} must be square, got shape {G.shape}.")
    check_dense_size(G.shape[0], None, "metric_from_matrix")
    scale = max(np.abs(G).max(), np.finfo(float).tiny)
    if np.abs(G - G.T).max() > 1e-10 * scale or not np.all(np.isfinite(G)):
        raise NotPositiveDefiniteError(f"metric {name} is not a finite symmetric matrix.")
    s, U = np.linalg.eigh(0.5 * (G + G.T))
    top = max(s[-1], 0.0)
    if top == 0.0 or s[0] < -rank_rtol * top:
        raise NotPositiveDefiniteError(
            f"metric {name} is not positive semi-definite: "
            f"eigenvalues in [{s[0]:.3g}, {s[-1]:.3g}]."
        )
    ker = s <= rank_rtol * top
    inv = np.where(ker, 0.0, 1.0 / np.where(ker, 1.0, s))
    root = np.sqrt(np.where(ker, 0.0, s))
    return LinearOperator(
        lambda x: G @ x,
        G.shape[0],
        solve=lambda x: U @ (inv * (U.T @ x)),
        whiten=lambda x: U @ (np.sqrt(inv) * (U.T @ x)),
        unwhiten=lambda x: U @ (root * (U.T @ x)),
        kernel_dim=int(ker.sum()),
        kernel_basis=U[:, ker] if ker.any() else None,
        tags=("symmetric", "psd"),
        name=name,
    )


def _factor(G, to_bk, to_np):
    """``(W, Wᵀ)`` with ``W Wᵀ = G⁻¹`` for rgeom's dense and pulled-back metrics, else None.

    Dense: ``G = L Lᵀ`` (Cholesky), ``W = L⁻ᵀ``. Pullback ``Jᵀ G_θ J``: ``W = J⁻¹ W_θ`` from the
    map's inverse tangents and the base metric's factor, so ``Wᵀ Hess_ψ W = W_θᵀ Hess_θ W_θ``:
    the whitened operator, and with it every estimate for a given seed, is the same in every chart.
    """
    import scipy.linalg

    from ..metrics.pullback import _PullbackAt
    from ..metrics.simple import _DenseAt

    if isinstance(G, _DenseAt):
        L = np.linalg.cholesky(np.asarray(to_np(G.as_matrix()), dtype=np.float64))
        return (lambda x: scipy.linalg.solve_triangular(L.T, x, lower=False),
                lambda x: scipy.linalg.solve_triangular(L, x, lower=True))
    if isinstance(G, _PullbackAt):
        base = from_metric_at(G.base_at)
        if base.kernel_dim != 0 or not (base.is_identity or base.has_whiten):
            return None
        g, th = G.map, G.theta
        if base.is_identity:
            return (lambda x: to_np(g.inverse_jvp(th, to_bk(x))),
                    lambda x: to_np(g.inverse_vjp(th, to_bk(x))))
        return (lambda x: to_np(g.inverse_jvp(th, to_bk(base.whiten(x)))),
                lambda x: base.whiten_t(to_np(g.inverse_vjp(th, to_bk(x)))))
    return None


def _known_kernel_dim(G):
    """0 for rgeom's own metrics validated positive definite at construction, else None."""
    from ..metrics.pullback import _PullbackAt
    from ..metrics.simple import _DenseAt, _DiagonalAt, _EuclideanAt

    if isinstance(G, (_DenseAt, _DiagonalAt, _EuclideanAt)) or "regular" in getattr(G, "tags", ()):
        return 0
    if isinstance(G, _PullbackAt):  # J is invertible (checked by Pullback.at)
        base = getattr(G.base_at, "kernel_dim", None)
        return base if base is not None else _known_kernel_dim(G.base_at)
    return None


def damped(op, delta):
    """``A + δ I`` for a metric operator ``A`` (Levenberg–Marquardt damping).

    Exact solves and whitening are kept for identity and diagonal metrics, and taken from
    ``op.damped(delta)`` when the original object offers one (e.g. an eigendecomposed
    Kronecker metric); otherwise the damped metric has ``mv`` only and the engine solves it by
    conjugate gradients. Damping makes a singular metric regular but **breaks invariance**.

    Parameters
    ----------
    op : LinearOperator
    delta : float
        ``δ >= 0``.

    Returns
    -------
    LinearOperator
        With ``damping = op.damping + δ`` and ``kernel_dim = 0``.
    """
    delta = float(delta)
    if not np.isfinite(delta) or delta < 0:
        raise ValueError(f"damping must be a finite number >= 0, got {delta!r}.")
    if delta == 0.0:
        return op
    inner = getattr(op, "_damped_factory", None)
    if inner is not None:
        return inner(delta)
    mv = lambda x: op.mv(x) + delta * x  # noqa: E731
    solve = whiten = unwhiten = None
    if "identity" in op.tags:
        solve = lambda x: x / (1.0 + delta)  # noqa: E731
        whiten, unwhiten = (
            (lambda x: x / np.sqrt(1.0 + delta)),
            (lambda x: x * np.sqrt(1.0 + delta)),
        )
    elif "diagonal" in op.tags and op.has_whiten:
        diag = op.mv(np.ones(op.dim)) + delta
        root = np.sqrt(diag)
        solve, whiten, unwhiten = (lambda x: x / diag), (lambda x: x / root), (lambda x: x * root)
    return LinearOperator(
        mv,
        op.dim,
        solve=solve,
        whiten=whiten,
        unwhiten=unwhiten,
        kernel_dim=0,
        damping=op.damping + delta,
        tags=op.tags - {"identity"},
        name=f"{op.name} + {delta:g}·I",
    )


def aslinearoperator(A, *, dim=None, name=None):
    """Coerce ``A`` to a :class:`LinearOperator`.

    Accepts a :class:`LinearOperator` (returned as is), a square NumPy array, a SciPy
    ``LinearOperator``, an rgeom ``MetricAt`` (see :func:`from_metric_at`), an rgeom
    ``BilinearForm`` / ``Operator`` (matrix-free, backend arrays converted at the boundary), or a
    callable ``(d,) -> (d,)`` together with ``dim``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import aslinearoperator
    >>> aslinearoperator(np.array([[2.0, 1.0], [1.0, 2.0]])).mv(np.array([1.0, 0.0])).tolist()
    [2.0, 1.0]
    """
    if isinstance(A, LinearOperator):
        return A
    if isinstance(A, np.ndarray):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ShapeError(f"aslinearoperator: a matrix must be square, got shape {A.shape}.")
        M = np.asarray(A, dtype=np.float64)
        return LinearOperator(lambda x: M @ x, M.shape[0], name=name or "matrix")
    if isinstance(A, scipy.sparse.linalg.LinearOperator):
        return LinearOperator(
            lambda x: np.ravel(A.matvec(x)), A.shape[0], name=name or "scipy operator"
        )
    from ..geometry.tensors import _LinearAtPoint
    from ..metrics.base import MetricAt

    if isinstance(A, MetricAt):
        return from_metric_at(A, name=name)
    if isinstance(A, _LinearAtPoint):
        to_bk, to_np = _backend_converters(A.backend, A.point)
        return LinearOperator(_wrap(A.mv, to_bk, to_np), A.dim, name=name or type(A).__name__)
    if callable(A):
        if dim is None:
            raise ValueError("aslinearoperator: pass dim= with a callable operator.")
        return LinearOperator(A, dim, name=name or getattr(A, "__name__", "A"))
    raise TypeError(
        "aslinearoperator: expected a LinearOperator, square ndarray, scipy LinearOperator, rgeom "
        f"MetricAt/BilinearForm/Operator or a callable with dim=, got {type(A).__name__}."
    )
