"""Stochastic Lanczos quadrature: ``tr f(E)``, log-determinants and spectral densities.

Ubaru, Chen & Saad, "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature", SIAM J.
Matrix Anal. Appl. 38 (2017). For each Rademacher probe ``z``, ``m`` Lanczos steps started at
``z`` give the tridiagonal ``T = S diag(θ) Sᵀ`` and the Gauss quadrature

    zᵀ f(E) z ≈ ‖z‖² Σⱼ S₀ⱼ² f(θⱼ),

exact for polynomials of degree ``2m − 1`` (and exactly ``zᵀ f(E) z`` once the Krylov space is
invariant). The estimate of ``tr f(E)`` is the mean over probes; its standard error is the
sample standard error across probes. The quadrature error of each probe is estimated by the
change between ``m − 2`` and ``m`` steps and reported as ``error_bound`` (a bias indicator): the
estimate is marked converged when that is below ``max(tol·|value|, stderr)``.

For the generalized ``E = M⁻¹ A`` without a whitening factor, Lanczos runs in the ``M``-inner
product and the probe's quadratic form becomes ``zᵀ f(E) z ≈ ‖z‖_M Σⱼ (zᵀQ sⱼ) S₀ⱼ f(θⱼ)``
(still exact once the Krylov space is invariant; weights may then be negative).

Cost: ``n_probes × lanczos_steps`` products with ``A`` and a basis of ``lanczos_steps × d``.
"""

import dataclasses

import numpy as np

from ._kernels import gemv
from ._progress import progress_bar
from ._result import Estimate, mean_and_stderr
from .generalized import Pencil
from .lanczos import krylov, ritz
from .trace import rademacher

__all__ = ["slq", "logdet", "spectral_density", "SLQResult", "SpectralDensity"]


def _gauss(t, sigma):
    return np.exp(-0.5 * (t / sigma) ** 2) / (sigma * np.sqrt(2.0 * np.pi))


@dataclasses.dataclass(frozen=True)
class SLQResult:
    """Quadrature nodes and weights of every probe, from :func:`slq`.

    ``tr f(E) ≈ mean over probes of Σⱼ weights[p][j] f(nodes[p][j])``.

    Attributes
    ----------
    nodes, weights : list of ndarray
        Per probe: Ritz values and quadrature weights (weights sum to ``zᵀz``).
    coarse_nodes, coarse_weights : list of ndarray
        The same with two fewer Lanczos steps (for the quadrature-error indicator).
    range_dim : int
        Dimension over which the trace runs (``d`` minus the metric's kernel dimension).
    residuals : list of ndarray
        Per probe: the Ritz residual bounds ``|β_m s_{m,j}|`` of the nodes (an eigenvalue of ``E``
        lies within that distance of each node; 0 once the Krylov space is invariant).
    n_matvecs : int
        Products with ``A``.
    solves_converged : bool
    message : str
    method : str
    """

    nodes: list
    weights: list
    coarse_nodes: list
    coarse_weights: list
    range_dim: int
    n_matvecs: int
    solves_converged: bool = True
    message: str = ""
    method: str = "slq"
    residuals: list = dataclasses.field(default_factory=list)

    def _samples(self, fn, nodes, weights):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.array([float(np.sum(w * fn(t))) for t, w in zip(nodes, weights)])

    def trace(self, fn, *, tol=1e-3, name="tr f"):
        """``tr f(E)`` as an :class:`~rgeom.linalg.Estimate` for a vectorised ``fn``."""
        fine = self._samples(fn, self.nodes, self.weights)
        coarse = self._samples(fn, self.coarse_nodes, self.coarse_weights)
        value, stderr = mean_and_stderr(fine)
        with np.errstate(invalid="ignore"):
            quad = float(np.mean(np.abs(fine - coarse))) if fine.size else float("nan")
        ok = bool(
            np.isfinite(value) and np.isfinite(quad) and quad <= max(tol * abs(value), stderr)
        )
        message = self.message
        if not ok and not message:
            message = (
                f"{name}: quadrature not converged (change {quad:.3g} between the last two "
                f"Lanczos step counts exceeds max(tol·|value|, stderr)); raise lanczos_steps"
            )
        return Estimate(
            value=value,
            stderr=stderr,
            converged=ok and self.solves_converged,
            n_matvecs=self.n_matvecs,
            method=self.method,
            error_bound=quad,
            n_probes=len(self.nodes),
            message=message if not (ok and self.solves_converged) else "",
            samples=fine,
        )


