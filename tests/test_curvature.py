"""The Riemannian Hessian, shape operator and flatness: the issue's figures on every backend.

References: the closed-form loss ½(x−1)² + 2(y−1)² has Euclidean Hessian diag(1, 4) in θ, so its
invariant spectrum is {1, 4} everywhere; naive values are from an independent NumPy computation
of J, ∂²θ/∂ψ² and the chain rule. Tolerances: float64, d = 2 → 1e-12.
"""

import subprocess
import sys

import numpy as np
import pytest

import rgeom

NAIVE_EIGS = [1.2877855, 6.2122145]          # issue figures, 8 significant digits
NONCRITICAL_NAIVE_G = [1.1258818, 3.6388241]


def quadratic(bk):
    return lambda th: 0.5 * (th[0] - 1.0) ** 2 + 2.0 * (th[1] - 1.0) ** 2


def setup(bk, theta):
    polar = rgeom.maps.Polar()
    psi = polar.inverse(bk.asarray(np.array(theta)))
    G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
    L = rgeom.pullback(quadratic(bk), polar)
    return polar, psi, G, L


def naive_reference(theta):
    """∂²(L∘g) = Jᵀ H J + Σₖ ∂ₖL ∂²θᵏ/∂ψ², by hand for polar coordinates."""
    x, y = theta
    r, phi = np.hypot(x, y), np.arctan2(y, x)
    J = np.array([[np.cos(phi), -r * np.sin(phi)], [np.sin(phi), r * np.cos(phi)]])
    d2x = np.array([[0.0, -np.sin(phi)], [-np.sin(phi), -r * np.cos(phi)]])
    d2y = np.array([[0.0, np.cos(phi)], [np.cos(phi), -r * np.sin(phi)]])
    grad = np.array([x - 1.0, 4.0 * (y - 1.0)])
    return J.T @ np.diag([1.0, 4.0]) @ J + grad[0] * d2x + grad[1] * d2y, J


def test_issue_script_values(bk):
    _, psi, G, L = setup(bk, [1.0, 1.0])
    inv, naive = rgeom.flatness(L, psi, metric=G), rgeom.flatness(L, psi)
    np.testing.assert_allclose(inv.eigenvalues, [1.0, 4.0], rtol=1e-12)
    assert abs(inv.trace - 5.0) < 1e-12 and abs(inv.logdet - np.log(4.0)) < 1e-12
    assert inv.max_eigenvalue == pytest.approx(4.0, rel=1e-12) and inv.sign == 1.0
    np.testing.assert_allclose(naive.eigenvalues, NAIVE_EIGS, atol=5e-8)
    assert abs(naive.trace - 7.5) < 1e-12
    H_ref, _ = naive_reference([1.0, 1.0])
    np.testing.assert_allclose(naive.eigenvalues, np.linalg.eigvalsh(H_ref), rtol=1e-12)
    assert inv.backend == bk.name and inv.dtype == "float64"
    assert "eigenvalues" in str(inv) and "trace" in str(inv)


def test_noncritical_point(bk, to_np):
    polar, psi, G, L = setup(bk, [2.0, 0.5])
    no_chr = rgeom.flatness(L, psi, metric=G, christoffel=False)
    np.testing.assert_allclose(no_chr.eigenvalues, NONCRITICAL_NAIVE_G, atol=5e-8)
    H_ref, J = naive_reference([2.0, 0.5])
    Gm = J.T @ J
    np.testing.assert_allclose(no_chr.eigenvalues, np.sort(np.linalg.eigvals(np.linalg.solve(Gm, H_ref)).real), rtol=1e-12)
    inv = rgeom.flatness(L, psi, metric=G)
    np.testing.assert_allclose(inv.eigenvalues, [1.0, 4.0], rtol=1e-12)
    assert inv.gradient_norm == pytest.approx(np.hypot(1.0, 4.0 * 0.5), rel=1e-12)  # |∇L| in θ
    H = to_np(rgeom.riemannian_hessian(L, G, psi).as_matrix())
    assert np.abs(H - J.T @ np.diag([1.0, 4.0]) @ J).max() < 1e-12


def test_riemannian_hessian_matches_dense_christoffel_route(bk, to_np):
    """Matrix-free Hess v = ∂²L v − Γᵏ(·, v) ∂ₖL against ∂²L − Σₖ Γ[k] ∂ₖL from the dense Γ."""
    xp = bk.xp
    G = rgeom.metrics.Dense(lambda th: xp.eye(3) * (1.0 + xp.sum(th * th)) + xp.outer(xp.sin(th), xp.sin(th)))
    loss = lambda th: xp.sum(xp.cos(th) * th) + th[0] * th[1] * th[2]  # noqa: E731
    th = bk.asarray(np.array([0.3, -0.5, 0.8]))
    Gam = to_np(rgeom.christoffel(G, th))
    grad = to_np(bk.grad(loss, th))
    ref = to_np(bk.hessian(loss, th)) - np.einsum("kij,k->ij", Gam, grad)
    H = rgeom.riemannian_hessian(loss, G, th)
    np.testing.assert_allclose(to_np(H.as_matrix()), ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(np.asarray(H), np.asarray(H).T, atol=1e-12)  # Levi-Civita: symmetric
    E = rgeom.shape_operator(loss, G, th)
    np.testing.assert_allclose(to_np(E.as_matrix()), np.linalg.solve(to_np(G.fn(th)), ref), rtol=1e-10, atol=1e-12)


def test_natural_gradient_and_index_gymnastics(bk, to_np):
    polar, psi, G, L = setup(bk, [2.0, 0.5])
    ng = rgeom.natural_gradient(L, G, psi)
    # pushed forward it is the Euclidean gradient in θ
    pushed = rgeom.pushforward(ng, polar)
    np.testing.assert_allclose(pushed.numpy(), [1.0, 4.0 * -0.5], rtol=1e-12)
    dL = rgeom.gradient(L, psi)
    np.testing.assert_allclose(rgeom.flat(G, ng).numpy(), dL.numpy(), rtol=1e-12)
    assert float(dL(ng)) == pytest.approx(1.0 + 4.0, rel=1e-12)   # |∇L|²_G is a scalar


def test_flatness_naive_metric_none_equals_euclidean():
    L = lambda th: np.sum(np.sin(th) * th)  # noqa: E731
    th = np.array([0.4, 1.3, -0.7])
    a = rgeom.flatness(L, th)
    b = rgeom.flatness(L, th, metric=rgeom.metrics.Euclidean(3))
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-14)
    assert a.metric.endswith("[naive]")


def test_indefinite_hessian_reports_sign():
    L = lambda th: th[0] ** 2 - 3.0 * th[1] ** 2  # noqa: E731
    f = rgeom.flatness(L, np.zeros(2))
    assert f.sign == -1.0 and abs(f.logdet - np.log(12.0)) < 1e-12
    assert f.as_dict()["eigenvalues"] == [-6.0, 2.0]


def test_demo_cli_runs():
    out = subprocess.run([sys.executable, "-m", "rgeom.cli", "demo"], capture_output=True, text=True, check=True)
    assert "[1. 4.]" in out.stdout and "1.2877855 6.2122145" in out.stdout
    out = subprocess.run([sys.executable, "-m", "rgeom.cli", "demo", "--json"], capture_output=True, text=True, check=True)
    import json

    payload = json.loads(out.stdout)
    dinh = payload["dinh"]
    assert dinh[2]["naive"]["trace"] > 1e3 * dinh[0]["naive"]["trace"]
    assert dinh[2]["invariant"]["trace"] == pytest.approx(dinh[0]["invariant"]["trace"], rel=1e-9)
