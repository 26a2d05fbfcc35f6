"""Densities, naive and invariant modes, and Laplace approximations.

A density is a density *with respect to a measure*: Lebesgue measure in the chart (it picks up
``|det J|`` under a change of chart, so its mode, the MAP point, moves) or the volume of a metric
(``p / √det G`` is a scalar function, its mode does not move). :class:`rgeom.Density` records
which; this package finds modes and Laplace approximations in both forms and ships a small
catalogue of distributions.

* :func:`mode` — naive MAP (``metric=None``) or invariant mode (``metric=G``), with a
  convergence report; :meth:`Mode.pullback` carries a mode to another chart for comparison.
* :func:`laplace` — naive (chart Gaussian) or invariant (Riemannian Hessian, precision as a
  (1,1) tensor, covariance as a (2,0) :class:`Covariance`), samples, log marginal likelihood.
* catalogue: :class:`Gaussian`, :class:`LogNormal`, :class:`Beta`, :class:`Gamma`,
  :class:`Dirichlet`; :class:`VonMisesFisher` (geomstats, imported on first use).
* metric choice: :func:`chart_metric`, :func:`fisher_metric`, :func:`hessian_metric`.
* samples are points: :func:`pushforward_samples`, :func:`pullback_samples`.

Examples
--------
>>> import numpy as np, rgeom
>>> from rgeom.densities import LogNormal, chart_metric
>>> p = LogNormal(0.0, 1.0)                                    # ψ = e^θ with θ ~ N(0, 1)
>>> G = chart_metric(rgeom.maps.Exp().inv, dim=1)              # Euclidean metric of θ = log ψ
>>> round(float(p.mode(np.array([1.5])).point[0]), 8)          # naive MAP e^(μ−σ²)
0.36787944
>>> round(float(p.mode(np.array([1.5]), metric=G).point[0]), 8)   # invariant mode e^μ
1.0
"""

from ..geometry.density import Density
from .catalogue import Beta, CatalogueDensity, Dirichlet, Gamma, Gaussian, LogNormal
from .covariance import Covariance
from .laplace_approx import Laplace, laplace
from .metric_choice import chart_metric, fisher_metric, hessian_metric
from .modes import Mode, NotConvergedWarning, mode
from .objective import SupportError
from .samples import pullback_samples, pushforward_samples

__all__ = [
    "Density", "mode", "Mode", "NotConvergedWarning", "laplace", "Laplace", "Covariance",
    "SupportError", "Gaussian", "LogNormal", "Beta", "Gamma", "Dirichlet", "VonMisesFisher",
    "CatalogueDensity", "chart_metric", "fisher_metric", "hessian_metric", "pushforward_samples",
    "pullback_samples",
]


def __getattr__(name):
    # VonMisesFisher imports geomstats (slow, patched for new NumPy) only on use.
    if name == "VonMisesFisher":
        from .vmf import VonMisesFisher

        return VonMisesFisher
    raise AttributeError(f"module 'rgeom.densities' has no attribute {name!r}")
