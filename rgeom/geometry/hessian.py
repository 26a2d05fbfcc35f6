"""Gradients, natural gradients, the Riemannian Hessian and the shape operator."""

from .._checks import check_vector
from ..backend import get_backend
from ..metrics.base import Metric
from ..metrics.christoffel import hessian_correction
from ..metrics.simple import Euclidean
from .tensors import BilinearForm, Covector, Operator, Vector


def _resolve(metric, theta, backend):
    """Validate the point, default the metric to the chart's Euclidean one, pick the backend.

    An explicit ``backend`` converts ``theta`` (e.g. a NumPy array for a torch loss).
    """
    theta = check_vector(theta, "theta", getattr(metric, "dim", None))
    if metric is None:
        metric = Euclidean(theta.shape[0])
    elif not isinstance(metric, Metric):
        raise TypeError(f"metric must be None or an rgeom Metric, got {type(metric).__name__}.")
    bk = get_backend(backend, theta)
    return metric, bk.asarray(theta), bk


def gradient(loss, theta, *, backend=None):
    """The differential ``dL`` at ``theta`` as a :class:`Covector` (components ``∂L/∂θ``).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> rgeom.gradient(lambda th: (th ** 2).sum(), np.array([1.0, 2.0])).numpy().tolist()
    [2.0, 4.0]
    """
    theta = check_vector(theta, "theta")
    bk = get_backend(backend, theta)
    theta = bk.asarray(theta)
    return Covector(theta, bk.grad(loss, theta))


def sharp(metric, covector):
    """Raise an index: the :class:`Vector` ``G⁻¹ w`` at the covector's point."""
    if not isinstance(covector, Covector):
        raise TypeError(f"sharp expects a Covector, got {type(covector).__name__}.")
    return Vector(covector.point, metric.at(covector.point).solve(covector.components))


def flat(metric, vector):
    """Lower an index: the :class:`Covector` ``G v`` at the vector's point."""
    if not isinstance(vector, Vector):
        raise TypeError(f"flat expects a Vector, got {type(vector).__name__}.")
    return Covector(vector.point, metric.at(vector.point).mv(vector.components))


def natural_gradient(loss, metric, theta, *, backend=None):
    """The Riemannian gradient ``G⁻¹ ∇L`` at ``theta`` as a :class:`Vector`.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> G = rgeom.metrics.Diagonal(lambda th: 2.0 + 0.0 * th)
    >>> rgeom.natural_gradient(lambda th: (th ** 2).sum(), G, np.array([1.0, 2.0])).numpy().tolist()
    [1.0, 2.0]
    """
    return sharp(metric, gradient(loss, theta, backend=backend))


def riemannian_hessian(loss, metric, theta, *, christoffel=True, backend=None):
    """The Riemannian (covariant) Hessian ``Hess L = ∂²L − Γᵏ ∂ₖL`` at ``theta``.

    A (0,2) tensor at every point, critical or not: under ``θ = g(ψ)`` it transforms as
    ``Jᵀ Hess J``. Matrix-free: each ``mv`` costs one Hessian-vector product plus, for a
    non-constant metric, one solve, two JVPs and one gradient of ``θ ↦ G(θ)x``.

    Parameters
    ----------
    loss : callable
        ``θ (d,) -> scalar`` on the backend of ``theta``.
    metric : Metric or None
        ``None`` is the chart's Euclidean metric (then this is the naive Hessian ``∂²L``).
    theta : array, shape (d,)
    christoffel : bool
        Keep the Christoffel term (default). ``False`` gives the naive ``∂²L`` whatever the metric.

    Returns
    -------
    BilinearForm
        ``mv(v)`` is ``Hess v`` (shape ``(d,)``); ``as_matrix()`` / ``np.asarray`` the dense
        ``(d, d)`` matrix, in units of loss per squared coordinate.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> polar = rgeom.maps.Polar()
    >>> L = rgeom.pullback(lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2, polar)
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
    >>> psi = np.array([2.0, 0.3])
    >>> H = rgeom.riemannian_hessian(L, G, psi)                 # a tensor: Jᵀ diag(1, 4) J
    >>> J = polar.jacobian(psi)
    >>> np.allclose(np.asarray(H), J.T @ np.diag([1.0, 4.0]) @ J, atol=1e-12)
    True
    """
    metric, theta, bk = _resolve(metric, theta, backend)
    if not christoffel or metric.constant:
        return BilinearForm(theta, lambda v: bk.hvp(loss, theta, v), matrix=lambda: bk.hessian(loss, theta))
    grad = bk.grad(loss, theta)

    def mv(v):
        return bk.hvp(loss, theta, v) - hessian_correction(metric, theta, grad, v)

    return BilinearForm(theta, mv)


def shape_operator(loss, metric, theta, *, christoffel=True, backend=None):
    """The shape operator ``E = G⁻¹ Hess L`` at ``theta``: a (1,1) tensor, chart-independent spectrum.

    Parameters and cost as :func:`riemannian_hessian`, plus one metric solve per ``mv``.

    Returns
    -------
    Operator
        ``mv(v) = G⁻¹ Hess v``; eigenvalues in units of loss per squared metric length.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> E = rgeom.shape_operator(lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2, None, np.ones(2))
    >>> np.asarray(E).tolist()
    [[1.0, 0.0], [0.0, 4.0]]
    """
    metric, theta, bk = _resolve(metric, theta, backend)
    H = riemannian_hessian(loss, metric, theta, christoffel=christoffel, backend=bk)
    G = metric.at(theta)
    return Operator(theta, lambda v: G.solve(H.mv(v)))
