"""Property tests: under random diffeomorphisms θ = g(ψ) (rgeom.testing strategies)

* the invariant mode commutes with the map, its log-density and the invariant Laplace
  approximation (precision spectrum, covariance as a (2,0) tensor, log marginal) are the same in
  both charts, while the naive MAP is not (it is for affine maps);
* the log-density w.r.t. the volume form composes like a scalar;
* a pulled-back density still integrates to 1: adaptive quadrature in 1-D and 2-D, a bounded
  importance-weight Monte Carlo estimate in 3-D and 4-D.

The target densities are Gaussians ``N(m, C)`` in θ with ``C`` eigenvalues in [0.05, 0.2] and
``m = g(ψ_m)``, ``|ψ_m|∞ <= 0.5``, so modes stay well inside the box ``|ψ|∞ <= 1.5`` where the
strategies guarantee ``cond J <= 20`` and ``cond G <= 10``.
"""

import math

import numpy as np
import pytest
import scipy.integrate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rgeom
from rgeom.densities import Gaussian, laplace, mode
from rgeom.testing.strategies import diffeomorphisms, metrics, points, spd_matrices

BOUND = 1.5
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Modes are Newton-polished to |∇ log p| <= 1e-9 (in practice ~1e-14); with precision eigenvalues
# >= 5/cond(G) >= 0.5 and cond J <= 20, coordinates agree to ~1e-9 · 20 / 0.5 < 1e-7.
POINT_ATOL = 1e-7


@st.composite
def problems(draw, dims=(1, 2, 3), kinds=("affine", "elementwise", "coupling")):
    d = draw(st.sampled_from(dims))
    g = draw(diffeomorphisms(d, depth=(1, 2), kinds=kinds, max_condition=20.0, bound=BOUND))
    psi_m = draw(points(d, bound=0.5))
    C = draw(spd_matrices(d, max_condition=4.0, scale=0.05))
    G = draw(metrics(d, max_condition=10.0))
    return g, Gaussian(g(psi_m), C), G, psi_m


@SETTINGS
@given(problems())
def test_invariant_mode_commutes_with_the_map(problem):
    g, p, G, psi_m = problem
    theta_star = mode(p, g(psi_m), metric=G, on_failure="raise")
    q, G_psi = rgeom.pullback(p, g), rgeom.pullback(G, g)
    psi_star = mode(q, psi_m, metric=G_psi, on_failure="raise")
    assert np.allclose(g(psi_star.point), theta_star.point, atol=POINT_ATOL, rtol=0)
    assert np.allclose(theta_star.pullback(g).point, psi_star.point, atol=POINT_ATOL, rtol=0)
    # its log-density (w.r.t. the volume) is a scalar, the dual gradient norm too
    assert psi_star.log_density == pytest.approx(theta_star.log_density, abs=1e-9)
    assert psi_star.gradient_norm < 1e-7 and theta_star.gradient_norm < 1e-7


@SETTINGS
@given(problems(), st.data())
def test_volume_log_density_composes_like_a_scalar(problem, data):
    g, p, G, _ = problem
    psi = data.draw(points(p.dim, bound=BOUND))
    q, G_psi = rgeom.pullback(p, g), rgeom.pullback(G, g)
    lhs = float(q.with_respect_to(G_psi).log_prob(psi))
    rhs = float(p.with_respect_to(G).log_prob(g(psi)))
    # log|det J| enters twice with opposite signs (Lebesgue pullback, ½ log det of Jᵀ G J):
    # rounding of order 1e-15 · |terms|; the terms are below ~1e3 here.
    assert lhs == pytest.approx(rhs, abs=1e-10, rel=1e-12)
    # the Lebesgue density is not a scalar: it differs by log|det J|
    assert float(q.log_prob(psi)) == pytest.approx(float(p.log_prob(g(psi))) + float(g.log_abs_det_jacobian(psi)),
                                                   abs=1e-10, rel=1e-12)


@SETTINGS
@given(problems(dims=(2, 3)))
def test_invariant_laplace_is_the_same_in_both_charts(problem):
    g, p, G, psi_m = problem
    lt = laplace(p, g(psi_m), metric=G, on_failure="raise")
    lp = laplace(rgeom.pullback(p, g), psi_m, metric=rgeom.pullback(G, g), on_failure="raise")
    # the spectrum of the (1,1) precision and the log marginal are chart-independent
    assert np.allclose(lp.eigenvalues, lt.eigenvalues, rtol=1e-6)
    assert lp.log_marginal_likelihood == pytest.approx(lt.log_marginal_likelihood, abs=1e-7)
    # tensors: Hess_ψ = Jᵀ Hess_θ J, Σ_ψ = J⁻¹ Σ_θ J⁻ᵀ, E_ψ = J⁻¹ E_θ J (compared via the rules)
    scale = np.abs(np.asarray(lp.hessian)).max()
    assert np.allclose(np.asarray(rgeom.pullback(lt.hessian, g)), np.asarray(lp.hessian), atol=1e-6 * scale)
    scale = np.abs(np.asarray(lp.covariance)).max()
    assert np.allclose(np.asarray(rgeom.pullback(lt.covariance, g)), np.asarray(lp.covariance), atol=1e-6 * scale)
    scale = np.abs(np.asarray(lp.precision)).max()
    assert np.allclose(np.asarray(rgeom.pullback(lt.precision, g)), np.asarray(lp.precision), atol=1e-6 * scale)


