"""Densities, modes and Laplace approximations on bad input: clear errors, or results marked
not converged — never a silent wrong number."""

import warnings

import autograd.numpy as anp
import numpy as np
import pytest

import rgeom
from rgeom.densities import (
    Beta,
    Dirichlet,
    Gamma,
    Gaussian,
    LogNormal,
    NotConvergedWarning,
    SupportError,
    laplace,
    mode,
    pullback_samples,
)
from rgeom.errors import (
    ConvergenceError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ShapeError,
)


# --- log-densities returning NaN or +inf ----------------------------------------------------------
def test_nan_log_density_at_the_start_point():
    p = rgeom.Density(lambda th: anp.sum(anp.log(th - 5.0)))      # NaN for θ < 5
    with pytest.raises(NonFiniteError, match=r"returned NaN at x0 = \[0\.?\].*-inf"):
        mode(p, np.array([0.0]))


def test_plus_inf_log_density():
    p = rgeom.Density(lambda th: -anp.sum(anp.log(anp.abs(th))))  # unbounded at 0
    with pytest.raises(NonFiniteError, match=r"\+inf.*unbounded density has no mode"):
        mode(p, np.array([0.0]))


def test_nan_at_trial_points_is_reported_in_the_result():
    """A NaN away from the start point rejects the step like a point outside the support; the
    mode's message says so. Here: N(0, 1) in ψ = e^θ written by hand, NaN for ψ < 0, where
    scipy's first trust-region step from ψ = 2 lands (ψ = −1)."""
    p = rgeom.Density(lambda psi: -0.5 * anp.sum(anp.log(psi) ** 2) - anp.sum(anp.log(psi)))
    with np.errstate(invalid="ignore"):
        m = mode(p, np.array([2.0]))
    assert m.converged and m.point[0] == pytest.approx(np.exp(-1.0), rel=1e-12)
    assert "NaN at 1 trial point(s), first at [-1.]" in m.message
    assert "treated as outside the support" in m.message


def test_non_finite_gradient():
    p = rgeom.Density(lambda th: -anp.sqrt(anp.sum(th ** 2)))      # a cone: ∇ undefined at 0
    with pytest.raises(NonFiniteError, match="gradient"), np.errstate(invalid="ignore", divide="ignore"):
        mode(p, np.zeros(2))


# --- a map leaving the support --------------------------------------------------------------------
def test_start_point_outside_the_support():
    with pytest.raises(SupportError, match="outside the support"):
        mode(Beta(2.0, 3.0), np.array([1.5]))
    with pytest.raises(SupportError, match="outside the support"):
        Dirichlet([2.0, 2.0, 2.0]).laplace(np.array([0.7, 0.6]))


def test_map_leaving_the_support_is_named():
    """θ = 2ψ sends ψ ∈ (½, 1) outside the support (0, 1) of the Beta distribution."""
    q = Beta(2.0, 3.0).pullback(rgeom.maps.Scale(2.0))
    with pytest.raises(SupportError, match=r"The map Scale\(2\.0\) sends x0 to \[1\.6\]"):
        mode(q, np.array([0.8]))
    # from inside, the optimizer stays inside (the Beta mode 1/3 sits at ψ = 1/6)
    assert mode(q, np.array([0.3])).point[0] == pytest.approx(1 / 6, abs=1e-10)


def test_samples_outside_the_image_of_the_map():
    """Samples of Beta(2, 3) above ½ have no pre-image under θ = ½ σ(ψ)."""
    half_sigmoid = rgeom.maps.from_functions(lambda z: 0.5 / (1 + anp.exp(-z)),
                                             lambda x: anp.log(2 * x) - anp.log1p(-2 * x), dim=1)
    with pytest.raises(NonFiniteError, match="left the domain"):
        Beta(2.0, 3.0).pullback(half_sigmoid).sample(100, seed=0)
    with pytest.raises(NonFiniteError, match="left the domain"):
        pullback_samples(np.array([[0.2], [0.8]]), half_sigmoid)


def test_geodesic_samples_leaving_the_chart():
    """In ψ = log θ with the metric pulled back from the Euclidean θ line, geodesics are straight
    lines in θ: those with θ* + v < 0 (here v ~ N(0, 1), θ* = 1) leave the chart."""
    p = Gamma(2.0, 1.0)
    G = rgeom.pullback(rgeom.metrics.Euclidean(1), rgeom.maps.Exp())    # metric on log-θ from θ
    q = p.pullback(rgeom.maps.Exp())                                   # density in ψ = log θ
    lap = laplace(q, np.array([0.0]), metric=G)
    with pytest.raises(NonFiniteError, match="left the domain of the chart"):
        lap.sample(2000, seed=0)


