"""Optimizers as vector fields: each Euler step against the textbook update written out by hand,
the geometric ones against closed forms and dense float64 references, K-FAC against the exact
Fisher block, the backends against each other, and bad input.

Tolerances: float64 on d <= 9 with well-conditioned matrices; "exact" comparisons use 1e-12
(a few ulps times the condition numbers involved), integrator-limited ones say so.
"""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.linalg

import rgeom
from rgeom.errors import NonFiniteError, ShapeError, TensorTypeError
from rgeom.flows import integrate
from rgeom.flows.map_families import DeepLinear, KroneckerMap, MatrixLayout, SubmersionPullback, make_map
from rgeom.flows.optimizers import (
    KFAC, REGISTRY, Adam, AdaGrad, GD, HeavyBall, NaturalGradient, NaturalMomentum, Nesterov,
    Newton, RiemannianGD, RiemannianNewton, RMSProp, Shampoo, SignGD, UnsupportedMapError, get, map_state,
)
from rgeom.flows.optimizers.newton import christoffel_gradient_matrix

A_MAT = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])


def quad(theta):
    """A quadratic with a non-diagonal Hessian A_MAT and minimum at (1, -1, 0.5)."""
    r = theta - anp.array([1.0, -1.0, 0.5])
    return 0.5 * anp.dot(r, anp.dot(A_MAT, r)) + 0.1 * anp.sum(anp.sin(theta))


GRAD = autograd.grad(quad)
THETA0 = np.array([0.3, 0.8, -1.2])


def one_step(opt, lr, loss=quad, theta=THETA0):
    sol = opt.run(loss, theta, lr, 1)
    assert sol.status == "success"
    return tuple(np.asarray(y[-1]) for y in sol.ys)


# --- the registry ----------------------------------------------------------------------------------
def test_registry_names_and_errors():
    assert set(REGISTRY) >= {"gd", "heavy_ball", "nesterov", "adam", "rmsprop", "adagrad", "sign_gd",
                             "newton", "riemannian_newton", "ngd", "kfac", "shampoo", "ngd_momentum",
                             "ngd_momentum_lc", "rgd_exp", "rgd_geodesic"}
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; known optimizers: gd, "):
        get("adamw")
    with pytest.raises(TypeError, match="no hyper-parameter 'beta1'; it takes: gamma1, gamma2, eps"):
        get("adam", beta1=0.9)
    assert get("ngd_momentum").christoffel is False and get("ngd_momentum_lc").christoffel is True
    assert get("rgd_geodesic").update == "geodesic"
    for name, (cls, _) in REGISTRY.items():
        assert cls.name in name or name.startswith(cls.name)
        assert cls.components[0].kind == "point"


