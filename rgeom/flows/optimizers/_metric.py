"""Metric plumbing shared by the metric-based optimizers (internal)."""

from ...errors import ShapeError
from ...maps.base import Map
from ...metrics.base import Metric
from ...metrics.pullback import Pullback
from ...metrics.simple import Euclidean
from ..map_families import Submersion, SubmersionPullback
from ._rates import check_rate


def check_metric(metric, owner):
    if metric is not None and not isinstance(metric, Metric):
        raise TypeError(f"{owner}: metric must be None (the chart's Euclidean metric) or an rgeom Metric, "
                        f"got {type(metric).__name__}.")


def resolve(metric, theta):
    """``metric``, or the Euclidean metric of the chart when it is None."""
    return Euclidean(theta.shape[0]) if metric is None else metric


def pulled_back(metric, g, dim, owner):
    """The metric in the chart ψ of ``θ = g(ψ)`` (Euclidean of θ when ``metric`` is None)."""
    if metric is None:
        dim = getattr(g, "dim_out", None) if isinstance(g, Submersion) else (g.dim or dim)
        if dim is None:
            raise ShapeError(f"{owner}.pullback: pass dim= (the dimension of θ) for a map of any length.")
        metric = Euclidean(dim)
    if isinstance(g, Submersion):
        return SubmersionPullback(metric, g)
    if not isinstance(g, Map):
        raise TypeError(f"{owner}.pullback: g must be an rgeom Map or a Submersion, got {type(g).__name__}.")
    return Pullback(metric, g)


def direction(metric, theta, grad, bk, *, damping=0.0, pinv=False, rcond=1e-10):
    """``(G + λI)⁻¹ ∇L`` (``λ = damping``), or ``G⁺ ∇L`` with ``pinv`` (dense, small d)."""
    metric = resolve(metric, theta)
    xp = bk.xp
    if pinv and not damping and hasattr(metric, "pinv_solve"):
        return metric.pinv_solve(theta, grad, rcond)
    if pinv:
        G = metric.matrix(theta)
        G = 0.5 * (G + G.T)
        if damping:
            G = G + damping * xp.eye(theta.shape[0], dtype=theta.dtype)
        return xp.linalg.pinv(G, hermitian=True, rtol=rcond) @ grad
    G = metric.at(theta)
    if not damping:
        return G.solve(grad)
    return xp.linalg.solve(G.as_matrix() + damping * xp.eye(theta.shape[0], dtype=theta.dtype), grad)


def check_damping(damping, owner):
    check_rate(damping, "damping", owner, allow_zero=True)
