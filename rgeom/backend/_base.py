"""The backend interface: an array namespace plus automatic differentiation."""

import abc


class Backend(abc.ABC):
    """One automatic-differentiation backend.

    A backend bundles an array namespace ``xp`` (NumPy-like: ``xp.sin``, ``xp.linalg.solve``,
    ...) with the differential operators rgeom needs. Every operator takes a function of one
    array argument ``f(x)`` and the point ``x``; none of them changes global state.

    Attributes
    ----------
    name : str
        ``"autograd"``, ``"jax"`` or ``"torch"``.
    xp : module-like
        Array namespace used by rgeom's own maps and metrics on this backend.
    """

    name = "abstract"

    # --- arrays -------------------------------------------------------------------------
    @abc.abstractmethod
    def owns(self, x):
        """Whether ``x`` is an array (or traced value) of this backend."""

    @abc.abstractmethod
    def asarray(self, x, dtype=None):
        """Convert ``x`` (NumPy array, list, scalar, ...) to this backend's array type.

        ``dtype=None`` keeps floating inputs as they are and turns other inputs into float64.
        """

    @abc.abstractmethod
    def to_numpy(self, x):
        """Return a detached NumPy copy of ``x``."""

    # --- differentiation ----------------------------------------------------------------
    @abc.abstractmethod
    def value_and_grad(self, f, x):
        """``(f(x), ∇f(x))`` for scalar ``f``; the gradient has ``x``'s shape."""

    def grad(self, f, x):
        """``∇f(x)`` for scalar ``f``, same shape as ``x``."""
        return self.value_and_grad(f, x)[1]

    @abc.abstractmethod
    def jvp(self, f, x, v):
        """``(f(x), Df(x) v)``: value and Jacobian-vector product (forward tangent)."""

    @abc.abstractmethod
    def vjp(self, f, x, w):
        """``(f(x), Df(x)ᵀ w)``: value and vector-Jacobian product (cotangent pullback)."""

    def hvp(self, f, x, v):
        """``∇²f(x) v`` for scalar ``f``: one Hessian-vector product (forward-over-reverse)."""
        return self.jvp(lambda y: self.grad(f, y), x, v)[1]

    @abc.abstractmethod
    def jacobian(self, f, x):
        """Dense Jacobian ``Df(x)`` of shape ``f(x).shape + x.shape`` (small problems only)."""

    def hessian(self, f, x):
        """Dense Hessian ``∇²f(x)`` of shape ``x.shape + x.shape`` (small problems only)."""
        return self.jacobian(lambda y: self.grad(f, y), x)

    def jit(self, f):
        """Compile ``f`` where the backend can; the identity otherwise."""
        return f

    def hessian_kernels(self, f):
        """Many Hessian products of a scalar ``f(x, *args)`` at one point: :class:`HessianKernels`.

        Build it once per function (under JAX it holds the compiled kernels) and call
        ``.at(x, *args)`` per point; the backends override it with faster kernels (torch reuses
        the gradient's graph, JAX compiles the linearisation of the gradient).

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.backend import get_backend
        >>> bk = get_backend("autograd")
        >>> H = bk.hessian_kernels(lambda x, c: c * (x ** 3).sum()).at(np.array([1.0, 2.0]), 0.5)
        >>> H.gradient.tolist(), H.mv(np.array([1.0, 1.0])).tolist(), float(H.quad(np.array([1.0, 1.0])))
        ([1.5, 6.0], [3.0, 6.0], 9.0)
        """
        return HessianKernels(self, f)


class PointHessian:
    """``∇²f(x)`` at one fixed point ``x``, from :meth:`HessianKernels.at`.

    Attributes
    ----------
    gradient : backend array, shape (d,)
        ``∇f(x)`` (computed with the per-point work, at no extra cost).
    """

    def __init__(self, gradient, mv, quad=None):
        self.gradient, self._mv, self._quad = gradient, mv, quad

    def mv(self, v):
        """``∇²f(x) v`` (backend array ``(d,)`` in and out)."""
        return self._mv(v)

    def quad(self, v):
        """The quadratic form ``vᵀ ∇²f(x) v`` (a backend scalar)."""
        if self._quad is None:
            return (v * self._mv(v)).sum()
        return self._quad(v)


class HessianKernels:
    """Generic products of ``∇²ₓ f(x, *args)``: one forward-over-reverse pass each.

    Parameters
    ----------
    backend : Backend
    f : callable
        ``f(x, *args) -> scalar``; ``args`` (e.g. data batches) are held fixed.
    """

    def __init__(self, backend, f):
        self.backend, self.f = backend, f

    def at(self, x, *args):
        """A :class:`PointHessian` at ``x``."""
        bk, f = self.backend, self.f
        fx = lambda y: f(y, *args)  # noqa: E731
        return PointHessian(bk.grad(fx, x), lambda v: bk.hvp(fx, x, v))

    def __repr__(self):
        return f"<rgeom backend {self.name!r}>"
