"""The matrix-free route of :func:`rgeom.flatness.flatness`: Lanczos, Hutchinson / Hutch++, SLQ.

Every measure of the shape operator from Hessian-vector products and metric solves or
whitening (:mod:`rgeom.linalg`), with its standard error and convergence status.
"""

import dataclasses

import numpy as np

from ._flatness_dense import ZERO_RTOL
from .linalg import hutchinson, krylov_hutchpp, lanczos
from .linalg._result import Estimate
from .linalg.slq import SpectralDensity, _density, slq

#: A quadrature node that stands for at least this much probe mass (``Σ weights = ‖z‖² = d``:
#: one eigenvalue's worth is 1 on average) and cannot be told apart from zero makes the SLQ
#: log-determinant unresolved.
UNRESOLVED_WEIGHT = 0.5


def _unresolved_near_zero(quad, tau):
    """Why SLQ cannot give ``log|det|`` here (``""`` when it can).

    ``log|t|`` is singular at 0, so Gauss quadrature converges only when the nodes it places near
    0 are resolved: a node ``θ`` with Ritz residual bound ``r`` has an eigenvalue of ``E`` in
    ``[θ − r, θ + r]``. When ``τ < |θ| ≤ r`` that interval contains 0: the node may stand for
    exact zero eigenvalues (a symmetry of the loss) that Lanczos has not converged to yet —
    counting ``log|θ|`` for them, as the quadrature would, gives a wrong number with a small
    standard error (the first-step nodes of a kernel sit at ~1e-5·max|λ| and move to ~1e-13 only
    after twice as many steps). The estimate is then reported not converged.
    """
    worst = 0.0
    for t, w, r in zip(quad.nodes, quad.weights, quad.residuals):
        grey = (np.abs(t) > tau) & (np.abs(t) <= r)
        if grey.any():
            worst = max(worst, float(np.abs(w[grey]).max()))
    if worst < UNRESOLVED_WEIGHT:
        return ""
    return (
        "log|det|: E has eigenvalues that the Lanczos quadrature cannot separate from zero (a node "
        f"of weight {worst:.3g} lies within its residual bound of 0): exact zeros (a symmetry of "
        "the loss) or tiny eigenvalues are not resolved, so neither log|det| nor the zero count "
        "is; raise lanczos_steps, or use method='dense' on small problems"
    )


#: Steps of the Lanczos run that looks for a negative eigenvalue of a user-defined metric.
CERTIFY_STEPS = 40


def _is_user_metric(metric):
    """Whether ``metric`` (or the base of a pullback) is a class defined outside rgeom.

    rgeom's own metrics are positive semi-definite by construction (Fisher, GGN, K-FAC, Euclidean)
    or validated when evaluated (``Dense``, ``Diagonal``); a user's ``Metric`` subclass is not.
    """
    while metric is not None:
        if not type(metric).__module__.startswith("rgeom."):
            return True
        metric = getattr(metric, "base", None)
    return False


def _certify_metric(G, seed):
    """Raise ``NotPositiveDefiniteError`` when a Lanczos run on ``G`` finds a negative eigenvalue.

    The engine's iterative solvers meet ``xᵀGx < 0`` only along their own Krylov vectors (a trace
    through exact user solves meets none), so an indefinite user metric could otherwise give a
    number. Ritz values lie inside the spectrum: a Ritz value below ``−1e-8·max|Ritz|`` proves
    ``G`` indefinite (rounding gives ~1e-16). Finding none is not a proof of definiteness, but
    ``CERTIFY_STEPS`` Lanczos steps resolve the bottom of the spectrum of any ``G`` whose
    negative part is not buried under many tiny positive eigenvalues; costs that many ``G`` products.
    """
    from .errors import NotPositiveDefiniteError
    from .linalg.generalized import Pencil
    from .linalg.lanczos import krylov, ritz
    from .linalg.trace import rademacher

    pencil = Pencil(G)  # the standard problem for G itself
    z = rademacher(np.random.default_rng(seed + 5), G.dim)
    alpha, beta, _, _ = krylov(pencil, z, min(CERTIFY_STEPS, G.dim), progress=False)
    theta = ritz(alpha, beta)[0]
    scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
    if theta.min() < -1e-8 * scale:
        raise NotPositiveDefiniteError(
            f"metric {G.name} is not positive semi-definite: Lanczos on G found the eigenvalue "
            f"{theta.min():.3g} < 0 (a metric must satisfy xᵀGx >= 0)."
        )