# --- each Euler step is the textbook update ------------------------------------------------------------
def test_gd_and_sign_gd_steps():
    lr = 0.1
    np.testing.assert_allclose(one_step(GD(), lr)[0], THETA0 - lr * GRAD(THETA0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(one_step(SignGD(), lr)[0], THETA0 - lr * np.sign(GRAD(THETA0)), atol=1e-15)


def test_heavy_ball_and_nesterov_match_the_classical_updates():
    """p = lr·v:  p⁺ = β p − lr² ∇L(θ + τ p/lr), θ⁺ = θ + p, β = 1 − γ lr, τ = β lr (Nesterov)."""
    lr, gamma = 0.2, 1.5
    beta = 1 - gamma * lr
    for opt, look in ((HeavyBall(gamma=gamma), 0.0), (Nesterov(gamma=gamma), beta)):
        assert opt.hyper(lr) == pytest.approx({"lr": lr ** 2, "beta": beta})
        theta, p = THETA0.copy(), np.zeros(3)
        sol = opt.run(quad, THETA0, lr, 3)
        for k in range(3):
            theta, p = theta + p, beta * p - lr ** 2 * GRAD(theta + look * p)
            np.testing.assert_allclose(sol.ys[0][k + 1], theta, atol=1e-14)
            np.testing.assert_allclose(lr * sol.ys[1][k + 1], p, atol=1e-14)


def test_adaptive_methods_match_the_classical_updates():
    lr = 0.05
    g0 = GRAD(THETA0)
    # Adam with β₁ = 1 − γ₁ lr, β₂ = 1 − γ₂ lr, moments started at the first gradient
    opt = Adam(gamma1=2.0, gamma2=4.0, eps=1e-3)
    b1, b2 = opt.hyper(lr)["beta1"], opt.hyper(lr)["beta2"]
    assert (b1, b2) == pytest.approx((0.9, 0.8))
    theta, m, v = THETA0.copy(), g0.copy(), g0 ** 2
    sol = opt.run(quad, THETA0, lr, 3)
    for k in range(3):
        g = GRAD(theta)
        theta, m, v = theta - lr * m / (np.sqrt(v) + 1e-3), b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        for i, ref in enumerate((theta, m, v)):
            np.testing.assert_allclose(sol.ys[i][k + 1], ref, atol=1e-14)
    # RMSProp and AdaGrad
    theta, v = THETA0.copy(), g0 ** 2
    sol = RMSProp(gamma=2.0, eps=0.0).run(quad, THETA0, lr, 2)
    theta2, v2 = THETA0.copy(), g0 ** 2
    sol2 = AdaGrad(eps=0.0).run(quad, THETA0, lr, 2)
    for k in range(2):
        g = GRAD(theta)
        theta, v = theta - lr * g / np.sqrt(v), 0.9 * v + 0.1 * g * g
        g2 = GRAD(theta2)
        theta2, v2 = theta2 - lr * g2 / np.sqrt(v2), v2 + lr * g2 * g2
        np.testing.assert_allclose(sol.ys[0][k + 1], theta, atol=1e-14)
        np.testing.assert_allclose(sol2.ys[0][k + 1], theta2, atol=1e-14)
    assert AdaGrad().hyper(0.04) == {"lr": pytest.approx(0.2)}


def test_lr_too_large_for_the_rates_is_refused():
    with pytest.raises(ValueError, match=r"lr=0.5 is too large for gamma=3.0.*use lr < 0.333"):
        HeavyBall(gamma=3.0).run(quad, THETA0, 0.5, 2)
    with pytest.raises(ValueError, match="gamma1 must be a finite number > 0"):
        Adam(gamma1=-1.0)


# --- Newton and Riemannian Newton -------------------------------------------------------------------------
def test_newton_lands_on_the_minimum_of_a_quadratic_and_freezes_the_gradient():
    pure = lambda th: 0.5 * anp.dot(th - 1.0, anp.dot(A_MAT, th - 1.0))  # noqa: E731
    np.testing.assert_allclose(one_step(Newton(), 1.0, pure)[0], np.ones(3), atol=1e-14)
    # Newton flow: d∇L/dt = −∇L, so ∇L(t) = e^{−t} ∇L(0) along it (RK4, dt = 0.01: error ~1e-9)
    sol = Newton().run(quad, THETA0, 0.01, 100, integrator="rk4")
    np.testing.assert_allclose(GRAD(np.asarray(sol.ys[0][-1])), np.exp(-1.0) * GRAD(THETA0), atol=1e-8)


def test_newton_damping_is_added_to_the_hessian():
    H = autograd.hessian(quad)(THETA0)
    step = one_step(Newton(damping=0.5), 0.1)[0] - THETA0
    np.testing.assert_allclose(step, -0.1 * np.linalg.solve(H + 0.5 * np.eye(3), GRAD(THETA0)), atol=1e-14)


def _half_plane():
    return rgeom.metrics.Dense(lambda th: anp.eye(2) / th[1] ** 2, dim=2)


@pytest.mark.parametrize("metric", ["polar", "half_plane"])
def test_christoffel_gradient_matrix_against_two_references(metric):
    """Dense C = Γᵏᵢⱼ∂ₖL against the matrix-free contraction and the dense Γ array."""
    G = (rgeom.pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar()) if metric == "polar" else _half_plane())
    theta, grad = np.array([1.7, 0.6]), np.array([0.4, -1.3])
    C = christoffel_gradient_matrix(G, theta, grad, rgeom.backend.get_backend("autograd"))
    free = np.stack([rgeom.metrics.hessian_correction(G, theta, grad, e) for e in np.eye(2)], 1)
    dense = np.einsum("kij,k->ij", rgeom.christoffel(G, theta), grad)
    np.testing.assert_allclose(C, free, atol=1e-12)
    np.testing.assert_allclose(C, dense, atol=1e-12)


def test_riemannian_newton_direction_is_a_vector_naive_newton_is_not():
    """In polar coordinates at a non-critical point: J u equals θ's Newton step for the Riemannian
    version (Hessian with Christoffel term), not for the naive one."""
    loss = lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2 + th[0] * th[1] ** 2  # noqa: E731
    polar = rgeom.maps.Polar()
    theta = np.array([1.2, 0.7])
    psi = polar.inverse(theta)
    L = rgeom.pullback(loss, polar)
    newton_theta = Newton().field(loss)(0.0, (theta,))[0]
    riem = RiemannianNewton().pullback(polar, dim=2).field(L)(0.0, (psi,))[0]
    naive = Newton().field(L)(0.0, (psi,))[0]
    np.testing.assert_allclose(polar.jvp(psi, riem), newton_theta, atol=1e-12)
    assert np.linalg.norm(polar.jvp(psi, naive) - newton_theta) > 1e-2
    # with the Euclidean metric of the chart at hand it is Newton's method
    np.testing.assert_allclose(RiemannianNewton().field(loss)(0.0, (theta,))[0], newton_theta, atol=1e-14)


# --- natural gradient -----------------------------------------------------------------------------------
def test_natural_gradient_solves_damps_and_pseudo_inverts():
    G = rgeom.metrics.Dense(lambda th: anp.diag(1.0 + th ** 2) + 0.3, dim=3)
    Gm = np.diag(1.0 + THETA0 ** 2) + 0.3
    g = GRAD(THETA0)
    f = lambda opt: opt.field(quad)(0.0, (THETA0,))[0]  # noqa: E731
    np.testing.assert_allclose(f(NaturalGradient(G)), -np.linalg.solve(Gm, g), atol=1e-13)
    np.testing.assert_allclose(f(NaturalGradient(G, damping=0.2)), -np.linalg.solve(Gm + 0.2 * np.eye(3), g),
                               atol=1e-13)
    np.testing.assert_allclose(f(NaturalGradient(G, pinv=True)), -np.linalg.solve(Gm, g), atol=1e-12)
    # a singular metric: the pseudo-inverse, and a clear error without it
    S = rgeom.metrics.Dense(lambda th: anp.diag(anp.array([2.0, 1.0, 0.0])) + 0.0 * th[0], dim=3)
    np.testing.assert_allclose(f(NaturalGradient(S, pinv=True)), -np.array([g[0] / 2, g[1], 0.0]), atol=1e-14)
    with pytest.raises(rgeom.errors.NotPositiveDefiniteError):
        f(NaturalGradient(S))
    with pytest.raises(TypeError, match="metric must be None"):
        NaturalGradient(metric=np.eye(3))


def test_natural_gradient_on_a_submersion_needs_pinv():
    pi = DeepLinear(1, 2, hidden=(2,))
    with pytest.raises(ValueError, match="use pinv=True"):
        NaturalGradient().pullback(pi)
    opt = NaturalGradient(pinv=True).pullback(pi)
    assert isinstance(opt.metric, SubmersionPullback) and opt.metric.dim == pi.dim_in


def test_momentum_with_christoffel_term_follows_straight_lines_in_polar_coordinates():
    """No force: v̇ = −γv − Γ(v, v) is a (reparametrized) geodesic of the flat metric, i.e. a
    straight line in θ. Without the Christoffel term the polar-coordinate path curves."""
    polar = rgeom.maps.Polar()
    G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
    zero = lambda psi: 0.0 * psi[0]  # noqa: E731
    psi0, v0 = np.array([1.0, 0.0]), np.array([0.0, 1.0])      # moving along y at x = 1
    for christoffel, straight in ((True, True), (False, False)):
        f = NaturalMomentum(G, gamma=0.5, christoffel=christoffel).field(zero)
        sol = integrate(f, (psi0, v0), dt=0.05, n_steps=20, integrator="rk4")
        xs = np.array([polar(p)[0] for p in sol.ys[0]])
        if straight:
            np.testing.assert_allclose(xs, 1.0, atol=1e-6)      # RK4 at dt = 0.05: ~1e-7 measured
        else:
            assert np.abs(xs - 1.0).max() > 0.05


# --- Riemannian GD ---------------------------------------------------------------------------------------
def test_riemannian_gd_exp_map_is_gd_in_euclidean_charts_and_agrees_numerically():
    np.testing.assert_allclose(one_step(RiemannianGD(), 0.1)[0], THETA0 - 0.1 * GRAD(THETA0), atol=1e-15)
    polar = rgeom.maps.Polar()
    loss = lambda th: 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2  # noqa: E731
    L, psi0 = rgeom.pullback(loss, polar), polar.inverse(np.array([1.0, 1.0]))
    closed = RiemannianGD().pullback(polar, dim=2).step(L, (psi0,), 0.1)[0]
    numeric = RiemannianGD(closed_form=False).pullback(polar, dim=2).step(L, (psi0,), 0.1)[0]
    np.testing.assert_allclose(polar(closed), [0.9, 0.6], atol=1e-15)
    np.testing.assert_allclose(numeric, closed, atol=1e-11)    # DOP853 at rtol 1e-13
    with pytest.raises(ValueError, match="discrete scheme, not a flow"):
        RiemannianGD().run(loss, np.array([1.0, 1.0]), 0.1, 2, integrator="rk4")
    with pytest.raises(ValueError, match="update must be one of"):
        RiemannianGD(update="retraction")


def test_geodesic_step_is_the_second_order_taylor_polynomial_of_the_geodesic():
    """In polar coordinates the geodesic through ψ with velocity v is g⁻¹ of a straight line:
    the corrected step errs by O(lr³), the plain one by O(lr²)."""
    polar = rgeom.maps.Polar()
    G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
    psi, v = np.array([1.3, 0.4]), np.array([0.7, -0.9])
    errs = {"geodesic": [], "plain": []}
    for t in (0.04, 0.02, 0.01):
        exact = polar.inverse(polar(psi) + t * polar.jvp(psi, v))
        corrected = psi + t * v - 0.5 * t * t * rgeom.metrics.christoffel_contract(G, psi, v, v)
        errs["geodesic"].append(np.linalg.norm(corrected - exact))
        errs["plain"].append(np.linalg.norm(psi + t * v - exact))
    for key, order in (("geodesic", 3), ("plain", 2)):
        slopes = np.log2(np.array(errs[key][:-1]) / np.array(errs[key][1:]))
        np.testing.assert_allclose(slopes, order, atol=0.1)


# --- K-FAC ----------------------------------------------------------------------------------------------
def _kfac_problem(n=6, seed=0, widths=(2, 3, 2)):
    """The audit's homogeneous tanh MLP on random data, Gaussian likelihood ½‖f − y‖²."""
    from rgeom.flows.audit import homogeneous_mlp
    from rgeom.metrics.kfac import KFAC as KFACMetric

    rng = np.random.default_rng(seed)
    net = homogeneous_mlp(widths)
    theta = rng.normal(size=net.dim)
    X, Y = rng.normal(size=(n, widths[0])), rng.normal(size=(n, widths[-1]))
    prob = rgeom.models.Problem(net.with_theta(theta), "gaussian", (X, Y))
    return prob, theta, KFACMetric(prob)


def test_kfac_step_is_minus_the_inverse_fisher_blocks_for_one_sample():
    """With one data point the Fisher block of W̄_l is exactly S_l ⊗ A_l (row-major vec), a dense
    reference built from the network's Jacobian (Λ = I for the Gaussian likelihood): the K-FAC step
    is then −(block-diagonal Fisher)⁻¹ ∇L. Factors of size <= 4, well conditioned: 1e-12."""
    from rgeom.metrics.kfac import KFAC as KFACMetric

    prob, theta, metric = _kfac_problem(n=1)
    X = prob.batches[0][0]
    J = autograd.jacobian(lambda th: prob.model.apply(th, X).ravel())(theta)    # (n_out, d)
    F, grad = J.T @ J, autograd.grad(prob.objective)(theta)
    blocks = [F[a:a + s, a:a + s] for a, s in zip(prob.model.layout.offsets, prob.model.layout.sizes)]
    np.testing.assert_allclose(metric.at(theta).as_matrix(), scipy.linalg.block_diag(*blocks), atol=1e-13)
    ref = -np.linalg.solve(scipy.linalg.block_diag(*blocks) + 1e-3 * np.eye(theta.size), grad)
    damped = KFACMetric(prob, damping=1e-3)                       # n = 1: rank-one blocks
    step = KFAC(damped).field(prob.objective)(0.0, (theta,))[0]
    np.testing.assert_allclose(step, ref, rtol=1e-9)


def test_kfac_step_and_its_exact_invariance_under_kronecker_maps():
    from rgeom.metrics.kfac import KFAC as KFACMetric

    prob, theta, metric = _kfac_problem()
    layout = prob.model.layout
    step = KFAC(metric).field(prob.objective)(0.0, (theta,))[0]
    grads = layout.split(autograd.grad(prob.objective)(theta))
    ref = [-np.linalg.solve(S, G) @ np.linalg.inv(A) for G, (A, S) in zip(grads, metric.factors(theta))]
    np.testing.assert_allclose(step, layout.join(ref), atol=1e-12)
    # in the chart of a Kronecker map (an affine map of each layer's input and output) K-FAC,
    # recomputed from the transformed activations, maps back exactly
    for family in ("kronecker", "translation"):
        g = make_map(family, layout.size, seed=3, layout=layout)
        psi = g.inverse(theta)
        opt = KFAC(metric).pullback(g)
        assert abs(opt.metric.problem.objective(psi) - prob.objective(theta)) < 1e-13
        A_psi, _ = opt.metric.factors(psi)[0]
        if family == "kronecker":                                     # A ↦ Ω A Ωᵀ with Ω = B
            B = g.rights[0]
            np.testing.assert_allclose(A_psi, B @ metric.factors(theta)[0][0] @ B.T, atol=1e-12)
        u = opt.field(rgeom.pullback(prob.objective, g))(0.0, (psi,))[0]
        np.testing.assert_allclose(g.jvp(psi, u), step, atol=1e-11)
    # damping (re-applied in ψ's units) breaks it
    g = make_map("kronecker", layout.size, seed=3, layout=layout)
    psi = g.inverse(theta)
    damped = KFAC(KFACMetric(prob, damping=0.1))
    assert damped.pullback(g).metric.damping == 0.1
    ud = damped.pullback(g).field(rgeom.pullback(prob.objective, g))(0.0, (psi,))[0]
    sd = damped.field(prob.objective)(0.0, (theta,))[0]
    assert np.linalg.norm(g.jvp(psi, ud) - sd) > 1e-3
    with pytest.raises(UnsupportedMapError, match="keep the layer structure"):
        KFAC(metric).pullback(make_map("orthogonal", layout.size))
    other = MatrixLayout(layout.shapes[::-1])
    with pytest.raises(UnsupportedMapError, match="keep the layer structure"):   # same size, other layers
        KFAC(metric).pullback(KroneckerMap(other, [np.eye(r) for r, _ in other.shapes],
                                           [np.eye(c) for _, c in other.shapes]))
    with pytest.raises(TypeError, match="metric must be an rgeom.metrics.kfac.KFAC"):
        KFAC(rgeom.metrics.Euclidean(3))


def test_kfac_pullback_through_activation_maps_translations_and_compositions():
    """KFAC.pullback on rgeom.maps.ActivationAffine (weights and biases apart), on a composition
    with a translation, and what it refuses. A K-FAC step maps back by J: dense check, 1e-10
    relative (factors of size <= 5, random maps with condition numbers < 1e3)."""
    from rgeom.maps import random_affine
    from rgeom.metrics.kfac import KFAC as KFACMetric

    rng = np.random.default_rng(3)
    net = rgeom.models.mlp([3, 4, 2], activation="tanh", seed=1)
    prob = rgeom.models.Problem(net, "gaussian", (rng.normal(size=(12, 3)), rng.normal(size=(12, 2))))
    theta = net.theta
    step = KFAC(KFACMetric(prob)).field(prob.objective)(0.0, (theta,))[0]
    shift = rgeom.maps.Affine(np.eye(net.dim), 0.3 * rng.normal(size=net.dim))
    for g in (random_affine(net, seed=1), random_affine(net, seed=2) @ shift):
        psi = g.inverse(theta)
        u = KFAC(KFACMetric(prob)).pullback(g).field(rgeom.pullback(prob.objective, g))(0.0, (psi,))[0]
        np.testing.assert_allclose(g.jvp(psi, u), step, rtol=1e-10, atol=1e-12)
    # the recipe travels with the metric: Monte-Carlo draws and their seed, damping and its kind, pinv
    mc = KFAC(KFACMetric(prob, fisher="mc", mc_samples=3, seed=7, damping=1e-2, damping_kind="factors",
                         pinv=True)).pullback(random_affine(net, seed=1)).metric
    assert (mc.fisher, mc.source.mc_samples, mc.source.seed) == ("mc", 3, 7)
    assert (mc.damping, mc.damping_kind, mc.pinv) == (1e-2, "factors", True)
    other = rgeom.models.mlp([3, 5, 2], activation="tanh")
    with pytest.raises(UnsupportedMapError, match="not those of"):
        KFAC(KFACMetric(prob)).pullback(random_affine(other, seed=1))
    with pytest.raises(UnsupportedMapError, match="mixes parameters"):
        KFAC(KFACMetric(prob)).pullback(rgeom.maps.Scale(np.linspace(1.0, 2.0, net.dim)))


def test_kfac_on_homogeneous_weights_equals_kfac_with_separate_biases():
    """The same tanh network as rgeom.models.mlp (weights and biases apart: K-FAC appends the 1 to
    the layer input itself) and as homogeneous matrices [W | b]: the K-FAC steps agree."""
    from rgeom.metrics.kfac import KFAC as KFACMetric

    prob, theta, metric = _kfac_problem(n=8)
    ref = rgeom.models.mlp([2, 3, 2], activation="tanh")
    named = {}
    for i, W in enumerate(prob.model.layout.split(theta)):
        named[f"{2 * i}.weight"], named[f"{2 * i}.bias"] = W[:, :-1], W[:, -1]
    theta_ref = ref.layout.flatten(named)
    X, Y = np.asarray(prob.batches[0][0]), np.asarray(prob.batches[0][1])
    prob_ref = rgeom.models.Problem(ref, "gaussian", (X, Y))
    step_ref = KFAC(KFACMetric(prob_ref)).field(prob_ref.objective)(0.0, (theta_ref,))[0]
    step = KFAC(metric).field(prob.objective)(0.0, (theta,))[0]
    got = ref.layout.unflatten(step_ref)
    for i, V in enumerate(prob.model.layout.split(step)):
        np.testing.assert_allclose(got[f"{2 * i}.weight"], V[:, :-1], atol=1e-12)
        np.testing.assert_allclose(got[f"{2 * i}.bias"], V[:, -1], atol=1e-12)


# --- Shampoo ---------------------------------------------------------------------------------------------
def test_shampoo_step_and_orthogonal_kronecker_invariance():
    layout = MatrixLayout([(2, 3), (1, 3)])
    rng = np.random.default_rng(1)
    theta = rng.normal(size=layout.size)
    loss = lambda th: anp.sum(anp.sin(th) * anp.arange(1.0, 10.0)) + 0.5 * anp.sum(th ** 4)  # noqa: E731
    opt = Shampoo(layout, eps=1e-3)
    state = opt.init(loss, theta)
    step = opt.field(loss)(0.0, state)[0]
    ref = []
    for G in layout.split(autograd.grad(loss)(theta)):
        L, R = G @ G.T + 1e-3 * np.eye(G.shape[0]), G.T @ G + 1e-3 * np.eye(G.shape[1])
        ref.append(-np.real(scipy.linalg.fractional_matrix_power(L, -0.25)) @ G
                   @ np.real(scipy.linalg.fractional_matrix_power(R, -0.25)))
    np.testing.assert_allclose(step, layout.join(ref), atol=1e-12)
    assert [c.kind for c in opt.components] == ["point", "none", "none", "none", "none"]
    g = make_map("kronecker_orthogonal", layout.size, seed=2, layout=layout)
    psi = g.inverse(theta)
    L = rgeom.pullback(loss, g)
    u = opt.pullback(g).field(L)(0.0, opt.init(L, psi))[0]
    np.testing.assert_allclose(g.jvp(psi, u), step, atol=1e-12)
    g = make_map("kronecker", layout.size, seed=2, layout=layout)
    psi = g.inverse(theta)
    L = rgeom.pullback(loss, g)
    u = opt.pullback(g).field(L)(0.0, opt.init(L, psi))[0]
    assert np.linalg.norm(g.jvp(psi, u) - step) > 1e-2


# --- state transport ------------------------------------------------------------------------------------
def test_map_state_uses_the_declared_kinds():
    polar = rgeom.maps.Polar()
    psi, u = np.array([2.0, 0.3]), np.array([0.5, -1.0])
    theta, v = map_state(HeavyBall(), polar, (psi, u))
    np.testing.assert_allclose(theta, polar(psi), atol=1e-15)
    np.testing.assert_allclose(v, polar.jacobian(psi) @ u, atol=1e-14)
    adam_state = (psi, u, u ** 2)
    with pytest.raises(TensorTypeError, match="'v' of Adam has no tensorial rule"):
        map_state(Adam(), polar, adam_state)
    # a covector component transforms by J⁻ᵀ, so pairing it with a vector is chart-independent
    from rgeom.flows.optimizers.base import Component

    class _CovectorState(GD):
        components = (Component("theta", "point"), Component("m", "covector"))

    w = np.array([0.2, 0.7])
    _, m = map_state(_CovectorState(), polar, (psi, w))
    np.testing.assert_allclose(m @ (polar.jacobian(psi) @ u), w @ u, atol=1e-14)
    with pytest.raises(ValueError, match="kind must be one of"):
        Component("m", "tensor")


# --- bad input and blow-ups -------------------------------------------------------------------------------
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), "fast"])
def test_bad_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        GD().run(quad, THETA0, lr, 3)


