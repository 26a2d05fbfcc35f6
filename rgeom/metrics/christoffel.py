"""Levi-Civita Christoffel symbols, matrix-free and (for small d) dense.

Conventions (``design.md`` §1): ``Γᵏᵢⱼ = ½ Gᵏˡ (∂ᵢ Gₗⱼ + ∂ⱼ Gₗᵢ − ∂ₗ Gᵢⱼ)``. The contractions
below never form a d×d×d array: ``D_u G`` is one JVP of ``θ ↦ G(θ) x`` and ``∇θ⟨a, G(θ) b⟩``
one gradient.
"""

import numpy as np

from .._checks import check_dense_size, check_vector
from ..backend import get_backend


def _dG(metric, theta, direction, x, bk):
    """``(D_direction G) x``: directional derivative of ``θ ↦ G(θ) x``."""
    return bk.jvp(lambda t: metric.matvec(t, x), theta, direction)[1]


def _grad_inner(metric, theta, a, b, bk):
    """``∇θ ⟨a, G(θ) b⟩`` with ``a, b`` held fixed."""
    return bk.grad(lambda t: bk.xp.sum(a * metric.matvec(t, b)), theta)


def christoffel_contract(metric, theta, u, v):
    """``Γ(u, v)ᵏ = Γᵏᵢⱼ uⁱ vʲ``, a vector of shape ``(d,)``, matrix-free.

    ``Γ(u, v) = ½ G⁻¹ [ (D_u G) v + (D_v G) u − ∇θ⟨u, G(θ) v⟩ ]``. Geodesics solve
    ``θ̈ = −Γ(θ̇, θ̇)``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar())
    >>> e_phi = np.array([0.0, 1.0])
    >>> rgeom.metrics.christoffel_contract(G, np.array([2.0, 0.0]), e_phi, e_phi).round(12).tolist()
    [-2.0, 0.0]
    """
    bk = get_backend(metric.backend, theta, u, v)
    if metric.constant:
        return bk.xp.zeros_like(u)
    if hasattr(metric, "christoffels"):  # dense symbols supplied by the metric (geomstats bridge)
        return bk.xp.einsum("kij,i,j->k", metric.christoffels(theta), u, v)
    rhs = _dG(metric, theta, u, v, bk) + _dG(metric, theta, v, u, bk) - _grad_inner(metric, theta, u, v, bk)
    return 0.5 * metric.at(theta).solve(rhs)


def hessian_correction(metric, theta, grad, v):
    """``(Γᵏᵢⱼ ∂ₖL) vʲ`` as a covector of shape ``(d,)``, for ``grad = ∇L(θ)``; matrix-free.

    With ``w = G⁻¹ ∇L``: ``½ [ ∇θ⟨w, G(θ) v⟩ + (D_v G) w − (D_w G) v ]``. The Riemannian Hessian
    applied to ``v`` is ``∇²L v`` minus this.
    """
    bk = get_backend(metric.backend, theta, grad, v)
    if metric.constant:
        return bk.xp.zeros_like(v)
    if hasattr(metric, "christoffels"):
        return bk.xp.einsum("kij,k,j->i", metric.christoffels(theta), grad, v)
    w = metric.at(theta).solve(grad)
    return 0.5 * (_grad_inner(metric, theta, w, v, bk) + _dG(metric, theta, v, w, bk) - _dG(metric, theta, w, v, bk))


def christoffel(metric, theta, *, max_dense_dim=64):
    """The dense array ``Γ[k, i, j] = Γᵏᵢⱼ`` at ``theta``, shape ``(d, d, d)`` (small ``d``).

    Built from the dense Jacobian of ``θ ↦ G(θ)``; an independent route from
    :func:`christoffel_contract`, and the form geomstats uses.

    Parameters
    ----------
    metric : Metric
    theta : array, shape (d,)
    max_dense_dim : int
        Refuse (``DenseSizeError``) above this dimension; the array has ``d³`` entries.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> half_plane = rgeom.metrics.Dense(lambda th: np.eye(2) / th[1] ** 2)
    >>> Gam = rgeom.christoffel(half_plane, np.array([0.0, 2.0]))
    >>> float(Gam[1, 1, 1]), float(Gam[0, 0, 1]), float(Gam[1, 0, 0])    # -1/y, -1/y, 1/y
    (-0.5, -0.5, 0.5)
    """
    theta = check_vector(theta, "theta", metric.dim)
    d = theta.shape[0]
    check_dense_size(d, max_dense_dim, "christoffel")
    bk = get_backend(metric.backend, theta)
    xp = bk.xp
    if metric.constant:
        return xp.zeros((d, d, d), dtype=theta.dtype)
    if hasattr(metric, "christoffels"):
        return metric.christoffels(theta)
    dG = bk.jacobian(metric.matrix, theta)  # dG[l, j, i] = ∂ᵢ Gₗⱼ
    ginv = xp.linalg.inv(metric.at(theta).as_matrix())
    # Γₗᵢⱼ (first kind) = ½ (∂ᵢ Gₗⱼ + ∂ⱼ Gₗᵢ − ∂ₗ Gᵢⱼ)
    first_kind = 0.5 * (xp.einsum("lji->lij", dG) + dG - xp.einsum("ijl->lij", dG))
    return xp.einsum("kl,lij->kij", ginv, first_kind)


