"""The shape operator ``E = G⁻¹ Hess L`` as a pair of engine operators (Hessian, metric).

:func:`shape_problem` builds, once per point, everything the spectral engine needs:

* the Riemannian Hessian ``Hess L = ∂²L − Γᵏ ∂ₖL`` as a matrix-free operator, as lean as the
  metric allows:

  - naive (``metric=None``), a constant metric, or ``christoffel=False``: **one** Hessian-vector
    product per ``mv``;
  - a :class:`~rgeom.metrics.Pullback` metric with a loss pulled back along the same map
    (``rgeom.pullback(loss, g)``): the tensor rule ``Hess_ψ = Jᵀ Hess_θ J`` — one JVP, one VJP of
    ``g`` and the Riemannian Hessian in θ (one HVP for a constant base metric);
  - otherwise: one HVP plus the Christoffel contraction
    ``½ [∇θ⟨w, G(θ)v⟩ + (D_v G) w − (D_w G) v]`` (one gradient and two JVPs of ``θ ↦ G(θ)x``),
    with the gradient and ``w = G⁻¹∇L`` computed **once per point**, not per product.

  Under JAX the product is compiled once with ``jax.jit``.

  When the loss is an :class:`rgeom.models.Problem` (or its bound ``objective``), the Hessian
  products come from :meth:`~rgeom.models.Problem.hessian_operator`, which shares the per-point
  work between products (torch: the gradient's graph; JAX: the compiled linearised gradient) and
  gives trace probes a quadratic form ``vᵀ∂²L v`` cheaper than a product.
* the metric at the point as a :class:`~rgeom.linalg.LinearOperator` (exact solve / whitening /
  kernel information when the metric offers them), optionally damped (``G + δI``);
* the natural-gradient norm ``√(∇Lᵀ G⁻¹ ∇L)`` (zero at a critical point; it bounds the
  Christoffel term that ``christoffel=False`` drops).
"""

import dataclasses

import numpy as np

from .._checks import check_dense_size
from ..geometry.hessian import _resolve
from ..geometry.rules import PulledBackFunction
from ..metrics.christoffel import _dG, _grad_inner
from ..metrics.pullback import Pullback
from ._kernels import dot
from ._result import Estimate, mean_and_stderr
from .cg import cg
from .generalized import Pencil
from .operators import LinearOperator, _backend_converters, damped, from_metric_at

__all__ = ["ShapeProblem", "shape_problem"]


@dataclasses.dataclass
class ShapeProblem:
    """The operators of ``Hess v = λ G v`` at one point (from :func:`shape_problem`).

    Attributes
    ----------
    hessian : LinearOperator
        The Riemannian Hessian (the naive ``∂²L`` when ``metric is None`` or ``christoffel=False``).
    metric : LinearOperator or None
        The metric (``None``: the chart's identity, the naive problem).
    gradient : ndarray, shape (d,)
        ``∇L`` (float64).
    natural_gradient_norm : float
        ``√(∇Lᵀ G⁺ ∇L)`` (the Euclidean norm of ``∇L`` for the naive problem).
    natural_gradient_converged : bool
        Whether the solve behind it converged.
    route : str
        How the Hessian product is computed (see the module docstring).
    christoffel : bool
    damping : float
    dim : int
    dtype, backend, metric_name : str
    """

    hessian: LinearOperator
    metric: object
    gradient: np.ndarray
    natural_gradient_norm: float
    natural_gradient_converged: bool
    route: str
    christoffel: bool
    damping: float
    dim: int
    dtype: str
    backend: str
    metric_name: str
    _dense: object = dataclasses.field(default=None, repr=False)

    @property
    def kernel_dim(self):
        """Kernel dimension of the metric (0 for the naive problem, ``None`` when unknown)."""
        return 0 if self.metric is None else self.metric.kernel_dim

    def dense(self, max_dense_dim=None):
        """Dense ``(H, G)`` float64 matrices (``G`` is ``None`` for the naive problem)."""
        check_dense_size(self.dim, max_dense_dim, "flatness (dense path)")
        return self._dense(max_dense_dim)

    def hessian_kernel_norm(self, *, n_probes=10, seed=0):
        """``‖H P_ker‖_F``: the Hessian's component on the metric's kernel, as an Estimate.

        Exact from ``kernel_dim`` products when the metric gives a kernel basis; otherwise a
        Hutchinson estimate of ``‖H P_ker‖_F² = E‖H P_ker z‖²`` with ``P_ker = I − P``, ``P`` the
        metric's own projector of tangent vectors (``project``) or ``G⁺G`` (exact solve, or
        minimum-norm conjugate gradients whose status the estimate carries) — never the Krylov
        projector of a non-symmetric whitening factor; ``None`` when the kernel is unknown. Zero
        for a regular metric.
        """
        G = self.metric
        if G is None or G.kernel_dim == 0:
            return Estimate(0.0, method="regular metric")
        if G.kernel_dim is None:
            return None
        if G.kernel_basis is not None:
            K = G.kernel_basis
            cols = [self.hessian.mv(K[:, i]) for i in range(K.shape[1])]
            return Estimate(
                float(np.linalg.norm(np.stack(cols))), n_matvecs=len(cols), method="kernel basis"
            )
        pencil = None
        if G.has_project:  # the metric's own projector of tangent vectors
            project = G.project
        else:  # G⁺G z by the Pencil's pseudo-inverse route (exact solve, or minimum-norm CG)
            pencil = Pencil(self.hessian, G, mode="metric")
            project = lambda z: pencil.solve(G.mv(z))  # noqa: E731
        rng = np.random.default_rng(seed)
        sq = []
        for _ in range(n_probes):
            z = rng.integers(0, 2, self.dim) * 2.0 - 1.0
            sq.append(float(np.sum(self.hessian.mv(z - project(z)) ** 2)))
        m, se = mean_and_stderr(sq)
        val = np.sqrt(max(m, 0.0))
        ok, message = (True, "") if pencil is None else pencil.status()
        return Estimate(
            val,
            stderr=se / (2 * val) if val > 0 else se**0.5,
            n_matvecs=n_probes,
            n_probes=n_probes,
            converged=ok,
            message=message,
            method="hutchinson on the kernel projector",
            samples=np.array(sq),
        )


