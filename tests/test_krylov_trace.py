"""The Lanczos-sketch trace (``krylov_hutchpp``), resumable Krylov runs, and Lanczos on a singular
metric's whole range — each against dense float64 references built here from scratch."""

import numpy as np
import pytest
import scipy.linalg

from rgeom.linalg import (
    LinearOperator,
    aslinearoperator,
    hutchpp,
    krylov_hutchpp,
    lanczos,
    metric_from_matrix,
    slq,
)
from rgeom.linalg.generalized import Pencil
from rgeom.linalg.lanczos import KrylovRun

D = 60
SEEDS = range(6)


def _spd(rng, d, cond=30.0):
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return U @ np.diag(np.geomspace(1.0, cond, d)) @ U.T


def _sym(rng, d):
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]
    lam = rng.normal(size=d) * np.geomspace(10.0, 0.01, d)  # decaying, indefinite
    return U @ np.diag(lam) @ U.T


def _singular(rng, d, r):
    """A PSD metric of rank d − r, its kernel basis K and the projector on its range."""
    K = np.linalg.qr(rng.normal(size=(d, r)))[0]
    P = np.eye(d) - K @ K.T
    return P @ _spd(rng, d) @ P, K, P


def _cg_metric(G):
    """The metric with products only (no solve, no factor): the Pencil's M-inner mode with CG."""
    return LinearOperator(lambda x: G @ x, G.shape[0], kernel_dim=0, name="cg-only")


def _range_truth(H, G, K=None):
    """Eigenvalues of H v = λ G v on the range of G (orthonormal basis of K⊥)."""
    U = np.eye(H.shape[0]) if K is None else scipy.linalg.null_space(K.T)
    return scipy.linalg.eigh(U.T @ H @ U, U.T @ G @ U, eigvals_only=True)


