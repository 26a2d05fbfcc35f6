"""Lanczos (standard and generalized) against dense float64 references with known spectra.

Matrices are Q diag(λ) Qᵀ with prescribed λ, so the reference is exact. Tolerance 1e-8 relative
(the project's bar for deterministic estimates); Lanczos is asked for residual tol 1e-10 and
its eigenvalue error is ≲ residual, so the checks have two orders of magnitude of room.
"""

import numpy as np
import pytest
import scipy.linalg

from rgeom.errors import NotPositiveDefiniteError
from rgeom.linalg import LinearOperator, dense_eigh, lanczos, metric_from_matrix

RTOL = 1e-8


def with_spectrum(rng, lam):
    Q = np.linalg.qr(rng.normal(size=(lam.size, lam.size)))[0]
    return Q @ np.diag(lam) @ Q.T


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    lam = np.r_[-5.0, np.linspace(-2.0, 3.0, 76), 6.0, 8.0, 9.0]
    A = with_spectrum(rng, lam)
    B = rng.normal(size=(80, 80))
    G = B @ B.T / 80 + 0.3 * np.eye(80)
    return A, lam, G


@pytest.mark.parametrize(
    "which,k", [("largest", 1), ("largest", 3), ("smallest", 2), ("magnitude", 2)]
)
def test_standard_extremes(problem, which, k):
    A, lam, _ = problem
    res = lanczos(A, k, which=which, tol=1e-10, reorth="full")
    if which == "largest":
        ref = lam[-k:]
    elif which == "smallest":
        ref = lam[:k]
    else:
        ref = np.sort(lam[np.argsort(np.abs(lam))[-k:]])
    assert res.converged and not res.message
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=RTOL)
    # Ritz vectors: residuals as reported, and the reported bound really bounds the error
    for i in range(k):
        v = res.eigenvectors[:, i]
        r = np.linalg.norm(A @ v - res.eigenvalues[i] * v)
        assert r == pytest.approx(res.residuals[i], rel=1e-3, abs=1e-12)
        assert abs(res.eigenvalues[i] - ref[i]) <= res.residuals[i] + 1e-12
    assert res.n_matvecs == res.n_steps < 80
    # partial reorthogonalisation (the default): same eigenvalues, Ritz vectors to ~√ε‖A‖
    part = lanczos(A, k, which=which, tol=1e-10)
    assert part.converged
    np.testing.assert_allclose(part.eigenvalues, ref, rtol=RTOL)
    for i in range(k):
        v = part.eigenvectors[:, i]
        assert np.linalg.norm(A @ v - part.eigenvalues[i] * v) <= part.residuals[i] + 1e-7 * 9.0


def _metric_variants(G):
    d = G.shape[0]
    return {
        "whitened": metric_from_matrix(G),
        "exact solve": LinearOperator(
            lambda x: G @ x, d, solve=lambda x: np.linalg.solve(G, x), kernel_dim=0
        ),
        "cg": LinearOperator(lambda x: G @ x, d, kernel_dim=0, name="G (mv only)"),
    }


@pytest.mark.parametrize("variant", ["whitened", "exact solve", "cg"])
def test_generalized_matches_scipy_eigh(problem, variant):
    A, _, G = problem
    ref = scipy.linalg.eigh(A, G, eigvals_only=True)
    M = _metric_variants(G)[variant]
    top = lanczos(A, 3, M=M, tol=1e-10)
    bottom = lanczos(A, 1, M=M, which="smallest", tol=1e-10)
    assert top.converged and bottom.converged
    np.testing.assert_allclose(top.eigenvalues, ref[-3:], rtol=RTOL)
    np.testing.assert_allclose(bottom.eigenvalues, ref[:1], rtol=RTOL)
    V = top.eigenvectors
    np.testing.assert_allclose(
        V.T @ G @ V, np.eye(3), atol=1e-7
    )  # G-orthonormal (semi-orthogonal basis)
    np.testing.assert_allclose(A @ V, G @ V * top.eigenvalues, atol=1e-7 * np.abs(ref).max())


def test_singular_metric_is_solved_on_its_range(problem):
    A, _, G = problem
    rng = np.random.default_rng(5)
    K = np.linalg.qr(rng.normal(size=(80, 4)))[0]
    P = np.eye(80) - K @ K.T
    Gs = P @ G @ P
    ref = dense_eigh(A, Gs)
    assert ref.kernel_dim == 4
    variants = {
        "kernel basis + CG": LinearOperator(lambda x: Gs @ x, 80, kernel_basis=K),
        "whitened pseudo-inverse": metric_from_matrix(Gs),
        "unknown kernel: pseudo-inverse CG": LinearOperator(lambda x: Gs @ x, 80),
    }
    for name, M in variants.items():
        res = lanczos(A, 2, M=M, tol=1e-9)
        assert res.converged, name
        np.testing.assert_allclose(res.eigenvalues, ref.eigenvalues[-2:], rtol=1e-7, err_msg=name)
        assert np.abs(K.T @ res.eigenvectors).max() < 1e-7, name  # eigenvectors in the range
    assert lanczos(A, 1, M=variants["kernel basis + CG"]).kernel_dim == 4


def test_not_converged_is_reported(problem):
    A, _, G = problem
    res = lanczos(A, 2, tol=1e-12, max_steps=4)
    assert not res.converged and "max_steps=4" in res.message
    assert not res.estimate(-1).converged and res.estimate(-1).error_bound > 0
    # an inner solve that cannot converge makes the whole result "not converged"
    M = LinearOperator(lambda x: G @ x, 80, kernel_dim=0)
    res = lanczos(A, 1, M=M, tol=1e-10, cg_max_iter=2)
    assert not res.converged and "conjugate-gradient" in res.message


def test_indefinite_metric_raises(problem):
    A, _, G = problem
    bad = LinearOperator(lambda x: G @ x - 2.0 * x[0] * np.eye(80)[0] * 50, 80, kernel_dim=0)
    with pytest.raises(NotPositiveDefiniteError):
        lanczos(A, 1, M=bad, tol=1e-10)
    with pytest.raises(NotPositiveDefiniteError):
        lanczos(A, 1, M=-G)


def test_seeded_and_reproducible(problem):
    A, _, G = problem
    a = lanczos(A, 2, M=G, tol=1e-3, seed=7)
    b = lanczos(A, 2, M=G, tol=1e-3, seed=7)
    c = lanczos(A, 2, M=G, tol=1e-3, seed=8)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert not np.array_equal(a.eigenvalues, c.eigenvalues)


def test_breakdown_restarts_find_repeated_eigenvalues():
    """Few distinct eigenvalues: the Krylov space becomes invariant early (breakdown); restarting
    from a fresh orthogonal vector still finds every copy of a repeated top eigenvalue."""
    rng = np.random.default_rng(2)
    lam = np.r_[np.full(5, 1.0), np.full(3, 4.0)]
    A = with_spectrum(rng, lam)
    res = lanczos(A, 3, tol=1e-10)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, [4.0, 4.0, 4.0], rtol=RTOL)


def test_bad_arguments(problem):
    A, _, _ = problem
    with pytest.raises(ValueError, match="which"):
        lanczos(A, which="top")
    with pytest.raises(ValueError, match="k must be"):
        lanczos(A, 0)
    with pytest.raises(ValueError, match="tol"):
        lanczos(A, tol=0.0)
    with pytest.raises(ValueError, match="v0"):
        lanczos(A, v0=np.ones(3))
