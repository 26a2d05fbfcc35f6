"""Laplace approximations, naive (in the chart) and invariant (Riemannian).

* **Naive**: at the naive MAP ``θ̂`` (mode of the chart density ``p``), ``H = ∂²(−log p)(θ̂)``;
  the approximation is the chart Gaussian ``N(θ̂, H⁻¹)`` and
  ``log Z ≈ log p(θ̂) + (d/2) log 2π − ½ log det H``. All three depend on the chart.
* **Invariant**: at the invariant mode ``θ*`` (mode of ``p_vol = p / √det G``), the Riemannian
  Hessian ``Hess`` of ``−log p_vol`` is a (0,2) tensor; the precision ``E = G⁻¹ Hess`` is a (1,1)
  tensor whose eigenvalues (in units of 1 / squared metric length) are chart-independent; the
  covariance ``Σ = Hess⁻¹`` is a (2,0) tensor. Samples are ``exp_θ*(v)`` with ``v ~ N(0, Σ)`` in
  the tangent space (a Gaussian in Riemannian normal coordinates), so pushing them through a
  map commutes with building the approximation in the other chart, and
  ``log Z ≈ log p_vol(θ*) + (d/2) log 2π − ½ log det E`` is the same number in every chart.

References: MacKay (1998), "Choice of basis for Laplace approximation"; Kristiadi, Dangel &
Hennig (2023), arXiv 2302.07384; Bergamin et al. (2023), "Riemannian Laplace approximations for
Bayesian neural networks", arXiv 2306.07158.
"""

import dataclasses
import math

import numpy as np
import scipy.linalg

from .._checks import check_dense_size
from ..backend import get_backend
from ..errors import NonFiniteError, NotPositiveDefiniteError
from ..geometry.density import Density, same_metric
from ..geometry.hessian import riemannian_hessian
from ..geometry.tensors import BilinearForm, Operator
from ..metrics.pullback import Pullback
from .covariance import Covariance
from .modes import Mode, mode as find_mode
from .objective import NegLogDensity
from .samples import rng_from_seed


@dataclasses.dataclass(frozen=True)
class Laplace:
    """A Laplace approximation at a mode.

    Attributes
    ----------
    kind : str
        ``"naive"`` (Gaussian in the chart) or ``"invariant"`` (Riemannian).
    mode : Mode
        The naive MAP or the invariant mode (check ``mode.converged``).
    hessian : BilinearForm
        (0,2) Hessian of ``−log p_M`` at the mode: the chart ``∂²`` (naive) or the Riemannian
        Hessian (invariant), in nats per squared coordinate unit.
    precision : Operator
        ``G⁻¹ Hess`` (naive: ``G = I`` of the chart), a (1,1) tensor.
    covariance : Covariance
        ``Hess⁻¹``, a (2,0) tensor (squared coordinate units).
    eigenvalues : ndarray, shape (d,)
        Ascending eigenvalues of ``precision`` (float64), in 1 / squared metric length:
        chart-independent for ``kind="invariant"``.
    log_marginal_likelihood : float
        ``log ∫ p̃`` approximated: ``log p_M(mode) + (d/2) log 2π − ½ Σ log eigenvalues``, nats.
        For an unnormalized posterior ``p̃ = likelihood × prior`` this is the log evidence.
    metric : Metric or None
    """

    kind: str
    mode: Mode
    hessian: object
    precision: object
    covariance: object
    eigenvalues: np.ndarray
    log_marginal_likelihood: float
    metric: object
    _vectors: np.ndarray = dataclasses.field(repr=False, default=None)

    @property
    def dim(self):
        return int(self.eigenvalues.shape[0])

    def tangent_samples(self, n, *, seed):
        """``n`` draws ``v ~ N(0, Σ)`` at the mode, shape ``(n, d)`` float64 (vector components)."""
        z = rng_from_seed(seed).standard_normal((int(n), self.dim))
        return (z / np.sqrt(self.eigenvalues)) @ self._vectors.T

    def sample(self, n, *, seed, progress=None):
        """``n`` samples of the approximation, shape ``(n, d)``, on the backend of the mode.

        Naive: ``θ̂ + v`` (a Gaussian in the chart). Invariant: ``exp_θ*(v)`` along geodesics of
        the metric; closed form for constant metrics and pullbacks of constant metrics
        (``g⁻¹(g(θ*) + J v)``), otherwise :func:`rgeom.exp` per sample (progress bar on a TTY).

        Parameters
        ----------
        n : int
        seed : int or numpy.random.Generator
            Required: rgeom draws no unseeded randomness.
        progress : bool, optional
            Progress bar for the geodesic integrations (default: only on a TTY).

        Raises
        ------
        NonFiniteError
            If a geodesic leaves the chart's domain (e.g. a pulled-back flat metric whose straight
            lines leave the image of the map).
        """
        V = self.tangent_samples(n, seed=seed)
        return _geodesic_endpoints(self.metric if self.kind == "invariant" else None,
                                   self.mode.point, V, progress)

    def __str__(self):
        lam = np.array2string(self.eigenvalues, precision=8, threshold=8)
        return (f"{self.kind} Laplace approximation at {np.array2string(self.mode.numpy(), precision=8)}"
                f" ({'converged' if self.mode.converged else 'NOT CONVERGED'})\n"
                f"  precision eigenvalues {lam}\n"
                f"  log marginal likelihood {self.log_marginal_likelihood:.10g}")


