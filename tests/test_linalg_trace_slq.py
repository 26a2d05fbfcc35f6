"""Hutchinson, Hutch++ and stochastic Lanczos quadrature against dense references.

Deterministic parts are checked to 1e-8 relative: Hutch++ whose sketch spans the space, and the
Gauss quadrature of one probe once the Krylov space is the whole space (it must equal zᵀ f(A) z
computed densely). Stochastic estimates must fall within 3 reported standard errors of the dense
truth (seeded; a 3σ miss has probability ~0.3% per check, and the seeds are fixed).
"""

import numpy as np
import pytest
import scipy.linalg

from rgeom.linalg import (
    LinearOperator,
    hutchinson,
    hutchpp,
    logdet,
    metric_from_matrix,
    slq,
    spectral_density,
)
from rgeom.linalg.trace import rademacher

D = 60


def with_spectrum(rng, lam):
    Q = np.linalg.qr(rng.normal(size=(lam.size, lam.size)))[0]
    return Q @ np.diag(lam) @ Q.T


@pytest.fixture(scope="module")
def mats():
    rng = np.random.default_rng(11)
    lam = np.r_[np.geomspace(30.0, 0.5, D - 5), -np.linspace(0.2, 1.0, 5)]  # decaying, indefinite
    A = with_spectrum(rng, lam)
    B = rng.normal(size=(D, D))
    G = B @ B.T / D + 0.5 * np.eye(D)
    E = np.linalg.solve(G, A)
    return A, lam, G, scipy.linalg.eigh(A, G, eigvals_only=True), E


def within(est, truth, k=3.0):
    return abs(est.value - truth) <= k * est.stderr


@pytest.mark.parametrize("metric", ["none", "whitened", "cg"])
def test_hutchinson_within_three_stderr(mats, metric):
    A, lam, G, glam, _ = mats
    M = {
        "none": None,
        "whitened": metric_from_matrix(G),
        "cg": LinearOperator(lambda x: G @ x, D, kernel_dim=0),
    }[metric]
    truth = lam.sum() if M is None else glam.sum()
    est = hutchinson(A, 40, M=M, seed=3)
    assert est.converged and est.n_probes == 40 and est.n_matvecs == 40
    assert est.stderr > 0 and within(est, truth), (est.value, est.stderr, truth)
    assert est.samples.mean() == pytest.approx(est.value, rel=1e-14)


@pytest.mark.parametrize("metric", ["none", "whitened", "cg"])
def test_hutchpp_within_three_stderr_and_exact_with_full_sketch(mats, metric):
    A, lam, G, glam, _ = mats
    M = {
        "none": None,
        "whitened": metric_from_matrix(G),
        "cg": LinearOperator(lambda x: G @ x, D, kernel_dim=0),
    }[metric]
    truth = lam.sum() if M is None else glam.sum()
    est = hutchpp(A, 30, M=M, seed=4)
    assert est.converged and est.n_matvecs == 30 and within(est, truth)
    # budget 3d: the sketch spans R^d and the estimate is exact (deterministic part)
    full = hutchpp(A, 3 * D, M=M, seed=4)
    assert full.stderr == 0.0 and full.value == pytest.approx(truth, rel=1e-8)


def test_hutchpp_beats_hutchinson_on_a_decaying_spectrum():
    """Same budget, smaller error bar (the point of Hutch++) on a spectrum 100·0.8^i; seeded."""
    A = with_spectrum(np.random.default_rng(1), 100.0 * 0.8 ** np.arange(D))
    assert hutchpp(A, 45, seed=1).stderr < 0.25 * hutchinson(A, 45, seed=1).stderr