def _solve(G_op, b, cg_rtol):
    """``G⁺ b`` with the cheapest route the operator offers; returns ``(x, converged)``."""
    if G_op is None:
        return b, True
    if G_op.has_solve:
        return G_op.solve(b), True
    if G_op.has_whiten:
        return G_op.whiten(G_op.whiten_t(b)), True
    res = cg(G_op, G_op.project(b), rtol=cg_rtol, name=f"metric {G_op.name}")
    return res.x, res.converged


def _point_hessian(loss, bk):
    """The per-point Hessian factory of a loss that offers one, else ``None``.

    A :class:`~rgeom.models.Problem` (it has ``hessian_operator``) or its bound ``objective``
    qualifies, on the backend of the point.
    """
    owner = loss
    if not callable(getattr(owner, "hessian_operator", None)):
        owner = getattr(loss, "__self__", None)
        func = getattr(loss, "__func__", None)
        if owner is None or func is None or func is not getattr(type(owner), "objective", None):
            return None
        if not callable(getattr(owner, "hessian_operator", None)):
            return None
    if getattr(getattr(owner, "backend", None), "name", None) != bk.name:
        return None
    return owner.hessian_operator


def _lean_hessian_mv(loss, metric, theta, bk, w_solver, hvp=None, grad=None):
    """Backend-level ``v ↦ Hess v`` (Christoffel term kept) and its route name.

    ``w_solver(grad)`` returns ``G⁻¹ grad`` as a backend array (computed once, here); ``hvp`` and
    ``grad`` are the loss's ``∂²L v`` and ``∇L`` at ``theta`` when already at hand.
    """
    if hvp is None:
        hvp = lambda v: bk.hvp(loss, theta, v)  # noqa: E731
    if metric.constant:
        return hvp, "Hessian (constant metric)"
    if (
        isinstance(metric, Pullback)
        and isinstance(loss, PulledBackFunction)
        and loss.map is metric.map
    ):
        g = metric.map
        th = g(theta)
        to_bk, to_np = _backend_converters(bk, th)
        base_op = None if metric.base.constant else from_metric_at(metric.base.at(th))
        inner, route = _lean_hessian_mv(
            loss.fn, metric.base, th, bk, lambda gr: to_bk(_solve(base_op, to_np(gr), 1e-12)[0])
        )
        return (lambda v: g.vjp(theta, inner(g.jvp(theta, v)))), f"pullback Jᵀ [{route}] J"
    w = w_solver(bk.grad(loss, theta) if grad is None else grad)

    def mv(v):
        corr = (
            _grad_inner(metric, theta, w, v, bk)
            + _dG(metric, theta, v, w, bk)
            - _dG(metric, theta, w, v, bk)
        )
        return hvp(v) - 0.5 * corr

    return mv, "Hessian + Christoffel contraction"