def _flat_chart(metric):
    """The map ``g`` with ``metric = g* C`` for a constant ``C`` (a chain of pullbacks), else None."""
    maps = []
    while isinstance(metric, Pullback):
        maps.append(metric.map)
        metric = metric.base
    if not getattr(metric, "constant", False):
        return None
    g = None
    for m in maps:  # Pullback(Pullback(C, m1), m2) = (m1 ∘ m2)* C: maps = [m2, m1]
        g = m if g is None else m @ g
    return g


def _geodesic_endpoints(metric, point, V, progress):
    bk = get_backend(None, point)
    n = V.shape[0]
    if metric is None or getattr(metric, "constant", False):
        out = bk.asarray(bk.to_numpy(point)[None, :] + V, dtype=point.dtype)
        return out
    g = _flat_chart(metric)
    if g is not None:
        theta = g(point)
        rows = []
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for i in range(n):
                rows.append(bk.to_numpy(g.inverse(theta + g.jvp(point, bk.asarray(V[i], dtype=point.dtype)))))
        out = np.asarray(rows, dtype=np.float64).reshape(n, -1)
    else:
        from ..geometry.geodesic import exp
        from ..linalg._progress import progress_bar

        rows = []
        with progress_bar(n, "Laplace.sample geodesics", progress=progress is not False) as bar:
            for i in range(n):
                rows.append(bk.to_numpy(exp(metric, point, bk.asarray(V[i], dtype=point.dtype))))
                bar.update()
        out = np.asarray(rows, dtype=np.float64).reshape(n, -1)
    bad = int(np.sum(~np.all(np.isfinite(out), axis=1)))
    if bad:
        raise NonFiniteError(
            f"Laplace.sample: {bad} of {n} geodesics left the domain of the chart (non-finite end "
            f"points) for {metric!r}. Sample in a chart that covers the geodesics, or use "
            "tangent_samples."
        )
    return bk.asarray(out, dtype=point.dtype)


def _tensors(kind, obj, m, metric, max_dense_dim):
    """Dense Hessian, metric and their generalized eigendecomposition at the mode (float64)."""
    d = obj.d
    check_dense_size(d, max_dense_dim, "laplace (dense Hessian)")
    x = m.point
    bk = obj.bk
    if kind == "naive":
        H_np = obj.hess(obj.to_numpy(x))
        mv = lambda v: bk.hvp(obj.f, x, v)  # noqa: E731
        G_np = np.eye(d)
    else:
        mv = riemannian_hessian(obj.f, metric, x, backend=bk).mv
        if bk.name == "jax":  # one compiled dense Hessian instead of d eager, nested JVP/VJP chains
            dense = bk.jit(lambda y: riemannian_hessian(obj.f, metric, y, backend=bk).as_matrix())
            H_np = obj.to_numpy(dense(x))
        else:
            H_np = obj.to_numpy(riemannian_hessian(obj.f, metric, x, backend=bk).as_matrix())
        G_np = obj.to_numpy(metric.at(x).as_matrix())
    asym = np.abs(H_np - H_np.T).max() / max(np.abs(H_np).max(), np.finfo(float).tiny)
    if asym > 1e-6:
        raise ArithmeticError(f"laplace: the Hessian at the mode is not symmetric (relative asymmetry "
                              f"{asym:.2g}); is the log-density twice differentiable there?")
    H_np = 0.5 * (H_np + H_np.T)
    hess = BilinearForm(x, mv, matrix=bk.asarray(H_np, dtype=obj.dtype))
    try:
        lam, U = scipy.linalg.eigh(H_np, 0.5 * (G_np + G_np.T))
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefiniteError(f"laplace: the metric is not positive definite at the mode: {exc}") from exc
    if not lam[0] > 0:
        raise NotPositiveDefiniteError(
            f"laplace: the {'Riemannian ' if kind == 'invariant' else ''}Hessian of −log p at the "
            f"mode is not positive definite (smallest precision eigenvalue {lam[0]:.3g}): the point is "
            f"not a strict maximum{'' if m.converged else ' (the mode search did not converge)'}; "
            "no Gaussian approximation exists there."
        )
    return hess, G_np, lam, U


