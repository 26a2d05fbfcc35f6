"""The pullback ``g*G`` of a metric along a reparametrization: ``G_ψ = Jᵀ G(g(ψ)) J``."""

from .._checks import check_dense_size
from ..maps.base import Map
from .base import Metric, MetricAt


class Pullback(Metric):
    """The metric ``G_ψ(ψ) = J(ψ)ᵀ G(g(ψ)) J(ψ)`` in the chart ψ, for ``θ = g(ψ)``.

    Everything is matrix-free: ``mv`` is one JVP, one metric product and one VJP; ``solve`` uses
    the inverse map's tangents (``J⁻¹ G⁻¹ J⁻ᵀ``), and ``logdet = log det G + 2 log|det J|``.

    Parameters
    ----------
    metric : Metric
        The metric on Θ.
    g : Map
        The reparametrization ``θ = g(ψ)``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> G = rgeom.metrics.Pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar())
    >>> G.at(np.array([2.0, 0.3])).as_matrix().round(12).tolist()   # diag(1, r²)
    [[1.0, 0.0], [0.0, 4.0]]
    """

    def __init__(self, metric, g):
        if not isinstance(metric, Metric):
            raise TypeError(f"Pullback: metric must be an rgeom Metric, got {type(metric).__name__}.")
        if not isinstance(g, Map):
            raise TypeError(f"Pullback: g must be an rgeom.maps.Map, got {type(g).__name__}.")
        self.base, self.map = metric, g
        self.dim = g.dim if g.dim is not None else metric.dim
        self.backend = metric.backend or g.backend

    def matvec(self, psi, u):
        g = self.map
        return g.vjp(psi, self.base.matvec(g(psi), g.jvp(psi, u)))

    def at(self, psi):
        psi = self._check_point(psi, "psi")
        self.map.check_invertible(psi, "psi")
        theta = self.map(psi)
        return _PullbackAt(psi, self._bk(psi), self.base.at(theta), self.map)

    def __repr__(self):
        return f"Pullback({self.base!r}, {self.map!r})"


class _PullbackAt(MetricAt):
    def __init__(self, point, backend, base_at, g):
        super().__init__(point, backend)
        self.base_at, self.map = base_at, g
        self.theta = base_at.point

    def mv(self, u):
        u = self._check_arg(u, "u")
        return self.map.vjp(self.point, self.base_at.mv(self.map.jvp(self.point, u)))

    def solve(self, w):
        w = self._check_arg(w, "w")
        g, th = self.map, self.theta
        return g.inverse_jvp(th, self.base_at.solve(g.inverse_vjp(th, w)))

    def logdet(self):
        return self.base_at.logdet() + 2.0 * self.map.log_abs_det_jacobian(self.point)

    def as_matrix(self, *, max_dense_dim=None):
        check_dense_size(self.dim, max_dense_dim, "Pullback metric as_matrix")
        J = self.map.jacobian(self.point)
        return J.T @ self.base_at.as_matrix(max_dense_dim=max_dense_dim) @ J
