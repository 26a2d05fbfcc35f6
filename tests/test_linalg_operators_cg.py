"""Linear-operator adapters, conjugate gradients and the dense reference of the spectral engine.

References are dense float64 NumPy computations (np.linalg.solve / pinv / eigh, scipy eigh(H, G)).
Tolerances: d ≤ 60, condition numbers ≤ 1e3, so float64 direct solves are accurate to ~1e-13
relative; iterative solves are asked for 1e-12 and checked at 1e-9.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg

import rgeom
from rgeom.errors import DenseSizeError, NotPositiveDefiniteError, ShapeError
from rgeom.linalg import (
    LinearOperator,
    aslinearoperator,
    cg,
    cg_pinv,
    damped,
    dense_eigh,
    from_metric_at,
    metric_from_matrix,
    to_scipy,
)


def spd(rng, d, cond=100.0):
    Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return Q @ np.diag(np.geomspace(1.0, cond, d)) @ Q.T


def test_operator_counts_shapes_and_scipy_export():
    rng = np.random.default_rng(0)
    A = spd(rng, 7)
    op = aslinearoperator(A)
    x = rng.normal(size=7)
    np.testing.assert_allclose(op.mv(x), A @ x, rtol=1e-14)
    np.testing.assert_allclose(op.as_matrix(), A, rtol=1e-14)
    assert op.counts["mv"] == 8
    with pytest.raises(ShapeError, match="shape"):
        op.mv(np.ones(6))
    S = to_scipy(op)
    lam = scipy.sparse.linalg.eigsh(S, k=2, which="LA", tol=1e-12)[0]
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(A)[-2:], rtol=1e-10)
    # and back from a scipy operator
    np.testing.assert_allclose(aslinearoperator(S).mv(x), A @ x, rtol=1e-14)
    with pytest.raises(ValueError, match="dim="):
        aslinearoperator(lambda v: v)
    with pytest.raises(TypeError, match="expected"):
        aslinearoperator("A")


def test_from_metric_at_dense_diagonal_pullback(bk, to_np):
    xp = bk.xp
    th = bk.asarray(np.array([0.3, -0.4, 1.1]))
    dense = rgeom.metrics.Dense(
        lambda t: xp.eye(3) * (1.0 + xp.sum(t * t)) + xp.outer(xp.sin(t), xp.sin(t))
    )
    diag = rgeom.metrics.Diagonal(lambda t: 1.0 + t**2)
    pull = rgeom.pullback(rgeom.metrics.Euclidean(3), rgeom.maps.Exp())
    x = np.array([1.0, -2.0, 0.5])
    for metric in (dense, diag, pull):
        G = to_np(metric.at(th).as_matrix())
        op = from_metric_at(metric.at(th))
        assert op.kernel_dim == 0
        np.testing.assert_allclose(op.mv(x), G @ x, rtol=1e-12)
        np.testing.assert_allclose(op.solve(x), np.linalg.solve(G, x), rtol=1e-10)
    w = from_metric_at(diag.at(th))
    np.testing.assert_allclose(
        w.whiten(w.whiten(x)), np.linalg.solve(to_np(diag.at(th).as_matrix()), x), rtol=1e-12
    )
    assert from_metric_at(rgeom.metrics.Euclidean(3).at(th)).is_identity


def test_metric_from_matrix_and_damping():
    rng = np.random.default_rng(1)
    B = rng.normal(size=(6, 4))
    G = B @ B.T  # rank 4, kernel 2
    op = metric_from_matrix(G)
    assert op.kernel_dim == 2
    x = rng.normal(size=6)
    np.testing.assert_allclose(op.solve(x), np.linalg.pinv(G) @ x, rtol=1e-9, atol=1e-12)
    P = G @ np.linalg.pinv(G)
    np.testing.assert_allclose(op.project(x), P @ x, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(op.whiten(op.unwhiten(x)), P @ x, rtol=1e-9, atol=1e-12)
    dmp = damped(aslinearoperator(G), 0.5)
    assert dmp.damping == 0.5 and dmp.kernel_dim == 0 and not dmp.has_solve
    np.testing.assert_allclose(dmp.mv(x), (G + 0.5 * np.eye(6)) @ x, rtol=1e-13)
    with pytest.raises(NotPositiveDefiniteError, match="semi-definite"):
        metric_from_matrix(np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="damping"):
        damped(op, -1.0)


def test_cg_matches_direct_solve_and_reports_status():
    rng = np.random.default_rng(2)
    A = spd(rng, 40, cond=1e3)
    b = rng.normal(size=40)
    res = cg(A, b, rtol=1e-12)
    assert res.converged and res.n_iter <= 200
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-9)
    short = cg(A, b, rtol=1e-12, max_iter=3)
    assert not short.converged and "max_iter=3" in short.message
    # a preconditioner (exact inverse of the diagonal) changes nothing in the answer
    pre = cg(A, b, rtol=1e-12, preconditioner=lambda r: r / np.diag(A))
    np.testing.assert_allclose(pre.x, np.linalg.solve(A, b), rtol=1e-9)


def test_cg_indefinite_raises():
    A = np.diag([3.0, 2.0, -1.0])
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        cg(A, np.ones(3), name="my metric")


def test_cg_pinv_is_minimum_norm_least_squares():
    rng = np.random.default_rng(3)
    B = rng.normal(size=(12, 8))
    A = B @ B.T / 8  # rank 8 in R^12
    b = rng.normal(size=12)  # not in the range
    res = cg_pinv(A, b, rtol=1e-13)
    assert res.converged
    np.testing.assert_allclose(res.x, np.linalg.pinv(A) @ b, rtol=1e-8, atol=1e-10)
    plain = cg(A, b, rtol=1e-13, max_iter=200)  # inconsistent system: plain CG cannot converge
    assert not plain.converged


def test_dense_eigh_reference_and_errors():
    rng = np.random.default_rng(4)
    H = rng.normal(size=(9, 9))
    H = H + H.T
    G = spd(rng, 9)
    res = dense_eigh(H, G)
    np.testing.assert_allclose(
        res.eigenvalues, scipy.linalg.eigh(H, G, eigvals_only=True), rtol=1e-12
    )
    V = res.eigenvectors
    np.testing.assert_allclose(V.T @ G @ V, np.eye(9), atol=1e-10)
    # singular G: the range problem and the Hessian's component on the kernel
    K = np.linalg.qr(rng.normal(size=(9, 2)))[0]
    P = np.eye(9) - K @ K.T
    Gs = P @ G @ P
    sing = dense_eigh(H, Gs)
    assert sing.kernel_dim == 2 and sing.eigenvalues.size == 7
    assert sing.hessian_kernel_norm == pytest.approx(np.linalg.norm(H @ K), rel=1e-10)
    U = np.linalg.qr(np.c_[K, rng.normal(size=(9, 7))])[0][:, 2:]  # a basis of the range
    ref = scipy.linalg.eigh(U.T @ H @ U, U.T @ Gs @ U, eigvals_only=True)
    np.testing.assert_allclose(sing.eigenvalues, ref, rtol=1e-9)
    with pytest.raises(NotPositiveDefiniteError):
        dense_eigh(H, -G)
    with pytest.raises(ArithmeticError, match="not symmetric"):
        dense_eigh(H + np.triu(np.ones((9, 9)), 1), G)
    with pytest.raises(DenseSizeError):
        dense_eigh(H, G, max_dense_dim=5)


def test_linear_operator_rejects_bad_arguments():
    with pytest.raises(TypeError, match="mv must be callable"):
        LinearOperator(3, 2)
    with pytest.raises(ValueError, match="dim"):
        LinearOperator(lambda x: x, 0)
    with pytest.raises(NotImplementedError, match="no exact solve"):
        LinearOperator(lambda x: x, 2).solve(np.ones(2))
