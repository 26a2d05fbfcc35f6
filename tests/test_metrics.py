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


# -- output-space metrics through their thin factor G = B Bᵀ (range_method="factor") ----------
def _factor_setup(loss_name="cross-entropy", n=12):
    """A 5-12-3 tanh MLP (D = 111) on N = 12 points: N·C = 36 < D, so G has rank ≤ 36 (≤ 24 for
    cross-entropy, whose output Hessian has the softmax shift in its kernel). The reference G is
    built from scratch: full output Jacobians (autograd) and the closed-form Λ."""
    import autograd

    from rgeom.models import mlp

    rng = np.random.default_rng(4)
    X = rng.normal(size=(n, 5))
    y = rng.integers(0, 3, n) if loss_name == "cross-entropy" else rng.normal(size=(n, 3))
    net = mlp([5, 12, 3], activation="tanh", seed=2)
    J = autograd.jacobian(lambda t: net.apply(t, X))(net.theta)  # (N, C, D)
    if loss_name == "cross-entropy":
        F = net(X)
        p = np.exp(F - F.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        Lam = np.einsum("nc,cd->ncd", p, np.eye(3)) - np.einsum("nc,nd->ncd", p, p)
    else:  # gaussian, sigma = 1: Λ = I
        Lam = np.broadcast_to(np.eye(3), (n, 3, 3))
    G = np.einsum("nci,ncd,ndj->ij", J, Lam, J) / n
    return net, (X, y), 0.5 * (G + G.T)


@pytest.mark.parametrize("loss_name", ["cross-entropy", "gaussian"])
def test_factored_fisher_matches_dense_pseudo_inverse(loss_name):
    """Factor route vs NumPy on the independent dense G. Tolerances: G's non-zero eigenvalues span
    ~1e5 here (cond² ~1e10 for solve); float64 SVD of a 111 × 36 factor leaves ~1e-12 relative in
    λ and ~ε·cond in solves, so 1e-8 relative (solve) and 1e-10 (products) have wide margins."""
    from rgeom.linalg.dense import equilibrated_range
    from rgeom.metrics.fisher import GGN, FactoredAt, Fisher

    net, data, Gref = _factor_setup(loss_name)
    _, K, _ = equilibrated_range(Gref)
    lam, V = np.linalg.eigh(Gref)
    live = np.ones(lam.size, bool)
    live[np.argsort(lam)[: K.shape[1]]] = False  # the dense reference's kernel count
    P = V[:, live] @ V[:, live].T
    pinv = V[:, live] @ np.diag(1.0 / lam[live]) @ V[:, live].T
    x = np.random.default_rng(5).normal(size=net.dim)
    cls = Fisher if loss_name == "cross-entropy" else GGN
    G = cls(net, loss_name, data, range_method="factor").at(net.theta)
    assert isinstance(G, FactoredAt)
    assert G.kernel_dim == K.shape[1] == net.dim - (24 if loss_name == "cross-entropy" else 36)
    np.testing.assert_allclose(G.mv(x), Gref @ x, rtol=1e-10, atol=1e-14 * np.abs(Gref).max())
    np.testing.assert_allclose(G.project(x), P @ x, atol=1e-10 * np.linalg.norm(x))
    np.testing.assert_allclose(G.solve(x), pinv @ x, rtol=1e-8, atol=1e-8 * np.linalg.norm(pinv @ x))
    np.testing.assert_allclose(G.whiten(G.whiten(x)), pinv @ x, rtol=1e-8, atol=1e-8 * np.linalg.norm(pinv @ x))
    np.testing.assert_allclose(G.unwhiten(G.unwhiten(x)), Gref @ x, rtol=1e-8, atol=1e-10 * np.linalg.norm(Gref @ x))
    assert G.logdet() == pytest.approx(np.sum(np.log(lam[live])), rel=1e-10)
    # damped: (G + δI)⁻¹ and log det(G + δI) exactly, no kernel
    Gd = G.damped(0.1)
    assert Gd.kernel_dim == 0
    np.testing.assert_allclose(Gd.solve(x), np.linalg.solve(Gref + 0.1 * np.eye(net.dim), x), rtol=1e-9)
    assert Gd.logdet() == pytest.approx(np.linalg.slogdet(Gref + 0.1 * np.eye(net.dim))[1], rel=1e-10)


def test_factored_metric_drives_the_whitened_engine():
    """Top eigenvalues of G⁺∂²L through the factor (whitened Lanczos, no CG) match the dense
    eigh on range G (Lanczos tol 1e-11 → 1e-8 relative with margin); the kernel dimension is
    reported."""
    import autograd

    from rgeom.flatness import flatness
    from rgeom.linalg import dense_eigh
    from rgeom.metrics.fisher import Fisher
    from rgeom.models import Problem

    net, data, Gref = _factor_setup("cross-entropy")
    prob = Problem(net, "cross-entropy", data)
    H = autograd.hessian(prob.objective)(net.theta)
    ref = dense_eigh(H, Gref, complement="orthogonal")
    f = flatness(prob.objective, net.theta, Fisher(prob, range_method="factor"), method="lanczos", k=3,
                 measures=["max_eigenvalue"], christoffel=False, tol=1e-11, progress=False)
    assert f.converged and "whitened" in f.measures["max_eigenvalue"].method
    assert f.kernel_dim == ref.kernel_dim
    np.testing.assert_allclose(f.eigenvalues, ref.eigenvalues[-3:], rtol=1e-8)


def test_range_method_is_validated():
    from rgeom.metrics.fisher import GGN

    net, data, _ = _factor_setup("gaussian")
    with pytest.raises(ValueError, match="range_method must be one of"):
        GGN(net, "gaussian", data, range_method="svd")
    # "none" (what D > 2000 without a thin factor gets): mv only, kernel unknown — no crash in
    # the engine's metric view (kernel_basis used to raise there)
    from rgeom.linalg import from_metric_at

    op = from_metric_at(GGN(net, "gaussian", data, range_method="none").at(net.theta))
    assert op.kernel_dim is None and op.kernel_basis is None and not op.has_solve
