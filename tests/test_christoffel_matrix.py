"""The dense Christoffel correction ``C = ½(J + Jᵀ − D_w G)`` of every network metric.

Reference, built independently: ``∂ₖG`` by central finite differences of the metrics' dense
matrices (``as_matrix`` from per-sample Jacobian rows / Kronecker factors), then
``J[i, j] = Σₗ ∂ⱼGᵢₗ wₗ`` and ``(D_w G) = Σₖ wₖ ∂ₖG`` by einsum. Step ``h = 1e-4`` on a float64 tanh
MLP with 26 parameters: truncation ``O(h²‖∂³G‖) ≈ 1e-8`` and rounding ``ε‖G‖/h ≈ 1e-12`` relative, so
the comparison uses 1e-6 relative to ``max|C|``. This also proves ``θ ↦ G(θ)u`` is differentiable on
the backend for each metric (a detached product would give ``C = 0`` and fail).
"""

import numpy as np
import pytest

from rgeom.maps import LayerRescaling
from rgeom.metrics import Euclidean, Pullback
from rgeom.metrics.christoffel import hessian_correction, hessian_correction_matrix
from rgeom.metrics.fisher import GGN, EmpiricalFisher, Fisher
from rgeom.metrics.fisher_diagonal import DiagonalFisher
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, mlp


@pytest.fixture(scope="module")
def prob():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    return Problem(mlp([3, 4, 2], activation="tanh", seed=1), "cross-entropy", (X, y), progress=False)


def _metric(name, prob):
    if name == "pullback":  # Euclidean pulled back along a non-linear map would also do; Scale is linear
        from rgeom.maps import Softplus
        return Pullback(Euclidean(prob.dim), Softplus())
    return {"fisher": Fisher, "ggn": GGN, "empirical": EmpiricalFisher, "kfac": KFAC,
            "diag": DiagonalFisher}[name](prob)


@pytest.mark.parametrize("name", ["fisher", "ggn", "empirical", "kfac", "diag", "pullback"])
def test_correction_matrix_matches_finite_difference_reference(prob, name):
    G = _metric(name, prob)
    theta = np.array(prob.model.theta) * (0.5 if name == "pullback" else 1.0) + (0.3 if name == "pullback" else 0.0)
    d = theta.shape[0]
    w = np.random.default_rng(2).normal(size=d)
    C = hessian_correction_matrix(G, theta, np.zeros(d), w=w)
    h = 1e-4
    dG = np.stack([(np.asarray(G.at(theta + h * e).as_matrix()) - np.asarray(G.at(theta - h * e).as_matrix())) / (2 * h)
                   for e in np.eye(d)])  # dG[k] = ∂ₖG
    J = np.einsum("jil,l->ij", dG, w)
    M = np.einsum("k,kij->ij", w, dG)
    ref = 0.5 * (J + J.T - M)
    assert np.abs(ref).max() > 1e-3  # the metric depends on θ: a real test
    assert np.abs(C - ref).max() <= 1e-6 * np.abs(ref).max(), np.abs(C - ref).max()


def test_correction_matrix_columns_are_the_matrix_free_contraction(prob):
    G = Fisher(prob)
    theta = np.array(prob.model.theta)
    g = np.asarray(prob.backend.grad(prob.objective, theta))
    C = hessian_correction_matrix(G, theta, g, w=np.linalg.pinv(np.asarray(G.at(theta).as_matrix())) @ g)
    Gd = np.asarray(G.at(theta).as_matrix())
    for j in (0, 7, 25):
        v = np.eye(theta.shape[0])[j]
        # hessian_correction solves with the metric's own pseudo-inverse; same w up to rounding
        ref = hessian_correction(G, theta, g, v)
        assert np.abs(C[:, j] - ref).max() <= 1e-8 * max(np.abs(ref).max(), 1e-300) + 1e-12 * np.abs(Gd).max()


def test_layer_rescaling_pullback_of_a_constant_metric_has_no_correction():
    g = LayerRescaling([2, 3], [10.0, 0.1])
    C = hessian_correction_matrix(Pullback(Euclidean(5), g), np.arange(1.0, 6.0), np.ones(5))
    assert np.abs(C).max() == 0.0  # linear map: J constant, every derivative of G vanishes exactly