def _matrix_free(
    problem,
    method,
    measures,
    k,
    n_probes,
    slq_probes,
    lanczos_steps,
    tol,
    quadrature_tol,
    seed,
    sigma,
    progress,
    max_steps,
    eig_criterion="residual",
    kernel_probes=5,
    user_metric=False,
):
    H, G = problem.hessian, problem.metric
    if user_metric:
        _certify_metric(G, seed)
    ests, eigenvalues, density, zeros = {}, np.array([]), None, None
    if "max_eigenvalue" in measures:
        top = lanczos(
            H, k, M=G, which="largest", tol=tol, seed=seed, max_steps=max_steps, progress=progress,
            criterion=eig_criterion, keep_krylov=method == "lanczos" and "trace" in measures,
        )
        ests["max_eigenvalue"] = top.estimate(-1)
        eigenvalues = top.eigenvalues
    if "min_eigenvalue" in measures:
        bottom = lanczos(
            H,
            1,
            M=G,
            which="smallest",
            tol=tol,
            seed=seed + 1,
            max_steps=max_steps,
            progress=progress,
            criterion=eig_criterion,
        )
        ests["min_eigenvalue"] = bottom.estimate(0)
    if "trace" in measures:
        if method == "stochastic":
            ests["trace"] = hutchinson(H, n_probes, M=G, seed=seed + 2, progress=progress)
        else:
            # the top eigenvalue's Lanczos run is the trace's sketch: its products are paid once
            ests["trace"] = krylov_hutchpp(
                H, max(n_probes, 6), M=G, seed=seed + 2, progress=progress,
                reuse=top if "max_eigenvalue" in measures else None,
            )
    if "logdet" in measures or "spectral_density" in measures:
        quad = slq(
            H,
            M=G,
            n_probes=slq_probes,
            lanczos_steps=lanczos_steps,
            seed=seed + 3,
            progress=progress,
        )
        if "logdet" in measures:
            tau = ZERO_RTOL * max(float(np.abs(t).max()) for t in quad.nodes)
            ests["logdet"] = quad.trace(
                lambda t: np.where(np.abs(t) > tau, np.log(np.maximum(np.abs(t), tau)), 0.0),
                tol=quadrature_tol,
                name="log|det|",
            )
            zeros = quad.trace(
                lambda t: (np.abs(t) <= tau).astype(float), tol=quadrature_tol, name="zeros"
            )
            why = _unresolved_near_zero(quad, tau)
            if why:
                ests["logdet"] = dataclasses.replace(
                    ests["logdet"], converged=False, message=why
                )
                zeros = dataclasses.replace(zeros, converged=False, message=why)
        if "spectral_density" in measures:
            lo = min(float(t.min()) for t in quad.nodes)
            hi = max(float(t.max()) for t in quad.nodes)
            sig = sigma or (0.01 * (hi - lo) if hi > lo else 1e-3 * max(abs(hi), 1.0))
            grid = np.linspace(lo - 5 * sig, hi + 5 * sig, 200)
            dens, err = _density(quad, grid, sig)
            density = SpectralDensity(
                grid=grid,
                density=dens,
                stderr=err,
                sigma=float(sig),
                slq=quad,
                converged=quad.solves_converged,
                n_matvecs=quad.n_matvecs,
            )
    kernel_norm = (
        problem.hessian_kernel_norm(n_probes=kernel_probes, seed=seed + 4)
        if problem.kernel_dim
        else (Estimate(0.0, method="regular metric") if problem.kernel_dim == 0 else None)
    )
    n = sum(e.n_matvecs for e in ests.values()) + (
        density.n_matvecs if density and "logdet" not in measures else 0
    )
    if kernel_norm is not None:
        n += kernel_norm.n_matvecs
    name = "lanczos + krylov hutch++ + slq" if method == "lanczos" else "lanczos + hutchinson + slq"
    return dict(
        eigenvalues=eigenvalues,
        sign=float("nan"),
        measures=ests,
        zero_eigenvalues=zeros,
        kernel_dim=problem.kernel_dim,
        hessian_kernel_norm=kernel_norm,
        n_matvecs=n,
        spectral_density=density,
        method=name,
        gradient_norm=problem.natural_gradient_norm,
        natural_gradient_converged=problem.natural_gradient_converged,
        route=problem.route,
        metric_name=problem.metric_name,
        dtype=problem.dtype,
        backend=problem.backend,
        dim=problem.dim,
    )
