"""The result record shared by the scalar estimators (trace, log-det, ...)."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A scalar estimate with its error bars and convergence status.

    Attributes
    ----------
    value : float
        The estimate (NaN when nothing could be computed).
    stderr : float
        Standard error of the Monte Carlo part (0 for deterministic estimates).
    converged : bool
        Whether every iterative part (inner solves, quadrature, Lanczos) met its tolerance.
    n_matvecs : int
        Number of products with the operator (Hessian-vector products for flatness).
    method : str
        Estimator name, e.g. ``"hutchinson"``, ``"hutch++"``, ``"slq"``, ``"lanczos"``, ``"dense"``.
    error_bound : float
        Deterministic error indicator: a residual bound for Lanczos eigenvalues, the quadrature
        discrepancy for SLQ, 0 for exact results.
    n_probes : int
        Number of random probe vectors (0 for deterministic estimates).
    message : str
        Why the estimate is not converged (empty when it is).
    samples : ndarray or None
        Per-probe values (their mean is ``value`` for Hutchinson and SLQ).
    """

    value: float
    stderr: float = 0.0
    converged: bool = True
    n_matvecs: int = 0
    method: str = ""
    error_bound: float = 0.0
    n_probes: int = 0
    message: str = ""
    samples: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)

    def as_dict(self):
        """JSON-ready dictionary (without the per-probe samples)."""
        return {
            "value": float(self.value),
            "stderr": float(self.stderr),
            "converged": bool(self.converged),
            "n_matvecs": int(self.n_matvecs),
            "method": self.method,
            "error_bound": float(self.error_bound),
            "n_probes": int(self.n_probes),
            "message": self.message,
        }

    def __float__(self):
        return float(self.value)


def mean_and_stderr(samples):
    """Sample mean and its standard error (``std(ddof=1) / √n``; ``inf`` for one sample)."""
    s = np.asarray(samples, dtype=np.float64)
    n = s.size
    if n == 0:
        return float("nan"), float("inf")
    if n == 1:
        return float(s[0]), float("inf")
    return float(s.mean()), float(s.std(ddof=1) / np.sqrt(n))
