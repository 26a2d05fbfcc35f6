"""Matrix-free spectral engine: Lanczos, Hutchinson / Hutch++ traces, stochastic Lanczos quadrature.

Every routine solves the generalized problem ``A v = λ M v`` (``E = M⁻¹ A``; ``M = I`` by default)
from products ``A x`` only, on flat NumPy float64 vectors, and returns its convergence status and
error bars. For flatness, ``A`` is the Riemannian Hessian and ``M`` the metric (see
:func:`rgeom.flatness`); ``docs/spectral.md`` explains the estimators and their costs.

Examples
--------
>>> import numpy as np
>>> from rgeom import linalg
>>> A = np.diag(np.arange(1.0, 101.0))
>>> linalg.lanczos(A, tol=1e-10).eigenvalues.round(8).tolist()
[100.0]
>>> est = linalg.hutchpp(A, n_matvecs=30, seed=1)
>>> abs(est.value - 5050.0) < 3 * est.stderr
True
"""

from ._result import Estimate
from .cg import CGResult, cg, cg_pinv
from .dense import DenseEig, dense_eigh
from .lanczos import EigResult, KrylovRun, lanczos
from .operators import (
    LinearOperator,
    aslinearoperator,
    damped,
    from_metric_at,
    identity,
    metric_from_matrix,
    to_scipy,
)
from .slq import SLQResult, SpectralDensity, logdet, slq, spectral_density
from .trace import hutchinson, hutchpp, krylov_hutchpp

__all__ = [
    "Estimate",
    "CGResult",
    "cg",
    "cg_pinv",
    "DenseEig",
    "dense_eigh",
    "EigResult",
    "KrylovRun",
    "lanczos",
    "LinearOperator",
    "aslinearoperator",
    "damped",
    "from_metric_at",
    "identity",
    "metric_from_matrix",
    "to_scipy",
    "SLQResult",
    "SpectralDensity",
    "logdet",
    "slq",
    "spectral_density",
    "hutchinson",
    "hutchpp",
    "krylov_hutchpp",
]
