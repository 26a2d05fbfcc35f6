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

    def __repr__(self):
        return f"<rgeom backend {self.name!r}>"