def hessian_correction_matrix(metric, theta, grad, *, w=None, max_dense_dim=None):
    """The dense matrix ``C`` with ``C v = (Γᵏᵢⱼ ∂ₖL) vʲ`` (see :func:`hessian_correction`), ``(d, d)``.

    With ``w = G⁻¹ ∇L`` (or the pseudo-inverse ``G⁺∇L`` of a singular metric, passed as ``w``):
    ``C = ½ (J + Jᵀ − D_w G)``, where ``J = ∂(G(θ) w)/∂θ`` is the Jacobian of ``θ ↦ G(θ) w`` and
    ``D_w G`` the derivative of ``θ ↦ G(θ)`` along ``w``. Both come from one batched Jacobian each
    (``jacfwd`` under torch and JAX: vectorised forward-mode products, not ``d`` separate calls);
    ``θ ↦ G(θ) u`` must be differentiable on the backend (true of every rgeom metric whose
    ``matvec`` is written in backend operations). The Riemannian Hessian is ``∂²L − C``.

    Parameters
    ----------
    metric : Metric
    theta : array, shape (d,)
    grad : array, shape (d,)
        ``∇L(θ)``.
    w : array, shape (d,), optional
        ``G⁻¹ ∇L`` if already known (default ``metric.at(theta).solve(grad)``).
    max_dense_dim : int, optional
        Refuse (``DenseSizeError``) above this dimension.

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric, float64 NumPy.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.metrics.christoffel import hessian_correction, hessian_correction_matrix
    >>> G = rgeom.metrics.Dense(lambda th: np.array([[1 + th[0] ** 2, th[1]], [th[1], 2.0 + th[0]]]))
    >>> th, g = np.array([0.3, 0.2]), np.array([1.0, -2.0])
    >>> C = hessian_correction_matrix(G, th, g)
    >>> bool(np.allclose(C @ [0.0, 1.0], hessian_correction(G, th, g, np.array([0.0, 1.0])), atol=1e-14))
    True
    """
    theta = check_vector(theta, "theta", metric.dim)
    d = theta.shape[0]
    check_dense_size(d, max_dense_dim, "hessian_correction_matrix")
    bk = get_backend(metric.backend, theta, grad)
    to_np = lambda x: np.asarray(bk.to_numpy(x), dtype=np.float64).reshape(d, d)  # noqa: E731
    if metric.constant:
        return np.zeros((d, d))
    if hasattr(metric, "christoffels"):
        return _sym(to_np(bk.xp.einsum("kij,k->ij", metric.christoffels(theta), grad)))
    if w is None:
        w = metric.at(theta).solve(grad)
    w = bk.asarray(w)
    try:
        J = to_np(bk.jacobian(lambda t: metric.matvec(t, w), theta))
        M = to_np(bk.jacobian(lambda u: bk.jvp(lambda t: metric.matvec(t, u), theta, w)[1], bk.xp.zeros_like(theta)))
    except Exception as e:  # a matvec that autodiff cannot trace through
        raise NotImplementedError(
            f"Christoffel term: θ ↦ G(θ)u of {metric!r} is not differentiable on the {bk.name} "
            f"backend ({type(e).__name__}: {e}); use christoffel=False (then the natural-gradient "
            "norm bounds what is dropped)."
        ) from e
    return 0.5 * (J + J.T - _sym(M))


def _sym(A):
    return 0.5 * (A + A.T)
