"""Flatness measures: the spectrum of the shape operator ``G⁻¹ Hess L`` (dense path).

The eigenvalues of ``G⁻¹ Hess`` are chart-independent; those of the naive ``∂²L`` (``metric=None``:
the identity metric of whatever chart the user holds) are not.
"""

import dataclasses

import numpy as np
import scipy.linalg

from ._checks import check_dense_size, check_vector
from .backend import get_backend
from .geometry.hessian import _resolve, riemannian_hessian

#: Relative asymmetry of the dense Riemannian Hessian above which flatness refuses to go on.
HESSIAN_SYMMETRY_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Flatness:
    """Spectral flatness measures of ``E = G⁻¹ Hess L`` at one point.

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        Ascending eigenvalues of ``E`` (generalised problem ``Hess v = λ G v``), float64.
    max_eigenvalue, min_eigenvalue, trace : float
        Largest / smallest eigenvalue and their sum.
    logdet : float
        ``log |det E| = Σ log|λ|`` (``-inf`` if an eigenvalue is exactly 0).
    sign : float
        Sign of ``det E`` (+1, -1 or 0); ``logdet`` is the log of the determinant's absolute value.
    gradient_norm : float
        Dual norm of the gradient ``√(∇Lᵀ G⁻¹ ∇L)``: 0 at a critical point, where the
        Christoffel term vanishes.
    metric : str
        Description of the metric (``"Euclidean(d) [naive]"`` for ``metric=None``).
    christoffel : bool
        Whether the Christoffel term was kept.
    method, dtype, backend : str
        How it was computed, the floating type of the inputs, and the autodiff backend.
    """

    eigenvalues: np.ndarray
    max_eigenvalue: float
    min_eigenvalue: float
    trace: float
    logdet: float
    sign: float
    gradient_norm: float
    metric: str
    christoffel: bool
    method: str
    dtype: str
    backend: str

    def __str__(self):
        lam = np.array2string(self.eigenvalues, precision=8, max_line_width=80, threshold=8)
        return (
            f"Flatness of G⁻¹Hess [{self.metric}; christoffel={self.christoffel}; {self.method}, "
            f"{self.dtype}, {self.backend}]\n"
            f"  eigenvalues    {lam}\n"
            f"  max eigenvalue {self.max_eigenvalue:.10g}\n"
            f"  trace          {self.trace:.10g}\n"
            f"  log|det|       {self.logdet:.10g} (sign {self.sign:+.0f})\n"
            f"  |grad|_G*      {self.gradient_norm:.3g}"
        )

    def as_dict(self):
        """JSON-ready dictionary (eigenvalues as a list)."""
        out = dataclasses.asdict(self)
        out["eigenvalues"] = self.eigenvalues.tolist()
        return out


def flatness(loss, theta, metric=None, *, christoffel=True, backend=None, max_dense_dim=None):
    """Invariant (or, with ``metric=None``, naive) flatness of ``loss`` at ``theta``.

    Computes the eigenvalues of the shape operator ``G⁻¹ Hess L`` from the dense Riemannian
    Hessian and the dense metric with ``scipy.linalg.eigh(H, G)`` in float64.

    Parameters
    ----------
    loss : callable
        ``θ (d,) -> scalar`` on the backend of ``theta``.
    theta : array, shape (d,)
        The point (need not be critical).
    metric : Metric, optional
        ``None`` uses the chart's identity metric: the naive measures of ``∂²L``.
    christoffel : bool
        Keep the Christoffel term (default). ``False`` computes the eigenvalues of ``G⁻¹ ∂²L``,
        which are only invariant at a critical point; ``gradient_norm`` says how far off that is.
    backend : str, optional
        Force a backend instead of inferring it from ``theta``.
    max_dense_dim : int, optional
        Refuse (``DenseSizeError``) above this dimension (default ``rgeom._checks.MAX_DENSE_DIM``).

    Returns
    -------
    Flatness

    Examples
    --------
    >>> import autograd.numpy as np, rgeom
    >>> loss = lambda th: 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2
    >>> rgeom.flatness(loss, np.array([1.0, 1.0])).eigenvalues.tolist()
    [1.0, 4.0]
    """
    metric_in = metric
    metric, theta, bk = _resolve(metric, theta, backend)
    d = theta.shape[0]
    check_dense_size(d, max_dense_dim, "flatness (dense path)")
    H = bk.to_numpy(riemannian_hessian(loss, metric, theta, christoffel=christoffel, backend=bk).as_matrix())
    G_at = metric.at(theta)
    G = bk.to_numpy(G_at.as_matrix()).astype(np.float64)
    H = H.astype(np.float64)
    scale = max(np.abs(H).max(), np.finfo(float).tiny)
    asym = np.abs(H - H.T).max() / scale
    if asym > HESSIAN_SYMMETRY_RTOL:
        raise ArithmeticError(
            f"flatness: the Riemannian Hessian is not symmetric (relative asymmetry {asym:.2g}); "
            "is the metric function smooth and symmetric, and the loss twice differentiable?"
        )
    lam = scipy.linalg.eigh(0.5 * (H + H.T), 0.5 * (G + G.T), eigvals_only=True)
    grad = bk.to_numpy(bk.grad(loss, theta)).astype(np.float64)
    gnorm = float(np.sqrt(max(grad @ np.linalg.solve(G, grad), 0.0)))
    signs = np.sign(lam)
    with np.errstate(divide="ignore"):
        logdet = float(np.sum(np.log(np.abs(lam))))
    return Flatness(
        eigenvalues=lam,
        max_eigenvalue=float(lam[-1]),
        min_eigenvalue=float(lam[0]),
        trace=float(lam.sum()),
        logdet=logdet,
        sign=float(np.prod(signs)),
        gradient_norm=gnorm,
        metric=f"Euclidean({d}) [naive]" if metric_in is None else repr(metric),
        christoffel=bool(christoffel),
        method="dense eigh(H, G)",
        dtype=str(getattr(theta, "dtype", "float64")).replace("torch.", ""),
        backend=bk.name,
    )
