"""Metric fields θ ↦ G(θ) and their operators at a point.

Network metrics (Fisher, GGN, empirical Fisher, their diagonal, K-FAC) live in
:mod:`rgeom.metrics.fisher` and :mod:`rgeom.metrics.kfac` and are exported here.

``metric.at(θ)`` returns an operator with ``mv``, ``solve``, ``logdet`` and ``as_matrix``;
``metric.matvec(θ, u)`` is differentiable in θ (what the Christoffel contractions use).
"""

from .base import Metric, MetricAt, check_spd_matrix
from .christoffel import christoffel, christoffel_contract, hessian_correction
from .fisher import GGN, EmpiricalFisher, Fisher
from .fisher_diagonal import DiagonalFisher
from .kfac import KFAC
from .pullback import Pullback
from .simple import Dense, Diagonal, Euclidean

__all__ = [
    "Metric", "MetricAt", "Euclidean", "Diagonal", "Dense", "Pullback", "check_spd_matrix",
    "christoffel", "christoffel_contract", "hessian_correction",
    "Fisher", "GGN", "EmpiricalFisher", "DiagonalFisher", "KFAC",
    # lazy (geomstats_adapter, imported on first access; that imports geomstats):
    "from_geomstats", "to_geomstats", "GeomstatsMetric",
]


def __getattr__(name):
    # The geomstats adapter imports geomstats (slow, and patched for new NumPy) only on use.
    if name in ("from_geomstats", "to_geomstats", "GeomstatsMetric"):
        from . import geomstats_adapter

        return getattr(geomstats_adapter, name)
    raise AttributeError(f"module 'rgeom.metrics' has no attribute {name!r}")
