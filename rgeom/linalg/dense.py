"""Dense reference for ``H v = λ G v`` (small ``d``), with singular metrics handled on their range.

The rank of ``G`` is decided on its **Jacobi-equilibrated** form ``G̃ = S G S`` with
``S = diag(G)^{-1/2}`` (unit diagonal), not on ``G`` itself. Under a diagonal change of
coordinates ``θ = Λ ψ`` (Dinh rescaling of a layer, a change of units) ``G ↦ Λ G Λ`` but ``G̃`` does
not change, so neither does the kernel found, nor the eigenvalues: a threshold on the raw
eigenvalues of ``G`` would move with the chart (a K-FAC kernel of 249 directions became 951 after
rescaling one layer by α = 100). With ``G̃ = Ũ diag(μ) Ũᵀ`` and ``μ > rank_rtol · max μ`` the range,
``V = S Ũ_r diag(μ_r)^{-1/2}`` is ``G``-orthonormal and spans a complement of the kernel, and the
eigenvalues are those of the symmetric ``Vᵀ H V`` after ``V`` is moved onto the chosen complement
(``range G`` by default: the pseudo-inverse ``G⁺ H`` on the range; see :func:`eigh_on_range`) — the
same as ``scipy.linalg.eigh(H, G)`` when ``G`` is regular, better conditioned when it is not. Zero
diagonal entries of a positive semi-definite ``G`` mean a zero row and column: those coordinates
are kernel directions exactly. The kernel dimension and ``‖H U_k‖_F`` (``U_k`` an orthonormal
basis of the kernel; the Hessian's component on the kernel, zero at a critical point of a loss
invariant along the kernel) are reported.
"""

import dataclasses

import numpy as np

from .._checks import check_dense_size
from ..errors import NonFiniteError, NotPositiveDefiniteError, ShapeError

__all__ = ["dense_eigh", "DenseEig", "SYMMETRY_RTOL", "default_rank_rtol", "equilibrated_range",
           "eigh_on_range"]

#: Relative asymmetry ``max|H − Hᵀ| / max|H|`` above which the Hessian is rejected.
SYMMETRY_RTOL = 1e-6


def default_rank_rtol(n):
    """Default kernel threshold ``n · ε`` (float64) relative to the top eigenvalue of ``G̃``.

    ``G̃`` has unit diagonal, so its eigenvalues lie in ``[0, n]`` and ``eigh``'s backward error on
    them is ``O(n ε ‖G̃‖)``: rounding-level eigenvalues of a rank-deficient ``G̃`` sit below this
    threshold, genuine ones of a network metric (relative size ≥ 1e-10 on the demo) far above.

    Examples
    --------
    >>> bool(default_rank_rtol(1000) < 1e-12)
    True
    """
    return max(int(n), 1) * np.finfo(np.float64).eps