# --- a metric singular at the mode ----------------------------------------------------------------
def test_metric_singular_at_the_mode():
    """G = diag(1, θ₁²) degenerates on θ₁ = 0, where p / √det G is unbounded."""
    p = Gaussian([0.5, 0.0], np.eye(2))
    G = rgeom.metrics.Diagonal(lambda th: anp.stack([1.0 + 0.0 * th[0], th[0] ** 2]), dim=2)
    with pytest.raises(NotPositiveDefiniteError, match="singular"), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotConvergedWarning)
        mode(p, np.array([1.0, 0.3]), metric=G)


def test_metric_exactly_singular_at_a_visited_point():
    G = rgeom.metrics.Diagonal(lambda th: th ** 2, dim=1)
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        mode(Gaussian([0.0], [[1.0]]), np.array([1.0]), metric=G)


def test_metric_not_positive_definite_at_the_start():
    G = rgeom.metrics.Dense(lambda th: anp.array([[1.0, 2.0], [2.0, 1.0]]) + 0.0 * th[0])
    with pytest.raises(NotPositiveDefiniteError, match="x0"):
        mode(Gaussian([0.0, 0.0], np.eye(2)), np.zeros(2), metric=G)


# --- non-convergence ------------------------------------------------------------------------------
def test_not_converged_is_marked_warned_or_raised():
    p = LogNormal(0.0, 1.0)
    x0 = np.array([20.0])
    with pytest.warns(NotConvergedWarning, match="did not converge"):
        m = mode(p, x0, maxiter=1)
    assert not m.converged and "gradient norm" in m.message and "NOT CONVERGED" in str(m)
    with pytest.raises(ConvergenceError, match="did not converge"):
        mode(p, x0, maxiter=1, on_failure="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not mode(p, x0, maxiter=1, on_failure="ignore").converged


def test_saddle_is_not_a_mode_and_has_no_laplace_approximation():
    """Between two bumps the gradient vanishes but −log p has negative curvature."""
    p = rgeom.Density(lambda th: anp.logaddexp(-0.5 * anp.sum((th - 2) ** 2), -0.5 * anp.sum((th + 2) ** 2)))
    with pytest.warns(NotConvergedWarning, match="not a strict maximum"):
        m = mode(p, np.array([0.0]))
    assert not m.converged
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite"):
        laplace(p, mode=m)


# --- bad arguments ------------------------------------------------------------------------------
def test_bad_arguments():
    p = Gaussian([0.0, 0.0], np.eye(2))
    with pytest.raises(TypeError, match="metric must be None"):
        mode(p, np.zeros(2), metric=np.eye(2))
    with pytest.raises(ValueError, match="method must be one of"):
        mode(p, np.zeros(2), method="nelder-mead")
    with pytest.raises(ValueError, match="on_failure"):
        mode(p, np.zeros(2), on_failure="shrug")
    with pytest.raises(ShapeError, match=r"x0 must have shape \(2,\)"):
        mode(p, np.zeros(3))
    with pytest.raises(TypeError, match="rgeom.Density"):
        mode(lambda th: th, np.zeros(2))
    with pytest.raises(TypeError, match="x0"):
        laplace(p)
    with pytest.raises(ValueError, match="different measure"):
        laplace(p, mode=mode(p, np.zeros(2)), metric=rgeom.metrics.Euclidean(2))
    with pytest.raises(TypeError, match="seed is required"):
        p.sample(3, seed=None)
    with pytest.raises(TypeError, match="seed is required"):
        laplace(p, np.zeros(2)).sample(3, seed=None)
    with pytest.raises(NotImplementedError, match="no exact sampler"):
        rgeom.Density(lambda th: -th @ th).sample(3, seed=0)
    with pytest.raises(TypeError, match="callable"):
        rgeom.Density(3.0)
    with pytest.raises(TypeError, match="Metric"):
        rgeom.Density(lambda th: th[0], metric="lebesgue")


@pytest.mark.parametrize("make, match", [
    (lambda: Beta(-1.0, 2.0), "a must be finite and > 0"),
    (lambda: Gamma(2.0, 0.0), "rate must be finite and > 0"),
    (lambda: LogNormal([0.0, 1.0], [1.0, -1.0]), "sigma"),
    (lambda: Dirichlet([1.0]), "K >= 2"),
    (lambda: Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (lambda: Gaussian([0.0, 0.0], np.eye(3)), r"shape \(2, 2\)"),
    (lambda: Gaussian([0.0, np.nan], np.eye(2)), "finite"),
])
def test_bad_catalogue_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_catalogue_point_of_the_wrong_shape():
    with pytest.raises(ShapeError, match=r"shape \(1,\)"):
        Beta(2.0, 2.0).log_prob(np.array([0.5, 0.5]))
