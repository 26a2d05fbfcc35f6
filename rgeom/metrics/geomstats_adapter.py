"""A thin bridge between rgeom metrics and geomstats (manifolds, closed forms, references).

* :func:`from_geomstats` wraps a geomstats Riemannian metric whose points are intrinsic
  coordinate vectors of shape ``(d,)`` as an rgeom :class:`~rgeom.metrics.Metric`.
* :func:`to_geomstats` turns an rgeom metric into a geomstats space (an open subset of ``R^d``
  equipped with that metric), so geomstats' generic numerical ``exp`` / ``log`` run on it.

geomstats is imported when this module is (on first access to ``rgeom.metrics.from_geomstats``,
``to_geomstats`` or ``GeomstatsMetric``), never by ``import rgeom``; after that, user code can
import geomstats modules as usual. Two things are isolated in :func:`import_geomstats`:

* **NumPy ≥ 2.4 removed ``numpy.trapz``**, which geomstats 2.8 imports by name. While (and only
  while) geomstats is being imported, ``numpy.trapz`` is an alias of ``numpy.trapezoid`` (and
  likewise for ``autograd.numpy``); the alias is removed again afterwards, since geomstats keeps
  its own reference. NumPy is not pinned.
* geomstats configures the root logger on import (level INFO); rgeom restores it.

rgeom never sets ``GEOMSTATS_BACKEND`` and never chooses geomstats' backend: arrays cross the
bridge as float64 NumPy arrays, converted with geomstats' own ``from_numpy``.

**Derivatives.** geomstats' (NumPy) code is opaque to rgeom's autodiff. A wrapped metric is
nevertheless differentiable *to first order* in θ on the default autograd backend: the derivative
of ``G`` is recovered exactly from ``G`` and geomstats' Christoffel symbols by metric
compatibility, ``∂ₖ gᵢⱼ = gᵢₗ Γˡₖⱼ + gⱼₗ Γˡₖᵢ``. That is all the Levi-Civita contractions
(:func:`~rgeom.metrics.christoffel_contract`, :func:`~rgeom.metrics.hessian_correction`,
:func:`~rgeom.christoffel`) and :func:`~rgeom.exp` need. Second derivatives of ``G`` (curvature),
and any derivative in θ under jax or torch, raise :class:`GeomstatsUnsupportedError`.
"""

import contextlib
import logging
import sys

import numpy as np

from .._checks import concrete
from ..backend import get_backend
from ..errors import NonFiniteError, RgeomError, ShapeError
from .base import Metric, check_spd_matrix
from .simple import _DenseAt

__all__ = ["GeomstatsMetric", "GeomstatsUnsupportedError", "from_geomstats", "to_geomstats"]

_CHRISTOFFEL_SOURCES = ("geomstats", "finite_difference")


class GeomstatsUnsupportedError(RgeomError, NotImplementedError):
    """An operation the geomstats bridge cannot provide (e.g. autodiff through geomstats)."""


# ------------------------------------------------------------------------------------------------
# Importing geomstats
# ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _numpy_trapz_alias():
    """Temporarily provide ``numpy.trapz`` (removed in NumPy 2.4) as ``numpy.trapezoid``."""
    added = []
    modules = [np]
    anp = sys.modules.get("autograd.numpy")  # geomstats' autograd backend imports from it
    if anp is not None:
        modules.append(anp)
    for mod in modules:
        if not hasattr(mod, "trapz") and hasattr(mod, "trapezoid"):
            mod.trapz = mod.trapezoid
            added.append(mod)
    try:
        yield
    finally:
        for mod in added:
            if getattr(mod, "trapz", None) is mod.trapezoid:
                del mod.trapz


