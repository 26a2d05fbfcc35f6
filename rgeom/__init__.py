"""rgeom: Riemannian-geometry numerics on neural-network parameter spaces.

The metric of parameter space is explicit and every object transforms by its own rule under a
reparametrization ``θ = g(ψ)``. Importing rgeom loads NumPy, SciPy and autograd only.

Examples
--------
>>> import autograd.numpy as np, rgeom
>>> loss = lambda th: 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2
>>> polar = rgeom.maps.Polar()
>>> psi = polar.inverse(np.array([1.0, 1.0]))
>>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
>>> L = rgeom.pullback(loss, polar)
>>> rgeom.flatness(L, psi, metric=G).eigenvalues.round(10).tolist()
[1.0, 4.0]
"""

from . import backend, densities, errors, linalg, maps, metrics
from .densities import laplace, mode
from .flatness import Flatness, FlatnessComparison, compare_flatness, flatness
from .geometry import (
    BilinearForm,
    Covector,
    Density,
    Operator,
    Vector,
    flat,
    gradient,
    natural_gradient,
    pullback,
    pushforward,
    riemannian_hessian,
    shape_operator,
    sharp,
)
from .geometry.geodesic import exp
from .metrics import christoffel

__version__ = "0.1.0"

__all__ = [
    "backend", "densities", "errors", "linalg", "maps", "metrics", "mode", "laplace",
    "FlatnessComparison", "compare_flatness", "Flatness", "flatness", "BilinearForm", "Covector",
    "Density", "Operator", "Vector", "flat", "gradient", "natural_gradient", "pullback",
    "pushforward", "riemannian_hessian", "shape_operator", "sharp", "exp", "christoffel",
]
