"""Conjugate gradients for symmetric positive (semi)definite systems, with a status.

Used by the engine when a metric has no exact solve. A solve that stops early says so
(:attr:`CGResult.converged`), and a direction of negative curvature raises
:class:`~rgeom.errors.NotPositiveDefiniteError`: an indefinite "metric" is bad input, not a
number to return.
"""

import dataclasses

import numpy as np

from ..errors import NonFiniteError, NotPositiveDefiniteError
from ._kernels import dot, norm
from .operators import aslinearoperator

__all__ = ["CGResult", "cg", "cg_pinv", "NEGATIVE_CURVATURE_RTOL"]

#: ``pᵀAp / pᵀp`` below ``-NEGATIVE_CURVATURE_RTOL × (largest Rayleigh quotient seen)`` means the
#: operator is indefinite. Rounding errors in ``pᵀAp`` for a PSD operator are ~``1e-16 × ‖A‖``; the
#: threshold leaves six orders of magnitude of room.
NEGATIVE_CURVATURE_RTOL = 1e-10


@dataclasses.dataclass(frozen=True)
class CGResult:
    """Result of :func:`cg`.

    Attributes
    ----------
    x : ndarray, shape (d,)
        The approximate solution (the last iterate when not converged).
    converged : bool
        ``‖b − A x‖ ≤ max(rtol ‖b‖, atol)``.
    n_iter : int
        Iterations = products with ``A``.
    residual_norm : float
        Final ``‖b − A x‖₂`` (recursively updated).
    message : str
        Why it stopped when not converged.
    """

    x: np.ndarray
    converged: bool
    n_iter: int
    residual_norm: float
    message: str = ""


def cg(A, b, *, x0=None, rtol=1e-10, atol=0.0, max_iter=None, preconditioner=None, name="metric"):
    """Solve ``A x = b`` for symmetric positive definite ``A`` by conjugate gradients.

    For a positive semi-definite ``A`` and ``b`` in its range, starting from ``x0 = 0`` the
    iterates stay in the range and converge to the minimum-norm solution ``A⁺ b``.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
    b : ndarray, shape (d,)
    x0 : ndarray, optional
        Initial guess (warm start).
    rtol, atol : float
        Stop when ``‖r‖ ≤ max(rtol ‖b‖, atol)``.
    max_iter : int, optional
        Default ``min(2 d, 1000) `` (at least 10).
    preconditioner : callable, optional
        ``r ↦ P⁻¹ r`` with ``P`` symmetric positive definite (e.g. a K-FAC solve).
    name : str
        Names the operator in error messages.

    Returns
    -------
    CGResult

    Raises
    ------
    NotPositiveDefiniteError
        When a search direction has negative curvature (``A`` is indefinite).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import cg
    >>> res = cg(np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0]))
    >>> res.converged, res.x.round(12).tolist()
    (True, [0.090909090909, 0.636363636364])
    """
    A = aslinearoperator(A)
    b = np.asarray(b, dtype=np.float64)
    d = A.dim
    if max_iter is None:
        max_iter = max(10, min(2 * d, 1000))
    bnorm = norm(b)
    if not np.isfinite(bnorm):
        raise NonFiniteError("cg: the right-hand side b contains NaN or inf.")
    target = max(rtol * bnorm, atol)
    x = np.zeros(d) if x0 is None else np.array(x0, dtype=np.float64)
    r = b - A.mv(x) if x0 is not None else b.copy()
    n_iter = 1 if x0 is not None else 0
    if bnorm == 0.0:
        return CGResult(np.zeros(d), True, n_iter, 0.0)
    z = preconditioner(r) if preconditioner else r
    p = z.copy()
    rz = dot(r, z)
    rnorm = norm(r)
    kappa_max = 0.0
    message = f"reached max_iter={max_iter} with ‖r‖/‖b‖ = {{:.3g}} > rtol={rtol:g}"
    for _ in range(max_iter):
        if rnorm <= target:
            return CGResult(x, True, n_iter, rnorm)
        Ap = A.mv(p)
        n_iter += 1
        pAp, pp = dot(p, Ap), dot(p, p)
        if not np.isfinite(pAp):
            raise NonFiniteError(f"cg: {name} produced a non-finite product.")
        kappa = pAp / pp
        kappa_max = max(kappa_max, kappa)
        if kappa < -NEGATIVE_CURVATURE_RTOL * max(kappa_max, abs(kappa)):
            raise NotPositiveDefiniteError(
                f"{name} is not positive definite: conjugate gradients found a direction with "
                f"pᵀAp / pᵀp = {kappa:.3g} < 0."
            )
        if kappa <= np.finfo(float).eps * kappa_max:
            message = (
                "zero curvature along the search direction: the operator is singular "
                "and b is not in its range (‖r‖/‖b‖ = {:.3g})"
            )
            break
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        z = preconditioner(r) if preconditioner else r
        rz_new = dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
        rnorm = norm(r)
    if rnorm <= target:
        return CGResult(x, True, n_iter, rnorm)
    return CGResult(x, False, n_iter, rnorm, message.format(rnorm / bnorm))


def cg_pinv(A, b, *, rtol=1e-10, max_iter=None, name="metric"):
    """Minimum-norm least-squares solution ``A⁺ b`` of a singular symmetric PSD system.

    Conjugate gradients on the consistent normal equations ``A² x = A b`` from ``x0 = 0``: the
    Krylov space ``span{A b, A³ b, ...}`` lies in the range of ``A``, so the limit is ``A⁺ b``
    even when ``b`` has a component in the kernel (no projector needed). Two products with ``A``
    per iteration; convergence governed by ``cond(A)²`` on the range — use it for small or
    well-conditioned problems, damping or a metric with a known kernel otherwise.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
    b : ndarray, shape (d,)
    rtol : float
        Stop when ``‖A b − A² x‖ ≤ rtol ‖A b‖``.
    max_iter : int, optional
        As in :func:`cg`.

    Returns
    -------
    CGResult
        ``n_iter`` counts products with ``A``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import cg_pinv
    >>> A = np.diag([2.0, 4.0, 0.0])
    >>> cg_pinv(A, np.array([1.0, 1.0, 5.0])).x.round(12).tolist()   # kernel part of b dropped
    [0.5, 0.25, 0.0]
    """
    A = aslinearoperator(A)
    Ab = A.mv(np.asarray(b, dtype=np.float64))
    from .operators import LinearOperator

    A2 = LinearOperator(lambda x: A.mv(A.mv(x)), A.dim, name=f"{name}²")
    res = cg(A2, Ab, rtol=rtol, max_iter=max_iter, name=name)
    return dataclasses.replace(res, n_iter=2 * res.n_iter + 1)