def test_bad_steps_and_start_are_refused():
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        GD().run(quad, THETA0, 0.1, 0)
    with pytest.raises(NonFiniteError, match="theta0"):
        GD().run(quad, np.array([1.0, np.nan, 0.0]), 0.1, 3)
    with pytest.raises(ShapeError, match="theta0 must be a 1-D array"):
        GD().run(quad, np.ones((3, 1)), 0.1, 3)
    with pytest.raises(ShapeError, match="Shampoo: theta must have shape"):
        Shampoo(MatrixLayout([(2, 2)])).run(quad, THETA0, 0.1, 2)


def test_a_flow_that_blows_up_says_so_with_the_time_reached():
    """θ̇ = θ³ from θ = 1 blows up at t = 1/2; Euler steps of size 0.01 exceed 1e12 soon after."""
    sol = GD().run(lambda th: -0.25 * anp.sum(th ** 4), np.array([1.0]), 0.01, 200)
    assert sol.status == "diverged" and 0.4 < sol.t_reached < 1.0
    assert "at t = " in sol.message
    sol = RiemannianGD().run(lambda th: -0.25 * anp.sum(th ** 4), np.array([1.0]), 0.01, 200)
    assert sol.status == "diverged" and 0.4 < sol.t_reached < 1.0 and "at t = " in sol.message
    assert sol.ys[0].shape[0] == sol.n_steps + 1