@contextlib.contextmanager
def _preserve_root_logger():
    """Undo geomstats' ``logging.basicConfig`` / root ``setLevel(INFO)`` done at import."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)


def import_geomstats():
    """Import and return the ``geomstats`` package, working around NumPy ≥ 2.4 (internal).

    Returns
    -------
    module
        ``geomstats``, already imported if it was.

    Raises
    ------
    ImportError
        If geomstats is not installed or fails to import.
    """
    gsmod = sys.modules.get("geomstats")
    if gsmod is not None and "geomstats.backend" in sys.modules:
        return gsmod
    try:
        with _numpy_trapz_alias(), _preserve_root_logger():
            import geomstats
            import geomstats.backend  # noqa: F401  (the backend module is built on import)
            import geomstats.geometry.riemannian_metric  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "rgeom's geomstats bridge needs geomstats (pip install 'geomstats>=2.7'); "
            f"importing it failed: {exc}"
        ) from exc
    return geomstats


def _gs():
    import_geomstats()
    return sys.modules["geomstats.backend"]


def _to_gs(x):
    """A float64 NumPy array as an array of geomstats' backend."""
    return _gs().from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def _from_gs(x):
    """A geomstats array (NumPy, autograd or torch) as a float64 NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(concrete(x), dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# geomstats -> rgeom
# ------------------------------------------------------------------------------------------------


def _derivative_error(what, backend_name):
    return GeomstatsUnsupportedError(
        f"GeomstatsMetric: cannot differentiate {what} with respect to theta on the "
        f"{backend_name!r} backend: geomstats' NumPy code is opaque to rgeom's autodiff. The "
        "wrapper supplies exact first derivatives of G on the autograd (NumPy) backend only, and "
        "no second derivatives. Pass NumPy arrays (autograd backend), or, for Riemannian Hessians "
        "on jax or torch (or curvature), write the metric in closed form, e.g. "
        "rgeom.metrics.Dense(lambda th: ...) or rgeom.metrics.Diagonal(lambda th: ...)."
    )


def _make_primitives():
    """autograd primitives: θ ↦ G(θ) with its exact first derivative, and opaque dG, Γ."""
    import autograd.numpy as anp
    from autograd.extend import defvjp, primitive

    def _no_second_derivative(what):
        def maker(ans, theta, metric):
            def vjp(g):
                raise _derivative_error(what, "autograd")

            return vjp

        return maker

    @primitive
    def metric_matrix(theta, metric):
        return metric._matrix_np(theta)

    @primitive
    def metric_derivative(theta, metric):  # dG[i, j, k] = ∂ₖ Gᵢⱼ
        return metric._derivative_np(theta)

    @primitive
    def christoffels(theta, metric):
        return metric._christoffels_np(theta)

    def metric_matrix_vjp(ans, theta, metric):  # g ↦ Σᵢⱼ gᵢⱼ ∂ₖ Gᵢⱼ
        return lambda g: anp.einsum("ij,ijk->k", g, metric_derivative(theta, metric))

    defvjp(metric_matrix, metric_matrix_vjp)
    defvjp(metric_derivative, _no_second_derivative("the derivative of G (second derivatives)"))
    defvjp(christoffels, _no_second_derivative("the Christoffel symbols (second derivatives of G)"))
    return metric_matrix, christoffels


_AG_MATRIX, _AG_CHRISTOFFELS = _make_primitives()


class GeomstatsMetric(Metric):
    """A geomstats Riemannian metric in intrinsic coordinates, as an rgeom :class:`Metric`.

    Build it with :func:`from_geomstats`. Points and tangent vectors are coordinate vectors of
    shape ``(d,)`` with ``d = space.dim``; every evaluation calls geomstats in float64 NumPy.

    Attributes
    ----------
    gs_metric : geomstats.geometry.riemannian_metric.RiemannianMetric
        The wrapped metric.
    space : geomstats Manifold
        Its space (``gs_metric._space``).
    dim : int
    constant : bool
        True for geomstats' Euclidean metrics (all Christoffel symbols vanish).
    christoffel_source : {"geomstats", "finite_difference"}
        Where the Christoffel symbols (and hence ``∂G``) come from.

    Notes
    -----
    * ``at(θ)`` and ``matvec`` accept NumPy, jax or torch arrays with concrete values.
    * The metric is differentiable to first order in θ on the autograd backend only (see the
      module docstring); :meth:`christoffels`, :meth:`christoffel_contract` and
      :meth:`hessian_correction` evaluate the dense symbols directly on any backend.
    * geomstats' ``HypersphereMetric`` returns the *ambient* 3 × 3 identity as its
      ``metric_matrix`` even for ``Hypersphere(2, intrinsic=True)``; the wrapper pulls it back
      to spherical coordinates with geomstats' own ``tangent_spherical_to_extrinsic``.
    """

    def __init__(self, gs_metric, *, christoffels="geomstats", fd_step=None):
        import_geomstats()
        space = gs_metric._space
        shape = tuple(space.shape)
        if shape != (space.dim,):
            raise ShapeError(
                f"from_geomstats: points of {type(space).__name__} have shape {shape}, but rgeom "
                f"needs intrinsic coordinate vectors of shape (dim,) = ({space.dim},). Use a "
                "chart (e.g. Hypersphere(2, intrinsic=True) for spherical coordinates)."
            )
        if christoffels not in _CHRISTOFFEL_SOURCES:
            raise ValueError(f"from_geomstats: christoffels must be one of {_CHRISTOFFEL_SOURCES}, "
                             f"got {christoffels!r}.")
        from geomstats.geometry.euclidean import EuclideanMetric

        self.gs_metric, self.space, self.dim = gs_metric, space, int(space.dim)
        self.constant = isinstance(gs_metric, EuclideanMetric)
        self.christoffel_source = christoffels
        self.fd_step = fd_step
        self._memo = {}

    def __repr__(self):
        name, space = type(self.gs_metric).__name__, type(self.space).__name__
        return f"GeomstatsMetric({name} on {space}({self.dim}))"

    # --- NumPy evaluations (memoized on the exact point: an ODE step asks many times) ---------
    def _cached(self, tag, theta, compute):
        theta = np.asarray(theta, dtype=np.float64)
        key = (tag, theta.tobytes())
        out = self._memo.get(key)
        if out is None:
            if len(self._memo) > 32:
                self._memo.clear()
            out = compute(theta)
            out.setflags(write=False)
            self._memo[key] = out
        return out.copy()

    def _matrix_np(self, theta):
        return self._cached("G", theta, self._compute_matrix)

    def _christoffels_np(self, theta):
        return self._cached("Gamma", theta, self._compute_christoffels)

    def _derivative_np(self, theta):
        return self._cached("dG", theta, self._compute_derivative)

    def _compute_matrix(self, theta):
        d, p = self.dim, _to_gs(theta)
        try:
            G = _from_gs(self.gs_metric.metric_matrix(p))
        except NotImplementedError:
            # e.g. PoincareHalfSpace: no metric_matrix, but a closed-form inner product.
            eye = np.eye(d)
            a, b = np.repeat(eye, d, axis=0), np.tile(eye, (d, 1))
            try:
                G = _from_gs(self.gs_metric.inner_product(_to_gs(a), _to_gs(b), p)).reshape(d, d)
            except NotImplementedError as exc:
                raise GeomstatsUnsupportedError(
                    f"GeomstatsMetric: {type(self.gs_metric).__name__} implements neither "
                    f"metric_matrix nor inner_product under geomstats' {_gs().__name__!r} backend "
                    f"({exc})."
                ) from None
        if G.shape == (d + 1, d + 1) and getattr(self.space, "intrinsic", False) and hasattr(
            self.space, "tangent_spherical_to_extrinsic"
        ):
            # Hypersphere(2, intrinsic=True): geomstats gives the ambient metric; pull it back.
            J = _from_gs(self.space.tangent_spherical_to_extrinsic(_to_gs(np.eye(d)), p)).T
            G = J.T @ G @ J
        if G.shape != (d, d):
            raise ShapeError(
                f"GeomstatsMetric: {type(self.gs_metric).__name__}.metric_matrix returned shape "
                f"{G.shape} for a point of shape ({d},); expected ({d}, {d})."
            )
        check_spd_matrix(G, f"geomstats metric {type(self.gs_metric).__name__} at theta")
        return G

    def _compute_christoffels(self, theta):
        d = self.dim
        if self.constant:
            return np.zeros((d, d, d))
        if self.christoffel_source == "finite_difference":
            dG = self._derivative_np(theta)  # dG[l, j, i] = ∂ᵢ Gₗⱼ
            first = 0.5 * (np.einsum("lji->lij", dG) + dG - np.einsum("ijl->lij", dG))
            return np.linalg.solve(self._matrix_np(theta), first.reshape(d, d * d)).reshape(d, d, d)
        try:
            gam = _from_gs(self.gs_metric.christoffels(_to_gs(theta)))
        except NotImplementedError as exc:
            raise GeomstatsUnsupportedError(
                f"GeomstatsMetric: {type(self.gs_metric).__name__} has no Christoffel symbols "
                f"under geomstats' {_gs().__name__!r} backend ({exc}). Pass "
                "from_geomstats(..., christoffels='finite_difference') to differentiate its "
                "metric matrix numerically, or write the metric in closed form "
                "(rgeom.metrics.Dense / Diagonal)."
            ) from None
        if gam.shape != (d, d, d):
            raise ShapeError(
                f"GeomstatsMetric: christoffels returned shape {gam.shape}, expected {(d, d, d)}."
            )
        if not np.all(np.isfinite(gam)):
            raise NonFiniteError(
                f"GeomstatsMetric: geomstats' Christoffel symbols are not finite at {theta}."
            )
        return gam

    def _compute_derivative(self, theta):
        d = self.dim
        if self.constant:
            return np.zeros((d, d, d))
        if self.christoffel_source == "finite_difference":
            # central differences: truncation O(h²), rounding O(eps/h) -> ~1e-10 relative
            h0 = np.finfo(np.float64).eps ** (1 / 3) if self.fd_step is None else self.fd_step
            cols = []
            for k in range(d):
                h = h0 * max(1.0, abs(theta[k]))
                e = np.zeros(d)
                e[k] = h
                G_plus, G_minus = self._compute_matrix(theta + e), self._compute_matrix(theta - e)
                cols.append((G_plus - G_minus) / (2 * h))
            return np.stack(cols, axis=-1)
        G, gam = self._matrix_np(theta), self._christoffels_np(theta)
        # metric compatibility ∇G = 0:  ∂ₖ gᵢⱼ = gᵢₗ Γˡₖⱼ + gⱼₗ Γˡₖᵢ
        return np.einsum("il,lkj->ijk", G, gam) + np.einsum("jl,lki->ijk", G, gam)

    # --- the rgeom Metric interface -------------------------------------------------------------
    def _concrete_point(self, theta, bk, what):
        """θ as NumPy for jax / torch; raise if it is being traced (differentiated)."""
        a = concrete(theta)
        if a is None or bool(getattr(theta, "requires_grad", False)):
            raise _derivative_error(what, bk.name)
        return np.asarray(a, dtype=np.float64)

    def matrix(self, theta):
        """Dense ``G(θ)``, shape ``(d, d)``; first-order differentiable on autograd only."""
        bk = self._bk(theta)
        if bk.name == "autograd":
            return _AG_MATRIX(theta, self)
        return bk.asarray(self._matrix_np(self._concrete_point(theta, bk, "the metric G")))

    def matvec(self, theta, u):
        """``G(θ) u``, shape ``(d,)``; differentiable in ``u`` everywhere, in θ on autograd."""
        bk = self._bk(theta, u)
        if bk.name == "autograd":
            return bk.xp.dot(_AG_MATRIX(theta, self), u)
        return bk.asarray(self._matrix_np(self._concrete_point(theta, bk, "the metric G"))) @ u

    def at(self, theta):
        theta = self._check_point(theta)
        bk = self._bk(theta)
        return _DenseAt(theta, bk, self.matrix(theta))

    def christoffels(self, theta):
        """Dense Christoffel symbols ``Γ[k, i, j] = Γᵏᵢⱼ`` at θ, shape ``(d, d, d)``.

        From geomstats' ``christoffels`` (or central differences of its metric matrix, if the
        metric was wrapped with ``christoffels="finite_difference"``), on the backend of θ.
        """
        theta = self._check_point(theta)
        bk = self._bk(theta)
        if bk.name == "autograd":
            return _AG_CHRISTOFFELS(theta, self)
        theta_np = self._concrete_point(theta, bk, "the Christoffel symbols")
        return bk.asarray(self._christoffels_np(theta_np))

    def christoffel_contract(self, theta, u, v):
        """``Γᵏᵢⱼ uⁱ vʲ`` from the dense symbols, shape ``(d,)`` (any backend, concrete θ)."""
        return self._bk(theta, u, v).xp.einsum("kij,i,j->k", self.christoffels(theta), u, v)

    def hessian_correction(self, theta, grad, v):
        """``Γᵏᵢⱼ (∂ₖL) vʲ`` from the dense symbols, a covector of shape ``(d,)``."""
        return self._bk(theta, grad, v).xp.einsum("kij,k,j->i", self.christoffels(theta), grad, v)


def from_geomstats(metric_or_space, *, christoffels="geomstats", fd_step=None):
    """Wrap a geomstats Riemannian metric (or a space equipped with one) as an rgeom metric.

    Parameters
    ----------
    metric_or_space : geomstats RiemannianMetric or Manifold with ``.metric``
        Points must be intrinsic coordinate vectors of shape ``(dim,)``: e.g.
        ``Euclidean(d)``, ``PoincareHalfSpace(d)`` or ``Hypersphere(2, intrinsic=True)``
        (spherical coordinates ``(ϑ, φ)``, polar angle first).
    christoffels : {"geomstats", "finite_difference"}
        Source of the Christoffel symbols (and so of ``∂G``): geomstats' own ``christoffels``
        (exact), or central differences of its metric matrix (relative error ~1e-10; needed
        e.g. for ``PoincareHalfSpace``, whose symbols geomstats computes only with autodiff).
    fd_step : float, optional
        Relative step for ``"finite_difference"``; default ``eps**(1/3) ≈ 6e-6``.

    Returns
    -------
    GeomstatsMetric
        ``at(θ)`` is validated as symmetric positive definite; differentiable to first order
        in θ on the autograd backend, so ``rgeom.exp`` and the Riemannian Hessian work.

    Raises
    ------
    ImportError
        If geomstats is not installed.
    ShapeError
        If the space's points are not vectors of shape ``(dim,)``.
    TypeError
        If the argument is neither a geomstats metric nor a space with one.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from_geomstats = rgeom.metrics.from_geomstats   # first use: imports geomstats safely
    >>> from geomstats.geometry.hypersphere import Hypersphere
    >>> G = from_geomstats(Hypersphere(2, intrinsic=True))
    >>> theta = np.array([np.pi / 6, 0.3])                 # spherical coordinates (ϑ, φ)
    >>> G.at(theta).as_matrix().round(12).tolist()        # diag(1, sin²ϑ)
    [[1.0, 0.0], [0.0, 0.25]]
    >>> rgeom.christoffel(G, theta)[1, 0, 1].round(12)    # Γᵠ_ϑφ = cot ϑ
    np.float64(1.732050807569)
    """
    import_geomstats()
    from geomstats.geometry.riemannian_metric import RiemannianMetric

    gs_metric = metric_or_space
    if not isinstance(gs_metric, RiemannianMetric):
        gs_metric = getattr(metric_or_space, "metric", None)
    if not isinstance(gs_metric, RiemannianMetric):
        raise TypeError(
            "from_geomstats: expected a geomstats RiemannianMetric or a space equipped with one "
            f"(.metric), got {type(metric_or_space).__name__}."
        )
    return GeomstatsMetric(gs_metric, christoffels=christoffels, fd_step=fd_step)


# ------------------------------------------------------------------------------------------------
# rgeom -> geomstats
# ------------------------------------------------------------------------------------------------

_GS_CLASSES = {}


def _batched(fn, base_point, d, out_shape):
    """Apply ``fn`` (one NumPy point -> array) over the leading batch axes of ``base_point``."""
    if base_point is None:
        raise ValueError("rgeom metric in geomstats: base_point is required (G varies with it).")
    pts = _from_gs(base_point)
    if pts.shape[-1:] != (d,):
        raise ShapeError(
            f"rgeom metric in geomstats: points must have shape (..., {d}), got {pts.shape}."
        )
    flat = pts.reshape(-1, d)
    out = np.stack([fn(p) for p in flat]).reshape(pts.shape[:-1] + out_shape)
    return _to_gs(out)


def _geomstats_classes():
    """The geomstats-side classes, defined on first use (they subclass geomstats)."""
    if _GS_CLASSES:
        return _GS_CLASSES["space"], _GS_CLASSES["metric"]
    import_geomstats()
    from geomstats.geometry.base import VectorSpaceOpenSet
    from geomstats.geometry.euclidean import Euclidean
    from geomstats.geometry.riemannian_metric import RiemannianMetric
    from geomstats.numerics.bvp import ScipySolveBVP
    from geomstats.numerics.geodesic import ExpODESolver, LogODESolver
    from geomstats.numerics.ivp import GSIVPIntegrator

    from .christoffel import christoffel

    class RgeomChart(VectorSpaceOpenSet):
        """The open subset of ``R^dim`` where an rgeom metric is SPD (membership by ``at``)."""

        def __init__(self, dim, rgeom_metric, equip=True):
            self.rgeom_metric = rgeom_metric
            super().__init__(dim=dim, embedding_space=Euclidean(dim, equip=False), equip=equip)

        def _belongs_one(self, p):
            try:
                with np.errstate(all="ignore"):
                    self.rgeom_metric.at(p)
            except (RgeomError, ValueError, ArithmeticError):
                return False
            return True

        def belongs(self, point, atol=None):
            pts = _from_gs(point)
            out = np.array([self._belongs_one(p) for p in pts.reshape(-1, self.dim)])
            return out.reshape(pts.shape[:-1]) if pts.ndim > 1 else bool(out[0])

        def projection(self, point):
            return point  # the domain of a generic metric is unknown: no projection

    class RgeomRiemannianMetric(RiemannianMetric):
        """geomstats metric whose matrix and Christoffel symbols are computed by rgeom."""

        def __init__(self, space, n_steps=100, step_type="rk4", log_tol=1e-8):
            super().__init__(space)
            self.rgeom_metric = space.rgeom_metric
            integrator = GSIVPIntegrator(n_steps=n_steps, step_type=step_type)
            self.exp_solver = ExpODESolver(space, integrator=integrator)
            # collocation (scipy.solve_bvp): far faster and more accurate here than shooting with
            # finite-difference gradients (geomstats' NumPy backend has no autodiff)
            bvp = ScipySolveBVP(tol=log_tol)
            self.log_solver = LogODESolver(space, n_nodes=10, use_jac=False, integrator=bvp)

        def metric_matrix(self, base_point=None):
            d, m = self._space.dim, self.rgeom_metric
            bk = get_backend(m.backend)
            one = lambda p: bk.to_numpy(m.at(bk.asarray(p)).as_matrix())  # noqa: E731
            return _batched(one, base_point, d, (d, d))

        def christoffels(self, base_point=None):
            d, m = self._space.dim, self.rgeom_metric
            bk = get_backend(m.backend)
            one = lambda p: bk.to_numpy(christoffel(m, bk.asarray(p)))  # noqa: E731
            return _batched(one, base_point, d, (d, d, d))

    RgeomChart.default_metric = staticmethod(lambda: RgeomRiemannianMetric)
    _GS_CLASSES.update(space=RgeomChart, metric=RgeomRiemannianMetric)
    return RgeomChart, RgeomRiemannianMetric


def to_geomstats(metric, dim, *, n_steps=100, step_type="rk4", log_tol=1e-8):
    """An rgeom metric as a geomstats space: an open subset of ``R^dim`` equipped with it.

    The space's ``metric`` is a geomstats ``RiemannianMetric`` whose ``metric_matrix`` and
    ``christoffels`` (dense, batched over leading axes) are computed by rgeom, so geomstats'
    generic numerical geodesics run on it: ``space.metric.exp`` integrates the geodesic
    equation with geomstats' fixed-step integrator (``n_steps`` steps of ``step_type`` over unit
    time: global error ``O(n_steps⁻⁴)`` for ``"rk4"``), and ``space.metric.log`` solves the
    geodesic boundary value problem by collocation (geomstats' ``LogODESolver`` on
    ``scipy.integrate.solve_bvp`` with tolerance ``log_tol``, 10 initial nodes).

    Parameters
    ----------
    metric : rgeom.metrics.Metric
        Any rgeom metric differentiable on its backend (dense Christoffel symbols: small ``d``).
    dim : int
        Dimension ``d`` of the coordinates.
    n_steps : int
        Steps of geomstats' ``GSIVPIntegrator`` for ``exp``.
    step_type : {"euler", "rk2", "rk4"}
    log_tol : float
        Tolerance of the boundary value solver behind ``log``.

    Returns
    -------
    geomstats Manifold
        A ``VectorSpaceOpenSet`` of shape ``(dim,)``; ``belongs(θ)`` is true where the metric is
        SPD. Points and vectors are arrays of geomstats' backend (NumPy by default).

    Raises
    ------
    TypeError
        If ``metric`` is not an rgeom metric.
    ShapeError
        If ``dim`` contradicts ``metric.dim``.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> half_plane = rgeom.metrics.Dense(lambda th: np.eye(2) / th[1] ** 2)
    >>> space = rgeom.metrics.to_geomstats(half_plane, 2)
    >>> space.metric.metric_matrix(np.array([0.0, 2.0])).tolist()
    [[0.25, 0.0], [0.0, 0.25]]
    >>> end = space.metric.exp(np.array([0.0, 1.0]), np.array([0.0, 1.0]))  # y(t) = eᵗ
    >>> bool(abs(end[1] - np.e) < 1e-8)
    True
    """
    if not isinstance(metric, Metric):
        raise TypeError(
            f"to_geomstats: metric must be an rgeom Metric, got {type(metric).__name__}."
        )
    if int(dim) != dim or dim < 1:
        raise ValueError(f"to_geomstats: dim must be a positive integer, got {dim!r}.")
    dim = int(dim)
    if metric.dim is not None and metric.dim != dim:
        raise ShapeError(f"to_geomstats: dim={dim} but the metric has dim {metric.dim}.")
    space_cls, metric_cls = _geomstats_classes()
    space = space_cls(dim, metric, equip=False)
    space.equip_with_metric(
        metric_cls, n_steps=int(n_steps), step_type=step_type, log_tol=float(log_tol)
    )
    return space


# Importing this module is the first use of the bridge: import geomstats now, so that user code
# may import geomstats modules afterwards even under NumPy >= 2.4. A missing geomstats is
# reported (clearly) when the bridge is called.
try:
    import_geomstats()
except ImportError:  # pragma: no cover - depends on the environment
    pass
