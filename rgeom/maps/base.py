"""Reparametrizations θ = g(ψ): the :class:`Map` interface, composition and inversion."""

import numpy as np

from .._checks import check_dense_size, concrete
from ..backend import get_backend
from ..errors import ShapeError, SingularJacobianError

#: A map whose Jacobian has condition number above this is treated as not invertible.
MAX_JACOBIAN_CONDITION = 1e12


class Map:
    """A diffeomorphism ``g: Ψ → Θ``, ``θ = g(ψ)``, between open subsets of ``R^d``.

    Subclasses implement :meth:`forward` and :meth:`inverse`; every tangent map defaults to
    automatic differentiation on the backend of the input array and may be overridden by a
    closed form. Points are 1-D arrays of shape ``(d,)``.

    Attributes
    ----------
    dim : int or None
        Dimension ``d`` of the coordinates, or ``None`` for maps that act on any length.
    backend : None or str
        Backend for autodiff; ``None`` infers it from the arrays passed in.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.Polar()
    >>> theta = g(np.array([2.0, 0.0]))
    >>> theta.tolist()
    [2.0, 0.0]
    >>> g.inverse(theta).tolist()
    [2.0, 0.0]
    >>> np.abs(g.jacobian(np.array([2.0, 0.0]))).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """

    dim = None
    backend = None

    # --- to implement ----------------------------------------------------------------------
    def forward(self, psi):
        """``θ = g(ψ)``; shape ``(d,) -> (d,)``."""
        raise NotImplementedError

    def inverse(self, theta):
        """``ψ = g⁻¹(θ)``; shape ``(d,) -> (d,)``."""
        raise NotImplementedError

    # --- derived -----------------------------------------------------------------------------
    def __call__(self, psi):
        return self.forward(psi)

    def _bk(self, *arrays):
        return get_backend(self.backend, *arrays)

    @property
    def inv(self):
        """The inverse diffeomorphism ``g⁻¹`` as a :class:`Map`."""
        return Inverse(self)

    def __matmul__(self, other):
        """``f @ g`` is the composition ``f ∘ g`` (apply ``g`` first)."""
        if not isinstance(other, Map):
            return NotImplemented
        return Compose(self, other)

    def jvp(self, psi, u):
        """Push a tangent vector forward: ``J(ψ) u`` with ``J = ∂θ/∂ψ``; shape ``(d,)``."""
        return self._bk(psi, u).jvp(self.forward, psi, u)[1]

    def vjp(self, psi, w):
        """Pull a covector back: ``J(ψ)ᵀ w``; shape ``(d,)``."""
        return self._bk(psi, w).vjp(self.forward, psi, w)[1]

    def inverse_jvp(self, theta, v):
        """``J(ψ)⁻¹ v`` at ``ψ = g⁻¹(θ)``, i.e. the JVP of the inverse map at ``θ``."""
        return self._bk(theta, v).jvp(self.inverse, theta, v)[1]

    def inverse_vjp(self, theta, w):
        """``J(ψ)⁻ᵀ w`` at ``ψ = g⁻¹(θ)``, i.e. the VJP of the inverse map at ``θ``."""
        return self._bk(theta, w).vjp(self.inverse, theta, w)[1]

    def jacobian(self, psi, *, max_dense_dim=None):
        """Dense Jacobian ``J(ψ) = ∂θ/∂ψ``, shape ``(d, d)``, ``J[k, i] = ∂θᵏ/∂ψⁱ``.

        Raises :class:`~rgeom.errors.DenseSizeError` above ``max_dense_dim``.
        """
        check_dense_size(psi.shape[0], max_dense_dim, "Map.jacobian")
        return self._bk(psi).jacobian(self.forward, psi)

    def log_abs_det_jacobian(self, psi):
        """``log |det J(ψ)|`` (a scalar, natural log); dense by default, closed form where known."""
        bk = self._bk(psi)
        return bk.xp.linalg.slogdet(self.jacobian(psi))[1]

    def check_invertible(self, psi, name="psi"):
        """Raise :class:`~rgeom.errors.SingularJacobianError` if ``J(ψ)`` is singular there.

        Uses the dense Jacobian's condition number (limit :data:`MAX_JACOBIAN_CONDITION`) for
        small ``d`` and the finiteness of ``log|det J|`` otherwise. Returns ``psi``.
        """
        if self.dim is not None and np.shape(psi) != (self.dim,):
            raise ShapeError(f"{name} must have shape ({self.dim},) for {self!r}, got {np.shape(psi)}.")
        with np.errstate(divide="ignore", invalid="ignore"):  # a singular J gives log 0: reported below
            logdet = concrete(self.log_abs_det_jacobian(psi))
        if logdet is not None and not np.isfinite(logdet):
            raise SingularJacobianError(
                f"{self!r} is not invertible at {name}: its Jacobian is singular (log|det J| = {logdet})."
            )
        if np.shape(psi)[0] <= 200:
            jac = concrete(self.jacobian(psi))
            if jac is not None:
                cond = np.linalg.cond(jac)
                if not cond < MAX_JACOBIAN_CONDITION:
                    raise SingularJacobianError(
                        f"{self!r} is not invertible at {name}: cond(J) = {cond:.3g} exceeds "
                        f"{MAX_JACOBIAN_CONDITION:.0e}."
                    )
        return psi

    def __repr__(self):
        return f"{type(self).__name__}()"