@SETTINGS
@given(problems(kinds=("affine",)))
def test_naive_mode_commutes_with_affine_maps(problem):
    """|det J| is constant for affine maps, so the naive MAP is equivariant under them (only)."""
    g, p, _, psi_m = problem
    naive_t = mode(p, g(psi_m), on_failure="raise")
    naive_p = mode(rgeom.pullback(p, g), psi_m, on_failure="raise")
    assert np.allclose(g(naive_p.point), naive_t.point, atol=POINT_ATOL, rtol=0)


def test_naive_mode_does_not_commute_with_a_nonlinear_map():
    """The counter-property (so the equivariance tests above can fail): ψ = sinh⁻¹-type chart."""
    g = rgeom.maps.Sinh(0.5)                              # θ = ½ sinh(2ψ)
    p = Gaussian([1.0, -0.5], [[0.3, 0.1], [0.1, 0.2]])
    q = rgeom.pullback(p, g)
    psi0 = g.inverse(np.array([1.0, -0.5]))
    gap = np.abs(g(mode(q, psi0).point) - mode(p, np.array([1.0, -0.5])).point).max()
    assert gap > 0.05
    G = rgeom.metrics.Euclidean(2)
    inv = mode(q, psi0, metric=rgeom.pullback(G, g))
    assert np.allclose(g(inv.point), [1.0, -0.5], atol=1e-9)


# --- normalization after pullback -----------------------------------------------------------------
def _mass_box(p, g, radius):
    """Bounding box in ψ of g⁻¹({θ : (θ−m)ᵀC⁻¹(θ−m) <= radius²}): the pre-image of the ellipse's
    boundary bounds the pre-image of the ellipse (g is a diffeomorphism)."""
    t = np.linspace(0.0, 2 * math.pi, 2001)
    ring = p.mean + radius * np.stack([np.cos(t), np.sin(t)], 1) @ p._chol.T
    pre = np.array([g.inverse(x) for x in ring])
    span = pre.max(0) - pre.min(0)
    return pre.min(0) - 0.01 * span, pre.max(0) + 0.01 * span


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(dims=(1,)))
def test_pullback_integrates_to_one_in_1d(problem):
    g, p, _, _ = problem
    q = rgeom.pullback(p, g)
    # the pre-image of m ± 12σ holds all but ~2e-33 of the mass (g is monotone in 1-D)
    sd = math.sqrt(p.cov[0, 0])
    a, b = sorted(float(g.inverse(p.mean + s * 12 * sd)[0]) for s in (-1.0, 1.0))
    total, err = scipy.integrate.quad(lambda s: math.exp(float(q.log_prob(np.array([s])))), a, b,
                                      epsabs=1e-12, epsrel=1e-12, limit=200)
    assert total == pytest.approx(1.0, abs=1e-9)       # quad's error estimate is ~1e-12


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(dims=(2,)))
def test_pullback_integrates_to_one_in_2d(problem):
    g, p, _, _ = problem
    q = rgeom.pullback(p, g)
    # mass of a 2-D Gaussian outside the 8.5σ ellipse: exp(−8.5²/2) ≈ 2e-16
    lo, hi = _mass_box(p, g, 8.5)
    f = lambda y, x: math.exp(float(q.log_prob(np.array([x, y]))))  # noqa: E731
    total, err = scipy.integrate.dblquad(f, lo[0], hi[0], lo[1], hi[1], epsabs=1e-9, epsrel=1e-9)
    assert total == pytest.approx(1.0, abs=1e-6)       # adaptive 2-D quadrature to ~1e-8


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(dims=(3, 4)))
def test_pullback_integrates_to_one_in_higher_dimension(problem):
    """∫ q = 1 by E_{ψ~q}[r(ψ)/q(ψ)] = ∫ r = 1, with exact samples ψ = g⁻¹(θ), θ ~ p, and r a
    normalized Gaussian narrower than q (so the weights r/q are bounded). A wrong Jacobian factor
    in q shifts the mean of the weights away from 1."""
    g, p, _, _ = problem
    q = rgeom.pullback(p, g)
    n = 4000
    psi = rgeom.densities.pullback_samples(p.sample(n, seed=7), g)
    lap = laplace(q, g.inverse(p.mean), on_failure="raise")
    r = Gaussian(lap.mode.point, 0.5 * np.asarray(lap.covariance))
    w = np.exp([float(r.log_prob(x) - q.log_prob(x)) for x in psi])
    se = w.std() / math.sqrt(n)
    assert se < 0.05                                   # the test has power
    assert abs(w.mean() - 1.0) <= 5 * se + 1e-12
