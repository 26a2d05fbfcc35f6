"""Newton's method with the naive Hessian, and Riemannian Newton with the Christoffel term.

``θ̇ = −(∂²L)⁻¹ ∇L`` is natural under affine maps only: off critical points the naive Hessian
picks up ``Σₖ ∂ₖL ∂²θᵏ/∂ψ∂ψ`` under a nonlinear map (it is not a tensor). The Riemannian
Hessian ``Hess L = ∂²L − Γᵏ ∂ₖL`` is a (0,2) tensor at every point, so Riemannian Newton,
``θ̇ = −(Hess L)⁻¹ ∇L``, is natural for any metric pulled back along the map. Both use dense
``d × d`` Hessians (small problems).

The dense correction ``C_ij = Γᵏᵢⱼ ∂ₖL`` is assembled from the Levi-Civita formula with
``w = G⁻¹∇L`` and ``h(θ) = G(θ) w`` (``w`` held fixed): ``C = ½ (Dhᵀ + Dh − D_w G)``, one Jacobian
of ``h`` and one directional derivative of ``θ ↦ G(θ)``, instead of ``d`` matrix-free
contractions (:func:`rgeom.metrics.hessian_correction`, which the tests compare it with).
"""

import dataclasses
from typing import ClassVar

from ...backend import get_backend
from ...metrics.base import Metric
from ._metric import check_damping, check_metric, pulled_back, resolve
from .base import Component, Optimizer

__all__ = ["Newton", "RiemannianNewton", "christoffel_gradient_matrix"]


def christoffel_gradient_matrix(metric, theta, grad, bk):
    """Dense ``C[i, j] = Γᵏᵢⱼ ∂ₖL`` for ``grad = ∇L(θ)``, shape ``(d, d)`` (zero for constant metrics).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.backend import get_backend
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar())
    >>> psi, grad = np.array([2.0, 0.3]), np.array([1.0, 0.5])
    >>> C = christoffel_gradient_matrix(G, psi, grad, get_backend("autograd"))
    >>> ref = [rgeom.metrics.hessian_correction(G, psi, grad, e) for e in np.eye(2)]
    >>> np.allclose(C, np.stack(ref, 1), atol=1e-12)
    True
    """
    if metric.constant:
        return bk.xp.zeros((theta.shape[0], theta.shape[0]), dtype=theta.dtype)
    w = metric.at(theta).solve(grad)
    Dh = bk.jacobian(lambda t: metric.matvec(t, w), theta)
    DwG = bk.jvp(metric.matrix, theta, w)[1]
    return 0.5 * (Dh.T + Dh - DwG)


def _newton_step(H, grad, damping, theta, xp):
    if damping:
        H = H + damping * xp.eye(theta.shape[0], dtype=theta.dtype)
    return xp.linalg.solve(H, grad)


@dataclasses.dataclass(frozen=True, repr=False)
class Newton(Optimizer):
    """Newton flow with the naive Hessian: ``θ̇ = −(∂²L + λI)⁻¹ ∇L`` (dense).

    Parameters
    ----------
    damping : float
        ``λ >= 0`` added in the chart at hand (chart-dependent).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import Newton
    >>> f = Newton().field(lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2)
    >>> f(0.0, (np.array([1.0, 1.0]),))[0].tolist()           # straight to the minimum
    [-1.0, -1.0]
    """

    damping: float = 0.0
    name: ClassVar[str] = "newton"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        check_damping(self.damping, type(self).__name__)

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            return (-_newton_step(bk.hessian(loss, theta), bk.grad(loss, theta), self.damping, theta, bk.xp),)

        return f


@dataclasses.dataclass(frozen=True, repr=False)
class RiemannianNewton(Optimizer):
    """Riemannian Newton flow: ``θ̇ = −(∂²L − Γᵏ∂ₖL + λI)⁻¹ ∇L`` for a metric (dense).

    Parameters
    ----------
    metric : Metric or None
        Whose Levi-Civita connection defines the Hessian; ``None`` is the chart's Euclidean
        metric (then this is :class:`Newton` in that chart, and natural in any other).
    damping : float

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.flows.optimizers import RiemannianNewton
    >>> polar = rgeom.maps.Polar()
    >>> L = rgeom.pullback(lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2, polar)
    >>> opt = RiemannianNewton().pullback(polar, dim=2)
    >>> psi = polar.inverse(np.array([1.0, 1.0]))
    >>> u = opt.field(L)(0.0, (psi,))[0]                      # a vector: J u is θ's Newton step
    >>> polar.jvp(psi, u).round(12).tolist()
    [-1.0, -1.0]
    """

    metric: Metric = None
    damping: float = 0.0
    name: ClassVar[str] = "riemannian_newton"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        check_metric(self.metric, type(self).__name__)
        check_damping(self.damping, type(self).__name__)

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            metric = resolve(self.metric, theta)
            grad = bk.grad(loss, theta)
            H = bk.hessian(loss, theta) - christoffel_gradient_matrix(metric, theta, grad, bk)
            return (-_newton_step(H, grad, self.damping, theta, bk.xp),)

        return f

    def pullback(self, g, *, dim=None):
        return dataclasses.replace(self, metric=pulled_back(self.metric, g, dim, type(self).__name__))
