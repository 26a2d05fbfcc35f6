"""Maps: closed forms, round trips, and tangents against dense Jacobians, on every backend.

Tolerances: float64 on d ≤ 4 with condition numbers below 1e3 → 1e-12 relative for closed
forms; 1e-7 for central finite differences with step 1e-6 (truncation O(h²) ≈ 1e-12 times
third derivatives of order 1, round-off ≈ 1e-16/1e-6 = 1e-10).
"""

import numpy as np
import pytest

import rgeom
from rgeom import maps

CASES = [
    (maps.Polar(), [1.3, 0.4]),
    (maps.Spherical(), [1.3, 0.7, 0.4]),
    (maps.Exp(), [0.1, -0.2, 0.5]),
    (maps.Softplus(), [0.1, -2.0, 3.0]),
    (maps.Sinh(2.0), [0.3, -1.0]),
    (maps.Scale([2.0, -3.0]), [1.0, 0.5]),
    (maps.LayerRescaling([2, 1], [10.0, 0.1]), [1.0, 2.0, 3.0]),
    (maps.Affine([[2.0, 1.0], [0.5, 1.0]], [1.0, 2.0]), [0.3, 0.4]),
    (maps.AffineCoupling([True, False, True], [[0.3, 0.2]], [[0.1, -0.4]]), [0.2, 0.5, -1.0]),
    (maps.Exp() @ maps.Affine([[2.0, 1.0], [0.0, 1.0]]), [0.1, 0.2]),
    (maps.Affine([[2.0, 1.0], [0.0, 1.0]]).inv, [0.1, 0.2]),
    (maps.Sinh(1.5) @ maps.AffineCoupling([False, True], [[0.7]], [[-0.2]]) @ maps.Scale(3.0), [0.2, -0.4]),
]
IDS = [repr(g) for g, _ in CASES]


def fd_jacobian(f, x, h=1e-6):
    """Central finite differences with NumPy only: an independent reference for autodiff."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, 1)


@pytest.mark.parametrize("g, x", CASES, ids=IDS)
def test_tangents_match_finite_differences(g, x):
    x = np.array(x)
    J = fd_jacobian(g.forward, x)
    np.testing.assert_allclose(np.asarray(g.jacobian(x)), J, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(float(g.log_abs_det_jacobian(x)), np.linalg.slogdet(J)[1], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("g, x", CASES, ids=IDS)
def test_map_interface_on_every_backend(g, x, bk, to_np):
    x = bk.asarray(np.array(x))
    u = bk.asarray(np.linspace(0.3, 1.0, x.shape[0]))
    J = to_np(bk.jacobian(g.forward, x))
    th = g(x)
    np.testing.assert_allclose(to_np(g.inverse(th)), to_np(x), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(to_np(g.jvp(x, u)), J @ to_np(u), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(to_np(g.vjp(x, u)), J.T @ to_np(u), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(to_np(g.inverse_jvp(th, u)), np.linalg.solve(J, to_np(u)), rtol=1e-11)
    np.testing.assert_allclose(to_np(g.inverse_vjp(th, u)), np.linalg.solve(J.T, to_np(u)), rtol=1e-11)
    np.testing.assert_allclose(float(g.log_abs_det_jacobian(x)), np.linalg.slogdet(J)[1], rtol=1e-12, atol=1e-13)
    # the inverse map is a map with the reciprocal Jacobian
    np.testing.assert_allclose(float(g.inv.log_abs_det_jacobian(th)), -np.linalg.slogdet(J)[1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(to_np(g.inv.inv(x)), to_np(th), rtol=1e-15)
    assert g.check_invertible(x) is x


def test_polar_closed_forms():
    r, phi = 2.0, 0.7
    g = maps.Polar()
    J = np.array([[np.cos(phi), -r * np.sin(phi)], [np.sin(phi), r * np.cos(phi)]])
    np.testing.assert_allclose(g.jacobian(np.array([r, phi])), J, rtol=1e-15)
    assert abs(g.log_abs_det_jacobian(np.array([r, phi])) - np.log(r)) < 1e-15
    np.testing.assert_allclose(g.inverse(np.array([-1.0, 1e-300])), [1.0, np.pi], rtol=1e-15)


def test_spherical_closed_form_volume():
    psi = np.array([2.0, 0.3, -1.1])
    assert abs(maps.Spherical().log_abs_det_jacobian(psi) - np.log(4.0 * np.sin(0.3))) < 1e-14


def test_dinh_factors_preserve_relu_function():
    rng = np.random.default_rng(0)
    W1, w2, X = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(5, 2))
    theta = np.concatenate([W1.ravel(), w2])
    g = maps.LayerRescaling.dinh([6, 3], alpha=7.0)
    t2 = g(theta)
    f = lambda th: np.maximum(X @ th[:6].reshape(3, 2).T, 0) @ th[6:]  # noqa: E731
    np.testing.assert_allclose(f(t2), f(theta), rtol=1e-13)


def test_from_functions_uses_autodiff(bk, to_np):
    xp = bk.xp
    g = maps.from_functions(lambda p: xp.sinh(p) + p, lambda t: t, dim=2)  # inverse unused below
    x = bk.asarray(np.array([0.5, -0.2]))
    np.testing.assert_allclose(to_np(g.jvp(x, bk.asarray(np.ones(2)))), np.cosh([0.5, -0.2]) + 1, rtol=1e-14)


def test_composition_order():
    f, g = maps.Scale(2.0), maps.Affine(np.eye(1), [1.0])
    assert float((f @ g)(np.array([1.0]))[0]) == 4.0  # f(g(1)) = 2 * (1 + 1)
    assert float((g @ f)(np.array([1.0]))[0]) == 3.0
    assert isinstance(f @ g, rgeom.maps.Compose)
