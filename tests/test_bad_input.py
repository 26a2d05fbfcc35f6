"""Bad input raises an error that names the argument and the problem."""

import autograd.numpy as anp
import numpy as np
import pytest

import rgeom
from rgeom import maps, metrics
from rgeom.errors import (
    DenseSizeError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ShapeError,
    SingularJacobianError,
    TensorTypeError,
)

LOSS = lambda th: anp.sum(th ** 2)  # noqa: E731


# --- metrics that are not symmetric positive definite ----------------------------------------
def test_dense_metric_not_symmetric():
    G = metrics.Dense(lambda th: anp.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(NotPositiveDefiniteError, match="not symmetric"):
        G.at(np.zeros(2))


def test_dense_metric_indefinite_and_in_flatness():
    G = metrics.Dense(lambda th: anp.array([[1.0, 0.0], [0.0, -2.0]]))
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite.*-2"):
        rgeom.flatness(LOSS, np.zeros(2), metric=G)


def test_singular_metric():
    G = metrics.Dense(lambda th: anp.outer(th, th))
    with pytest.raises(NotPositiveDefiniteError, match="positive definite"):
        G.at(np.array([1.0, 2.0]))


def test_diagonal_metric_nonpositive():
    with pytest.raises(NotPositiveDefiniteError, match="min entry"):
        metrics.Diagonal(lambda th: th).at(np.array([1.0, 0.0]))


def test_constant_matrix_validated_up_front():
    with pytest.raises(NotPositiveDefiniteError):
        metrics.Dense.constant_matrix([[1.0, 2.0], [2.0, 1.0]])


def test_metric_with_nan():
    with pytest.raises(NonFiniteError, match="non-finite"):
        metrics.Dense(lambda th: anp.eye(2) * anp.nan).at(np.zeros(2))


# --- maps that are not invertible --------------------------------------------------------------
def test_affine_singular_matrix():
    with pytest.raises(SingularJacobianError, match="A is singular"):
        maps.Affine([[1.0, 2.0], [2.0, 4.0]])


def test_scale_zero_factor():
    with pytest.raises(SingularJacobianError, match="non-zero"):
        maps.Scale([1.0, 0.0])


def test_polar_at_origin_in_pullback():
    G = rgeom.pullback(metrics.Euclidean(2), maps.Polar())
    with pytest.raises(SingularJacobianError, match="not invertible at psi"):
        G.at(np.array([0.0, 0.3]))
    with pytest.raises(SingularJacobianError):
        rgeom.flatness(rgeom.pullback(LOSS, maps.Polar()), np.array([0.0, 0.3]), metric=G)


def test_pullback_of_vector_at_singular_point():
    v = rgeom.Vector(np.zeros(2), np.ones(2))          # θ = 0 is the polar singularity
    with pytest.raises(SingularJacobianError):
        rgeom.pullback(v, maps.Polar())


def test_from_functions_singular_jacobian():
    g = maps.from_functions(lambda p: p ** 3, anp.cbrt, dim=1)
    with pytest.raises(SingularJacobianError, match="psi"):
        g.check_invertible(np.array([0.0]))


# --- shapes ------------------------------------------------------------------------------------
def test_point_shape_mismatch():
    with pytest.raises(ShapeError, match=r"theta must have shape \(3,\)"):
        metrics.Euclidean(3).at(np.zeros(2))
    with pytest.raises(ShapeError, match="1-D"):
        rgeom.flatness(LOSS, np.zeros((2, 2)))


def test_operator_argument_shape():
    G = metrics.Euclidean(2).at(np.zeros(2))
    with pytest.raises(ShapeError, match="u must have shape"):
        G.mv(np.zeros(3))
    with pytest.raises(ShapeError, match="w must have shape"):
        metrics.Dense(lambda th: anp.eye(2)).at(np.zeros(2)).solve(np.zeros(3))


def test_dense_metric_wrong_matrix_shape():
    with pytest.raises(ShapeError, match=r"fn\(theta\) must have shape \(2, 2\)"):
        metrics.Dense(lambda th: anp.eye(3)).at(np.zeros(2))


def test_map_point_shape():
    with pytest.raises(ShapeError, match="psi must have shape"):
        maps.Polar().check_invertible(np.ones(3))


def test_vector_components_shape():
    with pytest.raises(ShapeError, match="components must have shape"):
        rgeom.Vector(np.zeros(2), np.zeros(3))


def test_layer_rescaling_mismatch():
    with pytest.raises(ShapeError, match="sizes has 2 blocks but factors has 3"):
        maps.LayerRescaling([2, 3], [1.0, 2.0, 3.0])


def test_compose_dimension_mismatch():
    with pytest.raises(ShapeError, match="compose"):
        maps.Polar() @ maps.Spherical()


# --- non-finite inputs -------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_point(bad):
    with pytest.raises(NonFiniteError, match="theta contains 1 non-finite"):
        rgeom.flatness(LOSS, np.array([1.0, bad]))
    with pytest.raises(NonFiniteError, match="components"):
        rgeom.Vector(np.zeros(2), np.array([bad, 0.0]))


def test_nonfinite_geodesic_velocity():
    with pytest.raises(NonFiniteError, match="v contains"):
        rgeom.exp(metrics.Euclidean(2), np.zeros(2), np.array([np.nan, 1.0]))


# --- dense matrices above the size limit -------------------------------------------------------
def test_dense_size_limits():
    with pytest.raises(DenseSizeError, match="max_dense_dim=10"):
        rgeom.flatness(LOSS, np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError, match="Map.jacobian"):
        maps.from_functions(anp.sinh, anp.arcsinh).jacobian(np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError, match="christoffel"):
        rgeom.christoffel(metrics.Euclidean(100), np.zeros(100))
    with pytest.raises(DenseSizeError):
        metrics.Euclidean(5).at(np.zeros(5)).as_matrix(max_dense_dim=4)


# --- tensor types ------------------------------------------------------------------------------
def test_cannot_add_gradient_to_step():
    p = np.zeros(2)
    with pytest.raises(TensorTypeError, match="cannot add a vector and a covector"):
        rgeom.Vector(p, np.ones(2)) + rgeom.Covector(p, np.ones(2))
    with pytest.raises(TensorTypeError, match="different base points"):
        rgeom.Vector(p, np.ones(2)) + rgeom.Vector(np.ones(2), np.ones(2))
    with pytest.raises(TensorTypeError, match="pairs with a Vector"):
        rgeom.Covector(p, np.ones(2))(rgeom.Covector(p, np.ones(2)))
    # the explicit way works
    G = metrics.Euclidean(2)
    s = rgeom.Vector(p, np.ones(2)) + rgeom.sharp(G, rgeom.Covector(p, np.ones(2)))
    assert s.numpy().tolist() == [2.0, 2.0]


def test_no_rule_for_unknown_object():
    with pytest.raises(TypeError, match="no transformation rule"):
        rgeom.pullback(3.0, maps.Polar())
    with pytest.raises(TypeError, match="g must be an rgeom.maps.Map"):
        rgeom.pullback(LOSS, lambda x: x)


def test_metric_argument_type():
    with pytest.raises(TypeError, match="metric must be None or an rgeom Metric"):
        rgeom.flatness(LOSS, np.zeros(2), metric=np.eye(2))


def test_closed_form_jacobians_respect_size_limit():
    with pytest.raises(DenseSizeError):
        maps.Exp().jacobian(np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError):
        maps.Affine(np.eye(11)).jacobian(np.zeros(11), max_dense_dim=10)


def test_explicit_backend_converts_numpy_points():
    torch = pytest.importorskip("torch")
    g = rgeom.gradient(lambda th: (th ** 2).sum(), np.array([2.0, 0.5]), backend="torch")
    assert isinstance(g.components, torch.Tensor) and g.numpy().tolist() == [4.0, 1.0]
    f = rgeom.flatness(lambda th: (th ** 4).sum(), np.array([2.0, 0.5]), backend="torch")
    np.testing.assert_allclose(f.eigenvalues, [3.0, 48.0], rtol=1e-14)
