"""Elementwise diffeomorphisms θᵢ = f(ψᵢ): exp, softplus, sinh, scaling, layer rescaling."""

import numpy as np

from .._checks import check_dense_size
from ..backend import get_backend, namespace
from ..errors import ShapeError, SingularJacobianError
from .base import Map


class Elementwise(Map):
    """Base of maps acting coordinate by coordinate; subclasses give ``f``, ``f⁻¹`` and ``f'``.

    The Jacobian is diagonal, so ``jvp``/``vjp`` are products and ``log|det J| = Σ log|f'(ψᵢ)|``.
    """

    def _f(self, xp, psi):
        raise NotImplementedError

    def _finv(self, xp, theta):
        raise NotImplementedError

    def _df(self, xp, psi):
        raise NotImplementedError

    def forward(self, psi):
        return self._f(namespace(psi), psi)

    def inverse(self, theta):
        return self._finv(namespace(theta), theta)

    def jvp(self, psi, u):
        return self._df(namespace(psi, u), psi) * u

    vjp = jvp

    def inverse_jvp(self, theta, v):
        return v / self._df(namespace(theta, v), self.inverse(theta))

    inverse_vjp = inverse_jvp

    def jacobian(self, psi, *, max_dense_dim=None):
        check_dense_size(psi.shape[0], max_dense_dim, f"{self!r}.jacobian")
        return namespace(psi).diag(self._df(namespace(psi), psi))

    def log_abs_det_jacobian(self, psi):
        xp = namespace(psi)
        return xp.sum(xp.log(xp.abs(self._df(xp, psi))))


class Exp(Elementwise):
    """``θ = exp(ψ)``: maps ``R^d`` onto the positive orthant (log-parametrized scales).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> float(rgeom.maps.Exp().log_abs_det_jacobian(np.array([1.0, 2.0])))
    3.0
    """

    def _f(self, xp, psi):
        return xp.exp(psi)

    def _finv(self, xp, theta):
        return xp.log(theta)

    def _df(self, xp, psi):
        return xp.exp(psi)


class Softplus(Elementwise):
    """``θ = log(1 + exp(ψ))``: a smooth map of ``R^d`` onto the positive orthant.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.Softplus()
    >>> round(float(g.inverse(g(np.array([0.3])))[0]), 12)
    0.3
    """

    def _f(self, xp, psi):
        return xp.logaddexp(0.0, psi)

    def _finv(self, xp, theta):
        # log(exp(θ) - 1), written stably for large θ
        return theta + xp.log(-xp.expm1(-theta))

    def _df(self, xp, psi):
        return 1.0 / (1.0 + xp.exp(-psi))


class Sinh(Elementwise):
    """``θ = a · sinh(ψ / a)``: a monotone bijection of ``R`` that is the identity near 0.

    Parameters
    ----------
    scale : float
        ``a > 0``; large ``a`` makes the map nearly linear.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> float(rgeom.maps.Sinh(2.0).jvp(np.array([0.0]), np.array([3.0]))[0])
    3.0
    """

    def __init__(self, scale=1.0):
        if not scale > 0:
            raise ValueError(f"Sinh: scale must be > 0, got {scale!r}.")
        self.scale = float(scale)

    def _f(self, xp, psi):
        return self.scale * xp.sinh(psi / self.scale)

    def _finv(self, xp, theta):
        return self.scale * xp.arcsinh(theta / self.scale)

    def _df(self, xp, psi):
        return xp.cosh(psi / self.scale)

    def __repr__(self):
        return f"Sinh({self.scale})"


class Scale(Elementwise):
    """``θ = s ⊙ ψ`` with a fixed vector (or scalar) ``s`` of non-zero factors.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> rgeom.maps.Scale([2.0, -1.0])(np.array([1.0, 1.0])).tolist()
    [2.0, -1.0]
    """

    def __init__(self, factors):
        s = np.asarray(factors, dtype=np.float64)
        if s.ndim > 1:
            raise ShapeError(f"Scale: factors must be a scalar or 1-D array, got shape {s.shape}.")
        if not np.all(np.isfinite(s)) or np.any(s == 0):
            raise SingularJacobianError("Scale: every entry of factors must be finite and non-zero.")
        self.factors = s
        self.dim = s.shape[0] if s.ndim == 1 else None

    def _s(self, xp, like):
        return get_backend(None, like).asarray(self.factors) if self.factors.ndim else float(self.factors)

    def _f(self, xp, psi):
        return self._s(xp, psi) * psi

    def _finv(self, xp, theta):
        return theta / self._s(xp, theta)

    def _df(self, xp, psi):
        return self._s(xp, psi) * xp.ones_like(psi)

    def __repr__(self):
        return f"Scale({self.factors.tolist()})"


class LayerRescaling(Scale):
    """Block-wise scaling of a flat parameter vector: block ``b`` is multiplied by ``factors[b]``.

    With a ReLU network ``W₂ relu(W₁ x)`` and blocks ``(W₁, W₂)``, factors ``(α, 1/α)`` leave the
    network function unchanged (Dinh et al., 2017), yet the naive Hessian changes.

    Parameters
    ----------
    sizes : sequence of int
        Number of parameters in each block, in the order of the flat vector.
    factors : sequence of float
        One non-zero factor per block.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.LayerRescaling([2, 1], [10.0, 0.1])
    >>> g(np.ones(3)).tolist()
    [10.0, 10.0, 0.1]
    >>> rgeom.maps.LayerRescaling.dinh([2, 1], alpha=10.0).factors.tolist()
    [10.0, 10.0, 0.1]
    """

    def __init__(self, sizes, factors):
        sizes = [int(n) for n in sizes]
        if len(sizes) != len(factors):
            raise ShapeError(
                f"LayerRescaling: sizes has {len(sizes)} blocks but factors has {len(factors)}."
            )
        if any(n <= 0 for n in sizes):
            raise ShapeError(f"LayerRescaling: every block size must be positive, got {sizes}.")
        self.sizes = sizes
        super().__init__(np.repeat(np.asarray(factors, dtype=np.float64), sizes))

    @classmethod
    def dinh(cls, sizes, alpha):
        """Rescale the first block by ``alpha`` and the last by ``1/alpha`` (two-layer ReLU net)."""
        factors = [1.0] * len(sizes)
        factors[0], factors[-1] = alpha, 1.0 / alpha
        return cls(sizes, factors)

    def __repr__(self):
        return f"LayerRescaling(sizes={self.sizes})"