@dataclasses.dataclass(frozen=True)
class SpectralDensity:
    """A Gaussian-broadened spectral density ``φ(t) = (1/n) Σᵢ N(t; λᵢ, σ²)`` on a grid.

    Attributes
    ----------
    grid : ndarray, shape (g,)
    density : ndarray, shape (g,)
        Integrates to ~1 over the real line (normalised by the range dimension).
    stderr : ndarray, shape (g,)
        Standard error across probes at each grid point.
    sigma : float
        Gaussian broadening (same units as the eigenvalues).
    slq : SLQResult
        Nodes and weights, to re-evaluate with :meth:`evaluate`.
    converged : bool
    n_matvecs : int
    """

    grid: np.ndarray
    density: np.ndarray
    stderr: np.ndarray
    sigma: float
    slq: SLQResult
    converged: bool
    n_matvecs: int

    def evaluate(self, grid, sigma=None):
        """``(density, stderr)`` on another grid / broadening, from the stored quadrature."""
        return _density(
            self.slq, np.asarray(grid, dtype=np.float64), self.sigma if sigma is None else sigma
        )

    def as_dict(self):
        """JSON-ready dictionary."""
        return {
            "grid": self.grid.tolist(),
            "density": self.density.tolist(),
            "stderr": self.stderr.tolist(),
            "sigma": float(self.sigma),
            "converged": bool(self.converged),
            "n_matvecs": int(self.n_matvecs),
        }


def _quadrature(pencil, alpha, beta, basis, z, z_norm, m):
    """Nodes and weights of the ``m``-step quadrature of ``zᵀ f(E) z``."""
    theta, S = ritz(alpha[:m], beta[:m])
    if pencil.uses_metric_inner:
        proj = gemv(basis.Q[:m], z)  # (zᵀ q_i)_i
        w = z_norm * (S.T @ proj) * S[0, :]
    else:
        w = z_norm**2 * S[0, :] ** 2
    return theta, w


def slq(A, *, M=None, n_probes=10, lanczos_steps=30, seed=0, cg_rtol=1e-10, progress=True):
    """Run stochastic Lanczos quadrature for ``E = M⁻¹ A``; evaluate any ``f`` afterwards.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
        Symmetric.
    M : LinearOperator, optional
        Metric (default identity); singular metrics are handled on their range.
    n_probes : int
        Rademacher probes (at least 2).
    lanczos_steps : int
        Lanczos steps per probe (quadrature nodes), at least 3.
    seed : int
    cg_rtol : float
        Inner solve tolerance when ``M`` has no exact solve.

    Returns
    -------
    SLQResult

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import slq
    >>> rng = np.random.default_rng(0)
    >>> Q = np.linalg.qr(rng.normal(size=(40, 40)))[0]
    >>> lam = np.linspace(1.0, 10.0, 40)
    >>> res = slq(Q @ np.diag(lam) @ Q.T, n_probes=8, lanczos_steps=15)
    >>> est = res.trace(np.log)                                 # tr log A = log det A
    >>> est.converged, bool(abs(est.value - np.log(lam).sum()) < 3 * est.stderr)
    (True, True)
    """
    if int(n_probes) != n_probes or n_probes < 2:
        raise ValueError(
            f"n_probes must be an integer >= 2 (for a standard error), got {n_probes!r}."
        )
    if int(lanczos_steps) != lanczos_steps or lanczos_steps < 3:
        raise ValueError(f"lanczos_steps must be an integer >= 3, got {lanczos_steps!r}.")
    pencil = Pencil(A, M, cg_rtol=cg_rtol)
    rng = np.random.default_rng(seed)
    out = {"nodes": [], "weights": [], "coarse_nodes": [], "coarse_weights": []}
    residuals = []
    with progress_bar(int(n_probes), "slq probes", progress) as bar:
        for _ in range(int(n_probes)):
            z = pencil.project(rademacher(rng, pencil.d))
            alpha, beta, basis, z_norm = krylov(pencil, z, lanczos_steps, progress=False)
            m = alpha.size
            exact = beta[-1] == 0.0 or m == pencil.range_dim
            t, w = _quadrature(pencil, alpha, beta, basis, z, z_norm, m)
            tc, wc = (
                (t, w)
                if exact or m < 3
                else _quadrature(pencil, alpha, beta, basis, z, z_norm, m - 2)
            )
            for key, val in zip(out, (t, w, tc, wc)):
                out[key].append(val)
            residuals.append(np.zeros(m) if exact else np.abs(beta[m - 1] * ritz(alpha, beta)[1][m - 1]))
            bar.update(1)
    ok, message = pencil.status()
    return SLQResult(
        range_dim=pencil.range_dim,
        n_matvecs=pencil.n_apply,
        solves_converged=ok,
        message=message,
        method=f"slq ({pencil.method})",
        residuals=residuals,
        **out,
    )