# --- backends --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gd", "heavy_ball", "adam", "ngd", "ngd_momentum_lc", "newton", "shampoo"])
def test_backends_agree_with_autograd(bk, to_np, name):
    """The same run on every backend, float64 (jax with x64): trajectories agree to 1e-12."""
    polar = rgeom.maps.Polar()
    kwargs = {"layout": MatrixLayout([(1, 2)])} if name == "shampoo" else {}
    opt = get(name, **kwargs)
    if name in ("ngd", "ngd_momentum_lc"):
        opt = opt.pullback(polar, dim=2)

    def loss(psi):
        xp = bk.xp if bk.owns(psi) else rgeom.backend.namespace(psi)
        th = polar(psi)
        return 0.5 * th[0] ** 2 + 2.0 * th[1] ** 2 + 0.1 * xp.sum(xp.sin(psi))

    psi0 = np.array([1.4, 0.7])
    ref = opt.run(loss, psi0, 0.05, 6)
    out = opt.run(loss, bk.asarray(psi0), 0.05, 6)
    assert out.status == "success"
    for a, b in zip(out.ys, ref.ys):
        np.testing.assert_allclose(to_np(a), np.asarray(b), atol=1e-12)


def test_kronecker_map_tangents_are_closed_form_and_correct():
    layout = MatrixLayout([(2, 3), (3, 2)])
    g = make_map("kronecker", layout.size, seed=5, layout=layout)
    assert isinstance(g, KroneckerMap)
    rng = np.random.default_rng(0)
    psi, u, w = (rng.normal(size=layout.size) for _ in range(3))
    J = autograd.jacobian(g.forward)(psi)
    np.testing.assert_allclose(g.jvp(psi, u), J @ u, atol=1e-13)
    np.testing.assert_allclose(g.vjp(psi, w), J.T @ w, atol=1e-13)
    np.testing.assert_allclose(g.inverse_jvp(g(psi), u), np.linalg.solve(J, u), atol=1e-12)
    np.testing.assert_allclose(g.inverse_vjp(g(psi), w), np.linalg.solve(J.T, w), atol=1e-12)
    np.testing.assert_allclose(g.inverse(g(psi)), psi, atol=1e-13)
    assert g.log_abs_det_jacobian(psi) == pytest.approx(np.linalg.slogdet(J)[1], abs=1e-12)


