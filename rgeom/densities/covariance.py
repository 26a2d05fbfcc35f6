"""A covariance as a symmetric (2,0) tensor at a point: it eats covectors, returns vectors.

Under ``θ = g(ψ)`` a covariance transforms as ``Σ_ψ = J⁻¹ Σ_θ J⁻ᵀ`` (the inverse of a (0,2)
Hessian ``Jᵀ H J``). Registering this rule with :func:`rgeom.pullback` makes
``rgeom.pullback(cov, g)`` and ``rgeom.pushforward(cov, g)`` work like for every other tensor.
"""

from ..geometry.rules import _pullback, _source_point
from ..geometry.tensors import _LinearAtPoint


class Covariance(_LinearAtPoint):
    """A symmetric (2,0) tensor at a point, e.g. the covariance of a Laplace approximation.

    ``mv(w)`` maps the components of a covector ``w`` to those of the vector ``Σ w``; the
    variance of a linear functional ``w`` is ``w(Σ w)``, the same number in every chart.

    Parameters
    ----------
    point : array, shape (d,)
        Base point.
    mv : callable
        ``w (d,) -> Σ w (d,)``.
    matrix : array or callable, optional
        Dense ``Σ`` (or a function returning it) for :meth:`as_matrix`.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.densities import Covariance
    >>> S = np.diag([1.0, 4.0])
    >>> cov = Covariance(np.zeros(2), lambda w: S @ w, matrix=S)
    >>> back = rgeom.pullback(cov, rgeom.maps.Scale(2.0))      # θ = 2ψ: Σ_ψ = Σ_θ / 4
    >>> np.asarray(back).tolist()
    [[0.25, 0.0], [0.0, 1.0]]
    """

    kind = "covariance"

    def variance(self, w):
        """``w(Σ w)``: the variance of the linear functional with covector components ``w``."""
        return self.backend.xp.sum(w * self.mv(w))


@_pullback.register
def _(cov: Covariance, g):
    psi, theta = _source_point(cov, g), cov.point
    return Covariance(psi, lambda w: g.inverse_jvp(theta, cov.mv(g.inverse_vjp(theta, w))))