class Compose(Map):
    """``outer ∘ inner``: ``θ = outer(inner(ψ))``. Built by ``outer @ inner``."""

    def __init__(self, outer, inner):
        if outer.dim is not None and inner.dim is not None and outer.dim != inner.dim:
            raise ShapeError(f"cannot compose maps of dimensions {outer.dim} and {inner.dim}.")
        self.outer, self.inner = outer, inner
        self.dim = outer.dim if outer.dim is not None else inner.dim
        self.backend = outer.backend or inner.backend

    def forward(self, psi):
        return self.outer.forward(self.inner.forward(psi))

    def inverse(self, theta):
        return self.inner.inverse(self.outer.inverse(theta))

    def jvp(self, psi, u):
        return self.outer.jvp(self.inner.forward(psi), self.inner.jvp(psi, u))

    def vjp(self, psi, w):
        return self.inner.vjp(psi, self.outer.vjp(self.inner.forward(psi), w))

    def inverse_jvp(self, theta, v):
        return self.inner.inverse_jvp(self.outer.inverse(theta), self.outer.inverse_jvp(theta, v))

    def inverse_vjp(self, theta, w):
        mid = self.outer.inverse(theta)
        return self.outer.inverse_vjp(theta, self.inner.inverse_vjp(mid, w))

    def log_abs_det_jacobian(self, psi):
        return self.inner.log_abs_det_jacobian(psi) + self.outer.log_abs_det_jacobian(
            self.inner.forward(psi)
        )

    def __repr__(self):
        return f"{self.outer!r} @ {self.inner!r}"


class Inverse(Map):
    """The inverse ``g⁻¹`` of a map ``g``; its tangent maps are ``g``'s inverse tangent maps."""

    def __init__(self, base):
        self.base = base
        self.dim, self.backend = base.dim, base.backend

    @property
    def inv(self):
        return self.base

    def forward(self, theta):
        return self.base.inverse(theta)

    def inverse(self, psi):
        return self.base.forward(psi)

    def jvp(self, theta, v):
        return self.base.inverse_jvp(theta, v)

    def vjp(self, theta, w):
        return self.base.inverse_vjp(theta, w)

    def inverse_jvp(self, psi, u):
        return self.base.jvp(psi, u)

    def inverse_vjp(self, psi, w):
        return self.base.vjp(psi, w)

    def log_abs_det_jacobian(self, theta):
        return -self.base.log_abs_det_jacobian(self.base.inverse(theta))

    def __repr__(self):
        base = repr(self.base)
        return f"({base}).inv" if isinstance(self.base, Compose) else f"{base}.inv"


class FunctionMap(Map):
    """A map from two user functions; tangents by autodiff. See :func:`from_functions`."""

    def __init__(self, forward, inverse, *, dim=None, backend=None, name=None):
        if not callable(forward) or not callable(inverse):
            raise TypeError("from_functions: forward and inverse must both be callables.")
        self._f, self._finv = forward, inverse
        self.dim, self.backend = dim, backend
        self._name = name or getattr(forward, "__name__", "function")

    def forward(self, psi):
        return self._f(psi)

    def inverse(self, theta):
        return self._finv(theta)

    def __repr__(self):
        return f"from_functions({self._name})"


def from_functions(forward, inverse, *, dim=None, backend=None, name=None):
    """Build a :class:`Map` from ``forward(ψ) -> θ`` and its exact ``inverse(θ) -> ψ``.

    Both functions must be written for the backend of the arrays they receive (``autograd.numpy``
    for NumPy inputs, ``jax.numpy`` or ``torch``). Tangent maps come from autodiff.

    Parameters
    ----------
    forward, inverse : callable
        ``(d,) -> (d,)`` functions, inverse to each other.
    dim : int, optional
        Coordinate dimension, checked by :meth:`Map.check_invertible`.
    backend : str, optional
        Force a backend instead of inferring it from the input arrays.

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> g = rgeom.maps.from_functions(np.sinh, np.arcsinh, dim=1)
    >>> float(g.jvp(np.array([0.0]), np.array([2.0]))[0])   # cosh(0) * 2
    2.0
    >>> float(g.inverse(g(np.array([0.5])))[0])
    0.5
    """
    return FunctionMap(forward, inverse, dim=dim, backend=backend, name=name)