def test_deep_linear_tangents_are_closed_form_and_correct():
    pi = DeepLinear(2, 3, hidden=(4, 3))
    rng = np.random.default_rng(1)
    psi, u, w = rng.normal(size=pi.dim_in), rng.normal(size=pi.dim_in), rng.normal(size=pi.dim_out)
    J = autograd.jacobian(pi.forward)(psi)
    np.testing.assert_allclose(pi.jacobian(psi), J, atol=1e-13)
    np.testing.assert_allclose(pi.jvp(psi, u), J @ u, atol=1e-13)
    np.testing.assert_allclose(pi.vjp(psi, w), J.T @ w, atol=1e-13)
    with pytest.raises(ShapeError, match="expects a point of shape"):
        pi(np.ones(3))


@pytest.mark.parametrize("singular", [False, True])
def test_submersion_pseudo_inverse_matches_the_dense_one(bk, to_np, singular):
    """(Dπᵀ G Dπ)⁺ w through the SVD of G^{1/2} Dπ against numpy's dense pseudo-inverse."""
    pi = DeepLinear(2, 3, hidden=(3, 4))
    rng = np.random.default_rng(0)
    M = np.diag([1.0, 1.0, 0.0, 1.0, 0.0, 2.0]) if singular else (lambda B: B @ B.T + 0.1 * np.eye(6))(
        rng.normal(size=(6, 6)))
    G = SubmersionPullback(rgeom.metrics.Dense(lambda w: bk.asarray(M) + 0.0 * w[0], dim=6), pi)
    psi, w = rng.normal(size=pi.dim_in), rng.normal(size=pi.dim_in)
    ref = np.linalg.pinv(to_np(G.matrix(bk.asarray(psi))), hermitian=True, rtol=1e-10) @ w
    out = to_np(G.pinv_solve(bk.asarray(psi), bk.asarray(w), 1e-10))
    np.testing.assert_allclose(out, ref, atol=1e-10 * np.abs(ref).max())   # cond(G) ~ 1e4 here
