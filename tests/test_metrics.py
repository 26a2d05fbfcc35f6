"""Metric operators against dense float64 references built independently with NumPy.

Tolerance 1e-12 relative: d ≤ 4 and condition numbers ≤ 1e2, so solves lose ≤ 2 digits.
"""

import autograd.numpy as anp
import numpy as np
import pytest

from rgeom import maps, metrics

A = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])


def dense_fn(th):
    """A non-constant SPD field: A + diag(exp(θ)) + outer(sin θ)."""
    from rgeom.backend import get_backend

    bk = get_backend(None, th)
    xp = bk.xp
    s = xp.sin(th)
    return bk.asarray(A) + xp.diag(xp.exp(th)) + xp.outer(s, s)


def dense_ref(th):
    s = np.sin(th)
    return A + np.diag(np.exp(th)) + np.outer(s, s)


def check_operator(G_at, Gref, to_np, bk):
    d = Gref.shape[0]
    u = bk.asarray(np.linspace(-1.0, 1.0, d) + 0.3)
    np.testing.assert_allclose(to_np(G_at.mv(u)), Gref @ to_np(u), rtol=1e-12)
    np.testing.assert_allclose(to_np(G_at.solve(u)), np.linalg.solve(Gref, to_np(u)), rtol=1e-11)
    np.testing.assert_allclose(float(G_at.logdet()), np.linalg.slogdet(Gref)[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_np(G_at.as_matrix()), Gref, rtol=1e-12, atol=1e-14)


def test_euclidean(bk, to_np):
    th = bk.asarray(np.array([0.1, 0.2, 0.3]))
    check_operator(metrics.Euclidean(3).at(th), np.eye(3), to_np, bk)


def test_diagonal(bk, to_np):
    xp = bk.xp
    G = metrics.Diagonal(lambda th: xp.exp(th) + 1.0)
    th = np.array([0.1, -0.2, 0.3])
    check_operator(G.at(bk.asarray(th)), np.diag(np.exp(th) + 1.0), to_np, bk)


def test_dense(bk, to_np):
    th = np.array([0.1, -0.2, 0.3])
    check_operator(metrics.Dense(dense_fn).at(bk.asarray(th)), dense_ref(th), to_np, bk)


@pytest.mark.parametrize("g, psi", [
    (maps.Polar(), [2.0, 0.4]),
    (maps.Affine([[2.0, 1.0], [0.0, 1.0]], [0.1, 0.0]), [0.3, -0.4]),
    (maps.AffineCoupling([True, False], [[0.5]], [[0.2]]), [0.3, -0.4]),
])
def test_pullback_of_dense(g, psi, bk, to_np):
    base = metrics.Dense(lambda th: dense_fn(bk.xp.concatenate([th, th[:1]]))[:2, :2])
    psi = bk.asarray(np.array(psi))
    th = to_np(g(psi))
    J = to_np(bk.jacobian(g.forward, psi))
    Gref = J.T @ dense_ref(np.concatenate([th, th[:1]]))[:2, :2] @ J
    check_operator(metrics.Pullback(base, g).at(psi), Gref, to_np, bk)
    # the differentiable matvec agrees with the operator
    u = bk.asarray(np.array([0.7, -0.1]))
    np.testing.assert_allclose(to_np(metrics.Pullback(base, g).matvec(psi, u)), Gref @ to_np(u), rtol=1e-12)


def test_polar_pullback_is_diag_one_r_squared():
    G = metrics.Pullback(metrics.Euclidean(2), maps.Polar()).at(np.array([3.0, 1.1]))
    np.testing.assert_allclose(G.as_matrix(), np.diag([1.0, 9.0]), atol=1e-14)
    assert abs(G.logdet() - np.log(9.0)) < 1e-14


def test_inner_and_matrix_helpers():
    G = metrics.Dense(dense_fn)
    th, u, v = np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.0, 2.0]), np.array([0.5, 1.0, -1.0])
    assert abs(G.inner(th, u, v) - u @ dense_ref(th) @ v) < 1e-13
    np.testing.assert_allclose(metrics.Diagonal(anp.exp).matrix(th), np.diag(np.exp(th)), rtol=1e-15)