def _cases():
    rng = np.random.default_rng(0)
    H = _sym(rng, D)
    G = _spd(rng, D)
    Gs, K, _ = _singular(rng, D, 4)
    return {
        "standard": (H, None, np.linalg.eigvalsh(H)),
        "whitened": (H, metric_from_matrix(G), _range_truth(H, G)),
        "whitened-singular": (H, metric_from_matrix(Gs), _range_truth(H, Gs, K)),
        "metric-inner-cg": (H, _cg_metric(G), _range_truth(H, G)),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_krylov_hutchpp_within_three_stderr_and_exact_on_the_whole_range(name):
    H, M, lam = CASES[name]
    tr = float(lam.sum())
    for seed in SEEDS:
        est = krylov_hutchpp(H, 24, M=M, seed=seed, progress=False)
        assert est.converged and est.n_probes == 12 and est.n_matvecs == 24, (name, seed)
        assert 0 < est.stderr and abs(est.value - tr) <= 3 * est.stderr, (name, seed, est.value, tr, est.stderr)
    # a Krylov space as large as the range: T is E on the range, the trace is exact (no probes)
    r = lam.size
    est = krylov_hutchpp(H, 2 * r, M=M, seed=0, progress=False)
    assert est.stderr == 0.0 and est.n_probes == 0
    # rounding of r Lanczos steps (partial reorthogonalisation, √ε semi-orthogonality), with CG
    # solves to 1e-10 in the M-inner mode: 1e-8 of Σ|λ| leaves two orders of margin
    assert abs(est.value - tr) <= 1e-8 * np.abs(lam).sum(), (name, est.value, tr)


@pytest.mark.parametrize("name", ["standard", "whitened-singular"])
def test_reused_lanczos_run_is_paid_once(name):
    H, M, lam = CASES[name]
    tr = float(lam.sum())
    for seed in SEEDS:
        top = lanczos(H, 1, M=M, tol=1e-6, seed=100 + seed, keep_krylov=True, progress=False)
        np.testing.assert_allclose(top.eigenvalues[-1], lam.max(), rtol=1e-6)
        steps = top.n_steps
        est = krylov_hutchpp(H, 30, M=M, seed=seed, reuse=top, progress=False)
        m = max(steps, 15)
        probes = max(30 - m, 30 // 4)
        assert est.n_probes == probes and est.n_matvecs == m - steps + probes, (seed, steps, est)
        assert f"{m} Lanczos dims, {steps} reused" in est.method
        assert abs(est.value - tr) <= 3 * est.stderr, (name, seed, est.value, tr, est.stderr)


def test_lanczos_sketch_beats_random_sketch_on_a_decaying_spectrum():
    """Equal budget (30 products), λᵢ = 1/i²: a 15-dim Krylov space deflates more of the top than
    Hutch++'s 10-column sketch (which pays two products per column). RMS error over 20 seeds."""
    rng = np.random.default_rng(3)
    d = 300
    U = np.linalg.qr(rng.normal(size=(d, d)))[0]
    lam = 1.0 / np.arange(1.0, d + 1) ** 2
    A = aslinearoperator(U @ np.diag(lam) @ U.T)
    err = lambda f: np.sqrt(np.mean([(f(A, 30, seed=s, progress=False).value - lam.sum()) ** 2  # noqa: E731
                                     for s in range(20)]))
    e_krylov, e_random = err(krylov_hutchpp), err(hutchpp)
    assert e_krylov < 0.75 * e_random, (e_krylov, e_random)  # measured: 0.0054 vs 0.0094


def test_extended_run_equals_one_long_run():
    H, M, _ = CASES["whitened"]
    v0 = np.random.default_rng(7).normal(size=D)
    one = KrylovRun(Pencil(aslinearoperator(H), M), v0).extend(20)
    two = KrylovRun(Pencil(aslinearoperator(H), M), v0).extend(8).extend(13).extend(20)
    assert one.m == two.m == 20
    np.testing.assert_array_equal(one.alpha, two.alpha)
    np.testing.assert_array_equal(one.beta, two.beta)
    np.testing.assert_array_equal(one.basis.Q[:20], two.basis.Q[:20])


@pytest.mark.parametrize("M_kind", ["whitened", "metric-inner"])
def test_lanczos_over_the_whole_range_of_a_singular_metric_stays_in_it(M_kind):
    """Regression: near the end of the range, small β's amplify the rounding-level kernel part of
    the Lanczos vectors until the basis leaves the range (before the fix: tr T off by 0.6%, Ritz
    values wrong). All eigenvalues of the pencil, and the nodes of an SLQ probe run that long, exact."""
    rng = np.random.default_rng(11)
    d, r = 80, 5
    H = _spd(rng, d, cond=1e3)
    G, K, P = _singular(rng, d, r)
    lam = _range_truth(H, G, K)
    if M_kind == "whitened":
        M = metric_from_matrix(G)
    else:  # products and the range projector only: CG solves in the M-inner product
        M = LinearOperator(lambda x: G @ x, d, project=lambda x: P @ x, kernel_dim=r, name="singular-cg")
    run = KrylovRun(Pencil(aslinearoperator(H), M), rng.normal(size=d)).extend(d)
    assert run.m == d - r and run.finished
    Q = run.basis.Q[: run.m]
    assert np.abs(Q @ K).max() < 1e-8  # the basis lies in the range (rounding, √ε-level at most)
    theta = scipy.linalg.eigh_tridiagonal(run.alpha, run.beta[: run.m - 1], eigvals_only=True)
    np.testing.assert_allclose(theta, lam, rtol=1e-8)
    res = slq(H, M=M, n_probes=2, lanczos_steps=d, seed=0, progress=False)
    for nodes in res.nodes:  # every eigenvalue once, no ghost zero
        np.testing.assert_allclose(np.sort(nodes), lam, rtol=1e-8)


def test_bad_arguments_are_named():
    H, M, _ = CASES["whitened"]
    with pytest.raises(ValueError, match="n_matvecs"):
        krylov_hutchpp(H, 5, progress=False)
    with pytest.raises(ValueError, match="sketch_fraction"):
        krylov_hutchpp(H, 30, sketch_fraction=1.0, progress=False)
    plain = lanczos(H, 1, M=M, tol=1e-4, progress=False)
    with pytest.raises(ValueError, match="keep_krylov"):
        krylov_hutchpp(H, 30, M=M, reuse=plain, progress=False)
    kept = lanczos(H, 1, M=M, tol=1e-4, keep_krylov=True, progress=False)
    with pytest.raises(ValueError, match="other operators"):
        krylov_hutchpp(H, 30, reuse=kept, progress=False)  # metric forgotten
    with pytest.raises(ValueError, match="other operators"):
        krylov_hutchpp(np.eye(D + 1), 30, M=M, reuse=kept, progress=False)