def shape_problem(
    loss, theta, metric=None, *, christoffel=True, damping=0.0, backend=None, cg_rtol=1e-12
):
    """Operators for the shape operator ``G⁻¹ Hess L`` of ``loss`` at ``theta``.

    Parameters
    ----------
    loss : callable
        ``θ (d,) -> scalar`` on the backend of ``theta``.
    theta : array, shape (d,)
    metric : Metric or None
        ``None``: the naive problem (``∂²L`` with the chart's identity metric).
    christoffel : bool
        Keep the Christoffel term (default); ``False`` uses ``∂²L`` with the metric.
    damping : float
        Add ``damping · I`` to the metric (breaks invariance; reported by flatness).
    backend : str, optional
    cg_rtol : float
        Tolerance of the conjugate-gradient solve for ``G⁻¹∇L`` when the metric has no exact solve.

    Returns
    -------
    ShapeProblem

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.linalg.shape import shape_problem
    >>> G = rgeom.metrics.Diagonal(lambda th: 1.0 + th ** 2)
    >>> P = shape_problem(lambda th: np.sum(th ** 3), np.array([1.0, 2.0]), G)
    >>> P.route, P.hessian.mv(np.array([1.0, 0.0])).round(12).tolist()  # 6 − Γ¹₁₁ ∂₁L = 6 − ½·3
    ('Hessian + Christoffel contraction', [4.5, 0.0])
    """
    if metric is None and damping:
        raise ValueError("damping applies to a metric; metric=None is the naive problem (G = I).")
    naive = metric is None
    metric, theta, bk = _resolve(metric, theta, backend)
    d = int(theta.shape[0])
    to_bk, to_np = _backend_converters(bk, theta)
    factory = _point_hessian(loss, bk)
    point = factory(theta) if factory is not None else None
    g_b = point.gradient if point is not None else bk.grad(loss, theta)
    g_np = to_np(g_b)
    G_op, G_at = None, None
    if not naive:
        G_at = metric.at(theta)
        G_op = damped(from_metric_at(G_at, name=repr(metric)), damping)
        if G_op.is_identity:
            G_op = None
    w_np, ng_ok = _solve(G_op, g_np, cg_rtol)
    ng_norm = float(np.sqrt(max(dot(g_np, w_np), 0.0)))
    plain = naive or not christoffel or metric.constant
    if plain:
        route = (
            "naive Hessian"
            if naive
            else (
                "Hessian (constant metric)"
                if metric.constant
                else "Hessian, Christoffel term dropped"
            )
        )
    if point is not None and (plain or bk.name != "jax"):
        # the loss's own per-point kernels (already compiled under JAX): no per-call jit
        if plain:
            mv_b = point.mv
        else:
            mv_b, route = _lean_hessian_mv(
                loss, _NoShortcut(metric) if damping else metric, theta, bk,
                lambda _g: to_bk(w_np), hvp=point.mv, grad=g_b,
            )
    else:
        if plain:
            mv_b = lambda v: bk.hvp(loss, theta, v)  # noqa: E731
        elif damping:  # the pullback shortcut is a tensor rule of the undamped metric only
            mv_b, route = _lean_hessian_mv(
                loss, _NoShortcut(metric), theta, bk, lambda _g: to_bk(w_np), grad=g_b
            )
        else:
            mv_b, route = _lean_hessian_mv(loss, metric, theta, bk, lambda _g: to_bk(w_np), grad=g_b)
        mv_b = bk.jit(mv_b)
    quad = None
    if point is not None and plain:
        quad = lambda x: float(to_np(point.quad(to_bk(x))))  # noqa: E731
    H_op = LinearOperator(
        lambda x: to_np(mv_b(to_bk(x))), d, tags=("symmetric",), name="Riemannian Hessian",
        quad=quad,
    )

    def dense(max_dense_dim):
        if route.startswith("Hessian +") or route.startswith("pullback"):
            eye = np.eye(d)
            H = np.stack([H_op.mv(eye[i]) for i in range(d)], 1)
        else:
            H = np.asarray(to_np(bk.hessian(loss, theta)), dtype=np.float64).reshape(d, d)
        G = None
        if not naive:
            G = np.asarray(to_np(G_at.as_matrix(max_dense_dim=max_dense_dim)), dtype=np.float64)
            G = G + damping * np.eye(d)
        return H, G

    return ShapeProblem(
        hessian=H_op,
        metric=G_op,
        gradient=g_np,
        natural_gradient_norm=ng_norm,
        natural_gradient_converged=ng_ok,
        route=route,
        christoffel=bool(christoffel),
        damping=float(damping),
        dim=d,
        dtype=str(getattr(theta, "dtype", "float64")).replace("torch.", ""),
        backend=bk.name,
        metric_name=f"Euclidean({d}) [naive]" if naive else repr(metric),
        _dense=dense,
    )


class _NoShortcut:
    """A metric seen without its Pullback type (so the contraction route is used)."""

    def __init__(self, metric):
        self._m = metric
        self.constant = metric.constant

    def __getattr__(self, name):
        return getattr(self._m, name)