@dataclasses.dataclass(frozen=True)
class DenseEig:
    """Result of :func:`dense_eigh`.

    Attributes
    ----------
    eigenvalues : ndarray, shape (r,)
        Ascending eigenvalues of ``G⁺H`` on the range of ``G`` (``r = d − kernel_dim``).
    eigenvectors : ndarray, shape (d, r)
        ``G``-orthonormal eigenvectors (in the range of ``G``).
    kernel_dim : int
        Dimension of the kernel of ``G`` (decided on the equilibrated metric).
    kernel_basis : ndarray, shape (d, kernel_dim)
        Orthonormal basis of that kernel.
    hessian_kernel_norm : float
        ``‖H U_k‖_F`` (0 when ``G`` is regular).
    rank_rtol : float
        The threshold used (relative to the top eigenvalue of the equilibrated metric).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    kernel_dim: int
    kernel_basis: np.ndarray
    hessian_kernel_norm: float
    rank_rtol: float = 0.0


def _as_dense(X, name, max_dense_dim):
    if hasattr(X, "as_matrix") and not isinstance(X, np.ndarray):
        X = X.as_matrix(max_dense_dim=max_dense_dim)
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != X.shape[1]:
        raise ShapeError(f"{name} must be a square matrix, got shape {X.shape}.")
    check_dense_size(X.shape[0], max_dense_dim, f"dense_eigh ({name})")
    if not np.all(np.isfinite(X)):
        raise NonFiniteError(f"{name} contains NaN or inf.")
    return X


def _symmetric(X, name, rtol):
    scale = max(np.abs(X).max(), np.finfo(float).tiny)
    asym = np.abs(X - X.T).max() / scale
    if asym > rtol:
        raise ArithmeticError(
            f"{name} is not symmetric (relative asymmetry {asym:.2g} > {rtol:g}); is the metric "
            "smooth and symmetric, and the loss twice differentiable?"
        )
    return 0.5 * (X + X.T)


def _not_psd(detail):
    return NotPositiveDefiniteError(f"the metric G is not positive semi-definite: {detail}.")


def equilibrated_range(G, rank_rtol=None):
    """``(V, K)`` for a dense PSD ``G``: ``G``-orthonormal range basis and orthonormal kernel basis.

    The rank is decided on ``G̃ = S G S`` (``S = diag(G)^{-1/2}``), so it is the same in every
    chart that differs by a diagonal scaling. ``Vᵀ G V = I`` (``(d, r)``), ``K`` is ``(d, d − r)``.

    Parameters
    ----------
    G : ndarray, shape (d, d)
        Symmetric positive semi-definite, float64.
    rank_rtol : float, optional
        Eigenvalues of ``G̃`` at most ``rank_rtol · max`` are kernel (default
        :func:`default_rank_rtol` of the number of non-zero diagonal entries).

    Returns
    -------
    V : ndarray, shape (d, r)
    K : ndarray, shape (d, d - r)
    rank_rtol : float

    Raises
    ------
    NotPositiveDefiniteError
        A negative diagonal entry, a zero diagonal entry with a non-zero row, or an eigenvalue of
        ``G̃`` below ``−rank_rtol · max``.

    Examples
    --------
    >>> import numpy as np
    >>> G = np.array([[1e6, 1e3, 0.0], [1e3, 1.0, 0.0], [0.0, 0.0, 0.0]])     # rank 1
    >>> V, K, _ = equilibrated_range(G)
    >>> V.shape, K.shape, bool(np.allclose(V.T @ G @ V, 1.0)), bool(np.abs(G @ K).max() < 1e-9)
    ((3, 1), (3, 2), True, True)
    """
    d = G.shape[0]
    dg = np.diag(G).copy()
    scale = max(np.abs(G).max(), np.finfo(float).tiny)
    if dg.min() < -np.finfo(float).eps * d * scale:
        raise _not_psd(f"negative diagonal entry {dg.min():.3g}")
    live = dg > 0
    dead = np.flatnonzero(~live)
    if dead.size and np.abs(G[dead]).max() > 0:
        raise _not_psd("a zero diagonal entry with a non-zero off-diagonal entry in its row")
    s = 1.0 / np.sqrt(dg[live])
    n = int(live.sum())
    rtol = default_rank_rtol(n) if rank_rtol is None else float(rank_rtol)
    if n == 0:
        return np.zeros((d, 0)), np.eye(d), rtol
    mu, U = np.linalg.eigh(G[np.ix_(live, live)] * s[:, None] * s[None, :])
    top = mu[-1]
    if top <= 0 or mu[0] < -rtol * top:
        raise _not_psd(f"eigenvalues of the equilibrated metric in [{mu[0]:.3g}, {top:.3g}]")
    keep = mu > rtol * top
    V = np.zeros((d, int(keep.sum())))
    V[live] = (U[:, keep] * s[:, None]) / np.sqrt(mu[keep])
    K = np.zeros((d, n - int(keep.sum()) + dead.size))
    nk = n - int(keep.sum())
    K[np.flatnonzero(live)[:, None], np.arange(nk)[None, :]] = U[:, ~keep] * s[:, None]
    K[dead, nk + np.arange(dead.size)] = 1.0
    if K.shape[1]:
        K = np.linalg.qr(K)[0]
    return V, K, rtol


def dense_eigh(H, G=None, *, rank_rtol=None, symmetry_rtol=SYMMETRY_RTOL, max_dense_dim=None,
               complement="orthogonal"):
    """All eigenpairs of ``H v = λ G v`` in float64 (``G = I`` by default).

    Parameters
    ----------
    H : ndarray or object with ``as_matrix``, shape (d, d)
        Symmetric.
    G : ndarray or object with ``as_matrix``, optional
        Symmetric positive semi-definite.
    rank_rtol : float, optional
        Kernel threshold relative to the top eigenvalue of the Jacobi-equilibrated ``G``
        (default :func:`default_rank_rtol`, ``n·ε``); see :func:`equilibrated_range`.
    symmetry_rtol : float
        Reject ``H`` or ``G`` with a larger relative asymmetry (``ArithmeticError``).
    max_dense_dim : int, optional
        Refuse (``DenseSizeError``) above this dimension.
    complement : {"orthogonal", "equilibrated"}
        Where a singular problem is solved (see :func:`eigh_on_range`): on ``range G`` (the
        Moore–Penrose ``G⁺H``, as the matrix-free engine's orthogonal projector does) or on
        ``S²·range G``. The two agree when ``H`` vanishes on the kernel.

    Returns
    -------
    DenseEig

    Raises
    ------
    NotPositiveDefiniteError
        If ``G`` is not positive semi-definite (see :func:`equilibrated_range`).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import dense_eigh
    >>> H = np.diag([2.0, 6.0, 5.0])
    >>> dense_eigh(H, np.diag([1.0, 2.0, 1.0])).eigenvalues.round(12).tolist()
    [2.0, 3.0, 5.0]
    >>> res = dense_eigh(H, np.diag([1.0, 2.0, 0.0]))       # singular metric: solved on its range
    >>> res.eigenvalues.round(12).tolist(), res.kernel_dim, res.hessian_kernel_norm
    ([2.0, 3.0], 1, 5.0)
    >>> L = np.diag([1e-4, 1.0, 1e4])                        # a diagonal change of chart: same answer
    >>> dense_eigh(L @ H @ L, L @ np.diag([1.0, 2.0, 0.0]) @ L).eigenvalues.round(12).tolist()
    [2.0, 3.0]
    """
    H = _symmetric(_as_dense(H, "H", max_dense_dim), "the Hessian H", symmetry_rtol)
    d = H.shape[0]
    if G is None:
        lam, V = np.linalg.eigh(H)
        return DenseEig(lam, V, 0, np.zeros((d, 0)), 0.0)
    G = _symmetric(_as_dense(G, "G", max_dense_dim), "the metric G", symmetry_rtol)
    if G.shape != H.shape:
        raise ShapeError(f"G has shape {G.shape} but H has shape {H.shape}.")
    return eigh_on_range(H, *equilibrated_range(G, rank_rtol), complement=complement)


def eigh_on_range(H, V, K, rank_rtol=0.0, *, complement="orthogonal"):
    """:class:`DenseEig` of ``H`` on the range basis ``V`` (``Vᵀ G V = I``) with kernel basis ``K``.

    The second half of :func:`dense_eigh`, for callers that need ``(V, K)`` first (e.g. the
    natural gradient ``V Vᵀ ∇L``). ``H`` is a symmetric float64 ``(d, d)``. When ``H`` has a
    component on the kernel (``‖H K‖ ≠ 0``) the eigenvalues depend on the complement of the kernel
    the problem is restricted to: ``"orthogonal"`` uses ``range G = ker(G)^⊥`` (basis
    ``(I − K Kᵀ) V``, still ``G``-orthonormal since ``G K = 0``: the Moore–Penrose ``G⁺H``);
    ``"equilibrated"`` uses ``span V = S²·range G`` (``S = diag(G)^{-1/2}``), which transforms like
    a vector under diagonal changes of chart, so the eigenvalues stay invariant under rescalings
    even then (what :func:`rgeom.flatness.flatness` uses).

    Examples
    --------
    >>> import numpy as np
    >>> V, K, _ = equilibrated_range(np.diag([4.0, 0.0]))
    >>> res = eigh_on_range(np.array([[8.0, 1.0], [1.0, 3.0]]), V, K)
    >>> res.eigenvalues.tolist(), res.kernel_dim, res.hessian_kernel_norm
    ([2.0], 1, 3.1622776601683795)
    """
    if complement not in ("orthogonal", "equilibrated"):
        raise ValueError(f"complement must be 'orthogonal' or 'equilibrated', got {complement!r}.")
    if complement == "orthogonal" and K.shape[1]:
        V = V - K @ (K.T @ V)
    A = V.T @ H @ V
    lam, Y = np.linalg.eigh(0.5 * (A + A.T))
    hk = float(np.linalg.norm(H @ K)) if K.shape[1] else 0.0
    return DenseEig(lam, V @ Y, K.shape[1], K, hk, rank_rtol)