def laplace(density, x0=None, *, metric=None, mode=None, max_dense_dim=None, **mode_options):
    """Naive (``metric=None``) or invariant Laplace approximation of ``density``.

    Parameters
    ----------
    density : Density
        Normalized or not (then ``log_marginal_likelihood`` is the log normalizer).
    x0 : array, shape (d,), optional
        Start point of the mode search (not needed when ``mode`` is given).
    metric : Metric, optional
        ``None``: naive, in the chart. A metric: invariant, w.r.t. its volume.
    mode : Mode, optional
        A mode already found (its measure must match ``metric``).
    max_dense_dim : int, optional
        Refuse (``DenseSizeError``) above this dimension: the Hessian is formed densely.
    **mode_options
        Passed to :func:`rgeom.densities.mode` (``method``, ``gtol``, ``maxiter``, ``on_failure``,
        ``backend``).

    Returns
    -------
    Laplace

    Raises
    ------
    NotPositiveDefiniteError
        If the (Riemannian) Hessian at the mode is not positive definite, or the metric is
        singular there.

    Examples
    --------
    ``θ ~ N(0, 1)`` seen in ``ψ = e^θ``: the invariant precision is ``1/σ² = 1``, the naive one
    ``e²``; only the invariant log normalizer is exact (0):

    >>> import autograd.numpy as np, rgeom
    >>> from rgeom.densities import Gaussian, laplace
    >>> log_chart = rgeom.maps.Exp().inv
    >>> q = rgeom.pullback(Gaussian([0.0], [[1.0]]), log_chart)
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(1), log_chart)
    >>> inv, naive = laplace(q, np.array([2.0]), metric=G), laplace(q, np.array([2.0]))
    >>> round(float(inv.eigenvalues[0]), 10), round(float(naive.eigenvalues[0]), 8)
    (1.0, 7.3890561)
    >>> round(inv.log_marginal_likelihood, 10), round(naive.log_marginal_likelihood, 6)
    (0.0, -0.5)
    """
    if not isinstance(density, Density):
        raise TypeError(f"laplace: density must be an rgeom.Density, got {type(density).__name__}.")
    if mode is None:
        if x0 is None:
            raise TypeError("laplace: give a start point x0 (or a mode found before, mode=...).")
        mode = find_mode(density, x0, metric=metric, **mode_options)
    elif not isinstance(mode, Mode):
        raise TypeError(f"laplace: mode must be an rgeom.densities.Mode, got {type(mode).__name__}.")
    elif not same_metric(mode.metric, metric):
        raise ValueError("laplace: mode= was computed for a different measure than metric= "
                         f"({mode.metric!r} vs {metric!r}).")
    kind = "naive" if metric is None else "invariant"
    obj = mode._objective
    if obj is None or obj.density is not density:
        obj = NegLogDensity(density, metric, mode.point, mode_options.get("backend"))
    hess, G_np, lam, U = _tensors(kind, obj, mode, metric, max_dense_dim)
    x, bk, d = mode.point, obj.bk, obj.d
    if kind == "naive":
        precision = Operator(x, hess.mv, matrix=hess.as_matrix)
    else:
        G_at = metric.at(x)
        precision = Operator(x, lambda v: G_at.solve(hess.mv(v)))
    cov_np = (U / lam) @ U.T                                   # Hess⁻¹ = U Λ⁻¹ Uᵀ (UᵀGU = I)
    cov_b = bk.asarray(cov_np, dtype=obj.dtype)
    covariance = Covariance(x, lambda w: cov_b @ w, matrix=cov_b)
    log_z = mode.log_density + 0.5 * d * math.log(2.0 * math.pi) - 0.5 * float(np.sum(np.log(lam)))
    return Laplace(kind=kind, mode=mode, hessian=hess, precision=precision, covariance=covariance,
                   eigenvalues=lam, log_marginal_likelihood=float(log_z), metric=metric, _vectors=U)
