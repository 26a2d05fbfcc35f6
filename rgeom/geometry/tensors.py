"""Typed geometric objects at a point: vectors, covectors, (1,1) operators, (0,2) forms.

Each carries its base point, so the transformation rules (:func:`rgeom.pullback`) know where to
evaluate Jacobians, and each has its own type so that a gradient (covector) cannot be added to a
step (vector) without raising an index through a metric first.
"""

import numpy as np

from .._checks import check_dense_size, check_vector, concrete
from ..backend import get_backend
from ..errors import ShapeError, TensorTypeError


def _same_point(a, b):
    if a is b:
        return True
    pa, pb = concrete(a), concrete(b)
    return pa is None or pb is None or (pa.shape == pb.shape and np.allclose(pa, pb, rtol=1e-12, atol=1e-12))


class _Tangent:
    """Shared behaviour of vectors and covectors: linear-space arithmetic at one point."""

    kind = "tangent"

    def __init__(self, point, components):
        self.point = check_vector(point, "point")
        self.components = check_vector(components, "components", self.point.shape[0])

    @property
    def backend(self):
        return get_backend(None, self.point, self.components)

    def _check_other(self, other, op):
        if not isinstance(other, _Tangent):
            raise TensorTypeError(f"cannot {op} a {self.kind} and {type(other).__name__}.")
        if type(other) is not type(self):
            raise TensorTypeError(
                f"cannot {op} a {self.kind} and a {other.kind}: they transform differently. "
                "Convert one with a metric first: rgeom.sharp(metric, covector) gives a vector, "
                "rgeom.flat(metric, vector) a covector."
            )
        if not _same_point(self.point, other.point):
            raise TensorTypeError(f"cannot {op} {self.kind}s at different base points.")

    def __add__(self, other):
        self._check_other(other, "add")
        return type(self)(self.point, self.components + other.components)

    def __sub__(self, other):
        self._check_other(other, "subtract")
        return type(self)(self.point, self.components - other.components)

    def __neg__(self):
        return type(self)(self.point, -self.components)

    def __mul__(self, c):
        if isinstance(c, _Tangent):
            raise TensorTypeError("cannot multiply two tangent objects; pair a covector with a vector instead.")
        return type(self)(self.point, self.components * c)

    __rmul__ = __mul__

    def __truediv__(self, c):
        return type(self)(self.point, self.components / c)

    def numpy(self):
        """Components as a NumPy array."""
        return self.backend.to_numpy(self.components)

    def __repr__(self):
        return f"{type(self).__name__}(point={self.backend.to_numpy(self.point)}, components={self.numpy()})"


class Vector(_Tangent):
    """A tangent vector (a step, an eigenvector): transforms by ``u = J⁻¹ v`` under ``θ = g(ψ)``.

    Parameters
    ----------
    point : array, shape (d,)
        Base point.
    components : array, shape (d,)
        Contravariant components in the chart of ``point``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> v = rgeom.Vector(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    >>> w = rgeom.Covector(np.array([1.0, 1.0]), np.array([2.0, 3.0]))
    >>> float(w(v))
    2.0
    """

    kind = "vector"


class Covector(_Tangent):
    """A covector (a gradient): transforms by ``Jᵀ w`` under ``θ = g(ψ)``; pairs with vectors.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> w = rgeom.Covector(np.zeros(2), np.array([2.0, 3.0]))
    >>> float(w(rgeom.Vector(np.zeros(2), np.array([1.0, 1.0]))))
    5.0
    """

    kind = "covector"

    def __call__(self, vector):
        """The pairing ``w(v) = Σ wᵢ vⁱ`` (a chart-independent scalar)."""
        if not isinstance(vector, Vector):
            raise TensorTypeError(f"a covector pairs with a Vector, got {type(vector).__name__}.")
        if not _same_point(self.point, vector.point):
            raise TensorTypeError("cannot pair a covector and a vector at different base points.")
        return self.backend.xp.sum(self.components * vector.components)


class _LinearAtPoint:
    """A matrix-free linear object at a point: ``mv`` plus a dense ``as_matrix`` for small d."""

    kind = "linear"

    def __init__(self, point, mv, *, matrix=None):
        self.point = check_vector(point, "point")
        self.dim = self.point.shape[0]
        self._mv, self._matrix = mv, matrix

    @property
    def backend(self):
        return get_backend(None, self.point)

    def mv(self, u):
        """Apply to ``u`` (shape ``(d,)``)."""
        if tuple(u.shape) != (self.dim,):
            raise ShapeError(f"u must have shape ({self.dim},), got {tuple(u.shape)}.")
        return self._mv(u)

    def as_matrix(self, *, max_dense_dim=None):
        """Dense ``(d, d)`` matrix (columns are ``mv(eᵢ)``); refuses above ``max_dense_dim``."""
        check_dense_size(self.dim, max_dense_dim, f"{type(self).__name__}.as_matrix")
        if self._matrix is not None:
            return self._matrix() if callable(self._matrix) else self._matrix
        xp = self.backend.xp
        eye = xp.eye(self.dim, dtype=self.point.dtype)
        return xp.stack([self._mv(eye[i]) for i in range(self.dim)], 1)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.backend.to_numpy(self.as_matrix()), dtype=dtype)

    def __repr__(self):
        return f"{type(self).__name__}(dim={self.dim})"


class Operator(_LinearAtPoint):
    """A (1,1) tensor at a point (e.g. the shape operator ``G⁻¹ Hess``): ``J⁻¹ E J`` under a map.

    Its spectrum is chart-independent. ``mv(u)`` maps vectors to vectors.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> E = rgeom.Operator(np.zeros(2), lambda u: 2.0 * u)
    >>> np.asarray(E).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """

    kind = "operator"


class BilinearForm(_LinearAtPoint):
    """A (0,2) tensor at a point (a metric, a Riemannian Hessian): ``Jᵀ B J`` under a map.

    ``mv(u)`` gives the covector ``B(u, ·)``; ``form(u, v) = vᵀ B u``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> B = rgeom.BilinearForm(np.zeros(2), lambda u: np.array([1.0, 4.0]) * u)
    >>> float(B(np.array([1.0, 1.0]), np.array([0.0, 1.0])))
    4.0
    """

    kind = "form"

    def __call__(self, u, v):
        return self.backend.xp.sum(v * self.mv(u))
