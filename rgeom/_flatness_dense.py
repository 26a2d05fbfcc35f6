"""The dense route of :func:`rgeom.flatness.flatness`: every eigenvalue of ``G⁺ Hess L``.

``scipy.linalg.eigh`` on the metric's (Jacobi-equilibrated) range, in float64: the reference the
matrix-free engine is tested against, and the default up to
:data:`rgeom.flatness.AUTO_DENSE_DIM` parameters.
"""

import numpy as np

from ._checks import check_dense_size
from .geometry.hessian import _resolve
from .linalg import dense_eigh
from .linalg._result import Estimate
from .linalg.dense import _as_dense, _symmetric, eigh_on_range, equilibrated_range
from .linalg.slq import SpectralDensity, _gauss
from .metrics.christoffel import hessian_correction_matrix

#: Relative asymmetry of the dense Riemannian Hessian above which flatness refuses to go on.
HESSIAN_SYMMETRY_RTOL = 1e-6
#: Eigenvalues of ``E`` with ``|λ| ≤ ZERO_RTOL · max|λ|`` are zeros: ``logdet`` is the log
#: pseudo-determinant over the others and ``zero_eigenvalues`` counts them. Dense eigenvalues of a
#: singular ``E`` come out at ~1e-16 · max|λ| (rounding, chart-dependent), the smallest genuine
#: ones of the bundled network at 3e-6 · max|λ|; the threshold sits between, relative to the
#: (invariant) largest one, so the count and the log pseudo-determinant are chart-independent.
ZERO_RTOL = 1e-10


def _dense_density(lam, sigma, n_grid=200):
    lo, hi = float(lam.min()), float(lam.max())
    sigma = sigma or (0.01 * (hi - lo) if hi > lo else 1e-3 * max(abs(hi), 1.0))
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, n_grid)
    dens = _gauss(grid[:, None] - lam[None, :], sigma).mean(1)
    return SpectralDensity(
        grid=grid,
        density=dens,
        stderr=np.zeros_like(dens),
        sigma=float(sigma),
        slq=None,
        converged=True,
        n_matvecs=0,
    )


def _pseudo_logdet(lam):
    """``(Σ log|λ|, sign, n_zero)`` over ``|λ| > ZERO_RTOL · max|λ|`` (see :data:`ZERO_RTOL`)."""
    a = np.abs(lam)
    live = a > ZERO_RTOL * a.max() if a.size else a > 0
    return float(np.sum(np.log(a[live]))), float(np.prod(np.sign(lam[live]))), int((~live).sum())


def _dense_setup(loss, theta, metric, backend, max_dense_dim):
    """Dense ``∂²L`` and ``∇L`` at the point: computed once, shared by the naive and invariant sides."""
    _, theta, bk = _resolve(metric, theta, backend)
    d = int(theta.shape[0])
    check_dense_size(d, max_dense_dim, "flatness (dense path)")
    to_np = lambda x: np.asarray(bk.to_numpy(x), dtype=np.float64)  # noqa: E731
    H = _as_dense(to_np(bk.hessian(loss, theta)).reshape(d, d), "the Hessian ∂²L", max_dense_dim)
    H = _symmetric(H, "the Hessian ∂²L", HESSIAN_SYMMETRY_RTOL)
    g = to_np(bk.grad(loss, theta)).reshape(d)
    dtype = str(getattr(theta, "dtype", "float64")).replace("torch.", "")
    return dict(loss=loss, theta=theta, bk=bk, H=H, g=g, d=d, dtype=dtype, to_np=to_np)


def _dense(setup, metric, measures, sigma, max_dense_dim, christoffel, damping):
    """Every eigenvalue of ``G⁺ Hess`` on the range of ``G`` (``eigh`` on the equilibrated range).

    The Riemannian Hessian is ``∂²L − C`` with the dense Christoffel correction ``C`` of
    :func:`~rgeom.metrics.christoffel.hessian_correction_matrix` (``w = G⁺∇L``).
    """
    H, g, d, bk, theta = setup["H"], setup["g"], setup["d"], setup["bk"], setup["theta"]
    if metric is None:
        if damping:
            raise ValueError("damping applies to a metric; metric=None is the naive problem (G = I).")
        res = dense_eigh(H, symmetry_rtol=HESSIAN_SYMMETRY_RTOL)
        ng, route, name = float(np.linalg.norm(g)), "naive Hessian", f"Euclidean({d}) [naive]"
    else:
        metric, theta, _ = _resolve(metric, theta, bk.name)
        G = _as_dense(setup["to_np"](metric.at(theta).as_matrix(max_dense_dim=max_dense_dim)).reshape(d, d),
                      "the metric G", max_dense_dim)
        G = _symmetric(G + damping * np.eye(d), "the metric G", HESSIAN_SYMMETRY_RTOL)
        V, K, rtol = equilibrated_range(G)
        Vg = V.T @ g
        w = V @ Vg  # G⁺∇L, the natural gradient on the range
        ng, name = float(np.sqrt(Vg @ Vg)), repr(metric)
        if christoffel and not metric.constant:
            np_dtype = bk.to_numpy(theta).dtype
            C = hessian_correction_matrix(metric, theta, bk.asarray(g.astype(np_dtype)),
                                          w=bk.asarray(w.astype(np_dtype)), max_dense_dim=max_dense_dim)
            H = _symmetric(H - C, "the Riemannian Hessian ∂²L − Γ·∂L", HESSIAN_SYMMETRY_RTOL)
            route = "dense Hessian − dense Christoffel correction"
        else:
            route = "Hessian (constant metric)" if metric.constant else "Hessian, Christoffel term dropped"
        res = eigh_on_range(H, V, K, rtol, complement="equilibrated")
    lam = res.eigenvalues
    logdet, sign, n_zero = _pseudo_logdet(lam)
    exact = lambda v: Estimate(float(v), n_matvecs=d, method="dense eigh(H, G)")  # noqa: E731
    values = {
        "max_eigenvalue": lam[-1],
        "min_eigenvalue": lam[0],
        "trace": lam.sum(),
        "logdet": logdet,
    }
    ests = {m: exact(v) for m, v in values.items()}  # every scalar measure: the spectrum is known
    density = _dense_density(lam, sigma) if "spectral_density" in measures else None
    return dict(
        eigenvalues=lam,
        sign=sign,
        measures=ests,
        zero_eigenvalues=Estimate(float(n_zero), method=f"dense: |λ| <= {ZERO_RTOL:g} max|λ|"),
        kernel_dim=res.kernel_dim,
        hessian_kernel_norm=Estimate(res.hessian_kernel_norm, method="dense"),
        n_matvecs=d,
        spectral_density=density,
        method="dense eigh(H, G)",
        gradient_norm=ng,
        natural_gradient_converged=True,
        route=route,
        metric_name=name,
        dtype=setup["dtype"],
        backend=bk.name,
        dim=d,
    )
