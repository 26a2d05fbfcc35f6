"""``rgeom.exp`` (DOP853 on ``θ̈ = −Γ(θ̇, θ̇)``) against closed-form geodesics.

References:

* the unit 2-sphere: geomstats' closed-form ``Hypersphere(2).metric.exp`` in R³
  (``cos|v| x + sin|v| v/|v|``), compared after embedding
  ``x(ϑ, φ) = (sinϑ cosφ, sinϑ sinφ, cosϑ)``;
* the plane in polar coordinates: straight lines;
* the hyperbolic half-plane ``G = I / y²``: vertical lines ``y(t) = y₀ exp(t v_y / y₀)`` and
  semicircles centred on the x-axis, ``x = c + R tanh σ``, ``y = R / cosh σ``, where ``σ`` is
  hyperbolic arc length, so ``σ(t) = σ₀ ± t |v| / y₀``;
* ``G = I / y``: vertical geodesics reach ``y = 0`` in finite time,
  ``y(t) = (√y₀ + t v_y / (2√y₀))²``.

Tolerance 1e-8 absolute on O(1) end points: rgeom.exp runs DOP853 at rtol 1e-11, atol 1e-12 over
unit time, whose global error stays below ~1e-10 on these smooth, non-stiff problems.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose as close

import rgeom
from rgeom import maps, metrics
from rgeom.errors import (
    ConvergenceError, NonFiniteError, NotPositiveDefiniteError, RgeomError, ShapeError,
)

TOL = 1e-8


def sphere2(bk):
    xp = bk.xp
    return metrics.Diagonal(lambda th: xp.stack([xp.ones_like(th[0]), xp.sin(th[0]) ** 2]))


def half_plane(bk):
    xp = bk.xp
    return metrics.Dense(lambda th: xp.eye(2) / th[1] ** 2)


def embed(theta):
    """Point of the unit sphere for spherical coordinates (ϑ, φ)."""
    t, p = theta
    return np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)])


def embed_tangent(theta, v):
    """Jacobian of :func:`embed` at θ times v."""
    t, p = theta
    J = np.array([[np.cos(t) * np.cos(p), -np.sin(t) * np.sin(p)],
                  [np.cos(t) * np.sin(p), np.sin(t) * np.cos(p)],
                  [-np.sin(t), 0.0]])
    return J @ v


def speed(theta, v):
    """|v|_G for G = diag(1, sin²ϑ)."""
    return np.sqrt(v[0] ** 2 + np.sin(theta[0]) ** 2 * v[1] ** 2)


def sphere_cases(n, seed):
    """Starts with ϑ₀ ∈ [1, π − 1], speeds |v|_G ≤ 0.8: the geodesic stays in [0.2, π − 0.2]."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(n):
        theta = np.array([rng.uniform(1.0, np.pi - 1.0), rng.uniform(-np.pi, np.pi)])
        direction = rng.normal(size=2)
        direction /= speed(theta, direction)  # unit length in G
        cases.append((theta, rng.uniform(0.1, 0.8) * direction))
    return cases


@pytest.fixture(scope="module")
def gs_sphere():
    metrics.from_geomstats  # noqa: B018  first use of the bridge imports geomstats (NumPy 2.4 safe)
    from geomstats.geometry.hypersphere import Hypersphere

    return Hypersphere(2)


def test_sphere_matches_geomstats_closed_form_exp(gs_sphere):
    G = sphere2(rgeom.backend.get_backend("autograd"))
    for theta, v in sphere_cases(6, seed=0):
        end = rgeom.exp(G, theta, v)
        want = np.asarray(gs_sphere.metric.exp(embed_tangent(theta, v), embed(theta)))
        close(embed(end), want, atol=TOL)
        # the speed |v|_G is the distance travelled on the unit sphere
        close(np.arccos(np.clip(embed(end) @ embed(theta), -1, 1)),
              speed(theta, v), atol=1e-7)


def test_sphere_exp_on_every_backend(gs_sphere, bk, to_np):
    (theta, v), = sphere_cases(1, seed=1)
    end = rgeom.exp(sphere2(bk), bk.asarray(theta), bk.asarray(v))
    assert type(end) is type(bk.asarray(theta))  # returned on the backend of theta
    want = np.asarray(gs_sphere.metric.exp(embed_tangent(theta, v), embed(theta)))
    close(embed(to_np(end)), want, atol=TOL)


def test_sphere_exp_with_time_scaling(gs_sphere):
    """exp_θ(t v) = γ(t): integrating to t with velocity v equals integrating to 1 with t v."""
    G = sphere2(rgeom.backend.get_backend("autograd"))
    (theta, v), = sphere_cases(1, seed=2)
    close(rgeom.exp(G, theta, v, t=0.5), rgeom.exp(G, theta, 0.5 * v), atol=TOL)


