"""Dense reference for ``H v = λ G v`` (small ``d``), with singular metrics handled on their range.

``scipy.linalg.eigh(H, G)`` when ``G`` is positive definite. When ``G`` is only semi-definite
(a Fisher / GGN / K-FAC metric along network symmetries) the problem is restricted to the range
of ``G``: with ``G = U diag(s) Uᵀ`` and ``U_r`` the eigenvectors with ``s > rank_rtol · max s``,
the eigenvalues are those of ``(U_rᵀ H U_r, diag(s_r))`` — the pseudo-inverse ``G⁺ H`` on the
range. The kernel dimension and ``‖H U_k‖_F`` (the Hessian's component on the kernel, zero at a
critical point of a loss invariant along the kernel) are reported.
"""

import dataclasses

import numpy as np
import scipy.linalg

from .._checks import check_dense_size
from ..errors import NonFiniteError, NotPositiveDefiniteError, ShapeError

__all__ = ["dense_eigh", "DenseEig", "RANK_RTOL", "SYMMETRY_RTOL"]

#: Metric eigenvalues below ``RANK_RTOL × max eigenvalue`` count as kernel. In float64 the
#: eigenvalues of a rank-deficient ``G`` computed by ``eigh`` are ~``d ε ‖G‖`` ≈ 1e-13 for d ~ 1000;
#: genuine curvature of trained networks spans up to ~1e8, leaving room on both sides.
RANK_RTOL = 1e-10
#: Relative asymmetry ``max|H − Hᵀ| / max|H|`` above which the Hessian is rejected.
SYMMETRY_RTOL = 1e-6


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
        Dimension of the kernel of ``G`` found with :data:`RANK_RTOL`.
    kernel_basis : ndarray, shape (d, kernel_dim)
        Orthonormal basis of that kernel.
    hessian_kernel_norm : float
        ``‖H U_k‖_F`` (0 when ``G`` is regular).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    kernel_dim: int
    kernel_basis: np.ndarray
    hessian_kernel_norm: float


def _as_dense(X, name, max_dense_dim):
    if hasattr(X, "as_matrix") and not isinstance(X, np.ndarray):
        X = X.as_matrix(max_dense_dim=max_dense_dim)
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


def dense_eigh(H, G=None, *, rank_rtol=RANK_RTOL, symmetry_rtol=SYMMETRY_RTOL, max_dense_dim=None):
    """All eigenpairs of ``H v = λ G v`` in float64 (``G = I`` by default).

    Parameters
    ----------
    H : ndarray or object with ``as_matrix``, shape (d, d)
        Symmetric.
    G : ndarray or object with ``as_matrix``, optional
        Symmetric positive semi-definite.
    rank_rtol : float
        Relative threshold for the kernel of ``G`` (see :data:`RANK_RTOL`).
    symmetry_rtol : float
        Reject ``H`` or ``G`` with a larger relative asymmetry (``ArithmeticError``).
    max_dense_dim : int, optional
        Refuse (``DenseSizeError``) above this dimension.

    Returns
    -------
    DenseEig

    Raises
    ------
    NotPositiveDefiniteError
        If ``G`` has an eigenvalue below ``−rank_rtol × max eigenvalue``.

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
    """
    H = _symmetric(_as_dense(H, "H", max_dense_dim), "the Hessian H", symmetry_rtol)
    d = H.shape[0]
    if G is None:
        lam, V = np.linalg.eigh(H)
        return DenseEig(lam, V, 0, np.zeros((d, 0)), 0.0)
    G = _symmetric(_as_dense(G, "G", max_dense_dim), "the metric G", symmetry_rtol)
    if G.shape != H.shape:
        raise ShapeError(f"G has shape {G.shape} but H has shape {H.shape}.")
    s, U = np.linalg.eigh(G)
    top = max(s[-1], 0.0)
    if top == 0.0 or s[0] < -rank_rtol * top:
        raise NotPositiveDefiniteError(
            f"the metric G is not positive semi-definite: eigenvalues in [{s[0]:.3g}, {s[-1]:.3g}]."
        )
    kernel = s <= rank_rtol * top
    r = int(kernel.sum())
    if r == 0:
        lam, V = scipy.linalg.eigh(H, G)
        return DenseEig(lam, V, 0, np.zeros((d, 0)), 0.0)
    Ur, Uk = U[:, ~kernel], U[:, kernel]
    lam, Y = scipy.linalg.eigh(Ur.T @ H @ Ur, np.diag(s[~kernel]))
    return DenseEig(lam, Ur @ Y, r, Uk, float(np.linalg.norm(H @ Uk)))