def test_slq_single_probe_quadrature_is_exact_with_full_krylov_space(mats):
    A, lam, G, glam, E = mats
    rng = np.random.default_rng(0)
    z = rademacher(np.random.default_rng(5), D)
    Q = np.linalg.eigh(A)
    # standard: zᵀ exp(A/30) z
    res = slq(A, n_probes=2, lanczos_steps=D, seed=5)
    f = lambda t: np.exp(t / 30.0)  # noqa: E731
    ref = z @ (Q[1] @ np.diag(f(Q[0])) @ Q[1].T) @ z
    assert float(np.sum(res.weights[0] * f(res.nodes[0]))) == pytest.approx(ref, rel=1e-8)
    # generalized, both forms: zᵀ f(G⁻¹A) z with the dense matrix function of E = G⁻¹A
    w, V = np.linalg.eig(E)
    fE = (V @ np.diag(f(w.real)) @ np.linalg.inv(V)).real
    Gh = scipy.linalg.sqrtm(G).real
    C_fn = Gh @ fE @ np.linalg.inv(Gh)  # f(C) for C = G^{-1/2} A G^{-1/2}
    for M, ref in (
        (
            LinearOperator(lambda x: G @ x, D, solve=lambda x: np.linalg.solve(G, x), kernel_dim=0),
            z @ fE @ z,
        ),
        (metric_from_matrix(G), z @ C_fn @ z),
    ):
        res = slq(A, M=M, n_probes=2, lanczos_steps=D, seed=5)
        assert float(np.sum(res.weights[0] * f(res.nodes[0]))) == pytest.approx(ref, rel=1e-8)
    del rng


@pytest.mark.parametrize("metric", ["none", "whitened", "exact"])
def test_logdet_within_three_stderr(mats, metric):
    A, lam, G, glam, _ = mats
    M = {
        "none": None,
        "whitened": metric_from_matrix(G),
        "exact": LinearOperator(
            lambda x: G @ x, D, solve=lambda x: np.linalg.solve(G, x), kernel_dim=0
        ),
    }[metric]
    truth = np.log(np.abs(lam)).sum() if M is None else np.log(np.abs(glam)).sum()
    est = logdet(A, M=M, n_probes=12, lanczos_steps=D // 2, seed=2)
    assert est.converged, est.message
    assert within(est, truth + 0.0), (est.value, est.stderr, truth)
    assert est.n_matvecs <= 12 * (D // 2)


def test_slq_quadrature_flag_when_too_few_steps(mats):
    A = mats[0]
    est = logdet(A, n_probes=4, lanczos_steps=3, seed=0, tol=1e-6)
    assert not est.converged and "lanczos_steps" in est.message


def test_spectral_density_normalised_and_first_moment(mats):
    A, lam, *_ = mats
    sd = spectral_density(A, n_probes=10, lanczos_steps=25, seed=1, n_grid=2000)
    h = sd.grid[1] - sd.grid[0]
    mass = sd.density.sum() * h
    assert mass == pytest.approx(1.0, abs=0.1)  # Σ weights / d ≈ ‖z‖²/d = 1 per probe
    # the density's mean equals tr(A)/d per probe (a Hutchinson sample): within 3 standard errors
    means = np.array([np.sum(w * t) for t, w in zip(sd.slq.nodes, sd.slq.weights)]) / D
    se = means.std(ddof=1) / np.sqrt(means.size)
    assert abs(means.mean() - lam.mean()) <= 3 * se
    dens2, _ = sd.evaluate(sd.grid, sigma=2 * sd.sigma)
    assert dens2.sum() * h == pytest.approx(mass, abs=0.05)
    assert sd.as_dict()["converged"] is True


def test_seeds_reproduce_exactly(mats):
    A = mats[0]
    assert hutchpp(A, 12, seed=9).value == hutchpp(A, 12, seed=9).value
    assert (
        logdet(A, n_probes=3, lanczos_steps=10, seed=9).value
        == logdet(A, n_probes=3, lanczos_steps=10, seed=9).value
    )
    assert hutchinson(A, 5, seed=9).value != hutchinson(A, 5, seed=10).value


def test_bad_arguments(mats):
    A = mats[0]
    with pytest.raises(ValueError, match="n_probes"):
        hutchinson(A, 1)
    with pytest.raises(ValueError, match="n_matvecs"):
        hutchpp(A, 5)
    with pytest.raises(ValueError, match="lanczos_steps"):
        slq(A, lanczos_steps=2)