@pytest.mark.parametrize("psi, v", [
    ([1.5, 0.3], [0.4, 0.5]),    # the line stays in x > 0, r > 1
    ([2.0, -2.0], [-0.3, 0.2]),  # third quadrant, away from the cut φ = ±π
])
def test_flat_polar_geodesics_are_straight_lines(psi, v):
    # autograd only: the pullback's nested JVP/VJP runs op by op on jax/torch (slow, no new
    # coverage beyond test_christoffel.py)
    polar = maps.Polar()
    G = rgeom.pullback(metrics.Euclidean(2), polar)
    psi, v = np.array(psi), np.array(v)
    r, phi = psi
    J = np.array([[np.cos(phi), -r * np.sin(phi)], [np.sin(phi), r * np.cos(phi)]])
    want = polar.inverse(polar(psi) + J @ v)
    close(rgeom.exp(G, psi, v), want, atol=TOL)


def test_flat_polar_circle_is_not_a_geodesic():
    """Starting tangentially to a circle, the geodesic leaves it: r grows (Γʳ_φφ = −r)."""
    G = rgeom.pullback(metrics.Euclidean(2), maps.Polar())
    end = rgeom.exp(G, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    close(end, [np.sqrt(2.0), np.pi / 4], atol=TOL)


def half_plane_geodesic(p, v, t=1.0):
    """Closed-form geodesic of G = I/y² from p with velocity v, at time t."""
    x0, y0 = p
    vx, vy = v
    speed = np.hypot(vx, vy) / y0  # hyperbolic speed, constant along the geodesic
    if vx == 0.0:
        return np.array([x0, y0 * np.exp(t * vy / y0)])
    c = x0 + y0 * vy / vx  # centre of the semicircle (its radius through p is ⊥ v)
    R = np.hypot(x0 - c, y0)
    sigma = np.arctanh((x0 - c) / R) + np.sign(vx) * speed * t
    return np.array([c + R * np.tanh(sigma), R / np.cosh(sigma)])


@pytest.mark.parametrize("p, v", [
    ([0.3, 2.0], [0.5, 0.2]),
    ([-1.0, 0.5], [-0.3, 0.4]),
    ([0.0, 1.0], [1.2, -0.7]),
    ([0.2, 1.5], [0.0, -0.9]),  # vertical: y(t) = y₀ exp(t v_y / y₀)
])
def test_half_plane_matches_closed_form(p, v):
    G = half_plane(rgeom.backend.get_backend("autograd"))
    p, v = np.array(p), np.array(v)
    close(rgeom.exp(G, p, v), half_plane_geodesic(p, v), atol=TOL)


def test_half_plane_on_every_backend(bk, to_np):
    p, v = np.array([0.3, 2.0]), np.array([0.5, 0.2])
    end = rgeom.exp(half_plane(bk), bk.asarray(p), bk.asarray(v))
    close(to_np(end), half_plane_geodesic(p, v), atol=TOL)


def test_half_plane_closed_form_helper_is_a_geodesic():
    """Guard the reference itself: the closed form has the right start, velocity and speed."""
    p, v, h = np.array([0.3, 2.0]), np.array([0.5, 0.2]), 1e-6
    close(half_plane_geodesic(p, v, 0.0), p, atol=1e-14)
    vel = (half_plane_geodesic(p, v, h) - half_plane_geodesic(p, v, -h)) / (2 * h)
    close(vel, v, atol=1e-8)


def test_metric_one_over_y_vertical_geodesic():
    """G = I/y: y(t) = (√y₀ + t v_y / (2√y₀))², reaching y = 0 at t = 2 from y₀ = 1, v_y = −1."""
    G = metrics.Dense(lambda th: np.eye(2) / th[1])
    close(rgeom.exp(G, np.array([0.0, 1.0]), np.array([0.0, -1.0])), [0.0, 0.25], atol=TOL)


def test_geodesic_leaving_the_domain_raises_clearly():
    """Past t = 2 the geodesic of G = I/y has left {y > 0}; rgeom must not return a point."""
    G = metrics.Dense(lambda th: np.eye(2) / th[1])
    with pytest.raises((ConvergenceError, NotPositiveDefiniteError)) as info:
        with np.errstate(all="ignore"):
            # loose tolerances: fewer steps while the symbols blow up near y = 0 (speed only)
            rgeom.exp(G, np.array([0.0, 1.0]), np.array([0.0, -1.0]), t=3.0, rtol=1e-6, atol=1e-8)
    assert isinstance(info.value, RgeomError)


@pytest.mark.parametrize("theta, v, error", [
    ([0.3, 2.0], [np.nan, 0.1], NonFiniteError),
    ([0.3, 2.0], [np.inf, 0.1], NonFiniteError),
    ([np.nan, 2.0], [0.1, 0.1], NonFiniteError),
    ([0.3, 2.0], [0.1, 0.1, 0.1], ShapeError),
    ([[0.3, 2.0]], [0.1, 0.1], ShapeError),
])
def test_bad_inputs(theta, v, error):
    G = half_plane(rgeom.backend.get_backend("autograd"))
    with pytest.raises(error, match="theta|v"):
        rgeom.exp(G, np.array(theta), np.array(v))


def test_zero_velocity_stays_put(bk, to_np):
    p = np.array([0.3, 2.0])
    close(to_np(rgeom.exp(half_plane(bk), bk.asarray(p), bk.asarray(np.zeros(2)))), p,
          atol=1e-15)