def logdet(
    A, *, M=None, n_probes=10, lanczos_steps=30, seed=0, tol=1e-3, cg_rtol=1e-10, progress=True
):
    """``log |det(M⁻¹ A)| = Σ log|λᵢ|`` by stochastic Lanczos quadrature (over ``M``'s range).

    Parameters are those of :func:`slq`; ``tol`` is the relative quadrature tolerance of the
    convergence flag. The sign of the determinant is not estimated.

    Returns
    -------
    Estimate

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import logdet
    >>> est = logdet(np.diag(np.linspace(1.0, 4.0, 30)), n_probes=6, lanczos_steps=30)
    >>> est.converged, bool(abs(est.value - np.log(np.linspace(1.0, 4.0, 30)).sum()) < 1e-9)
    (True, True)
    """
    res = slq(
        A,
        M=M,
        n_probes=n_probes,
        lanczos_steps=lanczos_steps,
        seed=seed,
        cg_rtol=cg_rtol,
        progress=progress,
    )
    return res.trace(lambda t: np.log(np.abs(t)), tol=tol, name="log|det|")


def _density(res, grid, sigma):
    per_probe = (
        np.array(
            [
                (w[None, :] * _gauss(grid[:, None] - t[None, :], sigma)).sum(1)
                for t, w in zip(res.nodes, res.weights)
            ]
        )
        / res.range_dim
    )
    mean = per_probe.mean(0)
    stderr = per_probe.std(0, ddof=1) / np.sqrt(per_probe.shape[0])
    return mean, stderr


def spectral_density(
    A,
    *,
    M=None,
    n_probes=10,
    lanczos_steps=30,
    seed=0,
    grid=None,
    n_grid=200,
    sigma=None,
    cg_rtol=1e-10,
    progress=True,
):
    """Gaussian-broadened spectral density of ``E = M⁻¹ A`` by SLQ.

    Parameters
    ----------
    A, M, n_probes, lanczos_steps, seed, cg_rtol
        As in :func:`slq`.
    grid : ndarray, optional
        Evaluation points (default: ``n_grid`` points spanning the Ritz values ± 5 σ).
    sigma : float, optional
        Broadening (default 1% of the Ritz-value range).

    Returns
    -------
    SpectralDensity

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import spectral_density
    >>> sd = spectral_density(np.diag(np.r_[np.zeros(20), np.full(20, 5.0)]), n_probes=4,
    ...                       lanczos_steps=5, sigma=0.1)
    >>> mass = sd.density.sum() * (sd.grid[1] - sd.grid[0])
    >>> bool(abs(mass - 1.0) < 0.05)
    True
    """
    res = slq(
        A,
        M=M,
        n_probes=n_probes,
        lanczos_steps=lanczos_steps,
        seed=seed,
        cg_rtol=cg_rtol,
        progress=progress,
    )
    lo = min(float(t.min()) for t in res.nodes)
    hi = max(float(t.max()) for t in res.nodes)
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else 1e-3 * max(abs(hi), 1.0)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}.")
    grid = (
        np.linspace(lo - 5 * sigma, hi + 5 * sigma, int(n_grid))
        if grid is None
        else np.asarray(grid, float)
    )
    dens, err = _density(res, grid, sigma)
    return SpectralDensity(
        grid=grid,
        density=dens,
        stderr=err,
        sigma=float(sigma),
        slq=res,
        converged=res.solves_converged,
        n_matvecs=res.n_matvecs,
    )
