"""The public testing toolkit itself: strategies keep their promises, assertions can fail.

Strategy promises (SPD, condition bounds, exact inverses, float64 on the bound backend) are
checked on every draw; each assertion helper is shown to *fail* on a wrong input (a wrong
gradient, a wrong Hessian-vector product, a non-invariant quantity), not only to pass.

Tolerances: condition numbers are checked at relative 1e-12 above their bound (rounding of
Q diag(λ) Qᵀ with cond <= 1e3 moves it by ~1e-13); inverses to 1e-12 relative (float64, at most
3 factors of cond <= 1e3); Taylor slopes within 0.1 of the order (the fit window sits where the
remainder is 1e3 ulps above round-off and 1e-2 below the next Taylor term, see assertions.py).
"""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import rgeom
from rgeom.backend import available_backends, get_backend
from rgeom.testing import (
    TaylorRemainder,
    assert_invariant,
    check_gradient,
    check_hessian,
    diffeomorphisms,
    losses,
    metrics,
    points,
    spd_matrices,
    taylor_remainder_slopes,
)

BACKENDS = available_backends()
AG = get_backend("autograd")
BUDGET = {"autograd": 25, "torch": 10, "jax": 3}

COND_RTOL = 1e-12


def native_type(bk):
    """The array class each backend's strategies must return."""
    return type(bk.asarray(np.zeros(1)))


def count_factors(g):
    return (
        count_factors(g.outer) + count_factors(g.inner) if isinstance(g, rgeom.maps.Compose) else 1
    )


def factors(g):
    return factors(g.outer) + factors(g.inner) if isinstance(g, rgeom.maps.Compose) else [g]


# --- strategies: promises -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_spd_matrices_are_spd_with_bounded_condition(backend):
    bk = get_backend(backend)

    @settings(max_examples=BUDGET[backend] * 2)
    @given(
        st.data(),
        st.integers(1, 6),
        st.sampled_from([1.0, 2.0, 100.0, 1e3]),
        st.sampled_from([1e-3, 1.0, 7.5]),
    )
    def run(data, d, kappa, scale):
        G_b = data.draw(spd_matrices(d, max_condition=kappa, scale=scale, backend=backend))
        assert isinstance(G_b, native_type(bk))
        G = bk.to_numpy(G_b)
        assert G.dtype == np.float64 and G.shape == (d, d)
        assert np.array_equal(G, G.T)
        lam = np.linalg.eigvalsh(G)
        assert lam[0] >= scale * (1 - COND_RTOL) and lam[-1] <= scale * kappa * (1 + COND_RTOL)
        assert np.linalg.cond(G) <= kappa * (1 + COND_RTOL)
        np.linalg.cholesky(G)

    run()


def test_spd_matrices_reach_their_condition_bound():
    """The bound is not vacuous: u = 1 draws have cond = max_condition (shrinking goes to u = 0).

    ``find`` searches (deterministically, up to 500 draws) for a matrix at each end instead of
    hoping that a fixed number of random draws hits u = 1 (60 draws once missed it)."""
    opts = settings(max_examples=500, database=None, derandomize=True)
    top = find(spd_matrices(3, max_condition=50.0), lambda G: np.linalg.cond(G) > 49.9, settings=opts)
    flat = find(spd_matrices(3, max_condition=50.0), lambda G: np.linalg.cond(G) < 1.0 + 1e-9, settings=opts)
    assert np.linalg.cond(top) <= 50.0 * (1 + 1e-9) and np.linalg.cond(flat) >= 1.0 - 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_points_are_float64_in_the_box(backend):
    bk = get_backend(backend)

    @settings(max_examples=BUDGET[backend] * 2)
    @given(st.data(), st.integers(1, 5), st.sampled_from([0.5, 1.0, 10.0]))
    def run(data, d, bound):
        x = data.draw(points(d, bound=bound, backend=backend))
        assert isinstance(x, native_type(bk))
        a = bk.to_numpy(x)
        assert a.shape == (d,) and a.dtype == np.float64
        assert np.all(np.isfinite(a)) and np.all(np.abs(a) <= bound)

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_metrics_are_spd_bounded_and_backend_generic(backend):
    bk = get_backend(backend)

    @settings(max_examples=BUDGET[backend])
    @given(
        st.data(),
        st.integers(1, 4),
        st.sampled_from([None, True, False]),
        st.sampled_from([1.0, 10.0, 100.0]),
    )
    def run(data, d, constant, kappa):
        G = data.draw(metrics(d, max_condition=kappa, constant=constant, backend=backend))
        assert G.dim == d
        if constant is not None:
            assert G.constant is constant
        theta = data.draw(points(d, bound=5.0, backend=backend))
        M = bk.to_numpy(G.at(theta).as_matrix())
        M_np = np.asarray(G.matrix(bk.to_numpy(theta)))  # same metric on NumPy arrays
        np.testing.assert_allclose(M, M_np, rtol=1e-13, atol=1e-14)
        assert np.allclose(M, M.T, rtol=0, atol=1e-14 * np.abs(M).max())
        assert np.linalg.eigvalsh(M)[0] > 0
        assert np.linalg.cond(M) <= kappa * (1 + COND_RTOL)
        if constant is False and kappa > 1:  # really θ-dependent
            other = bk.to_numpy(G.at(theta + 1.0).as_matrix())
            assert not np.allclose(other, M, rtol=1e-6, atol=0)

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_diffeomorphisms_are_invertible_and_well_conditioned(backend):
    bk = get_backend(backend)

    @settings(max_examples=BUDGET[backend] * 2)
    @given(
        st.data(),
        st.integers(1, 4),
        st.sampled_from([1.0, 5.0, 100.0, 1e3]),
        st.sampled_from([0.5, 1.0, 3.0]),
    )
    def run(data, d, kappa, bound):
        g = data.draw(
            diffeomorphisms(d, depth=(1, 4), max_condition=kappa, bound=bound, backend=backend)
        )
        psi = data.draw(points(d, bound=bound, backend=backend))
        assert 1 <= count_factors(g) <= 4
        theta = g(psi)
        assert isinstance(theta, native_type(bk))
        psi_np, theta_np = bk.to_numpy(psi), bk.to_numpy(theta)
        np.testing.assert_allclose(np.asarray(g(psi_np)), theta_np, rtol=1e-13, atol=1e-13)
        back = bk.to_numpy(g.inverse(theta))
        assert np.abs(back - psi_np).max() <= 1e-12 * (1 + np.abs(psi_np).max())
        J = AG.jacobian(g.forward, psi_np)
        assert np.linalg.cond(J) <= kappa * (1 + COND_RTOL), (np.linalg.cond(J), g)

    run()


@pytest.mark.parametrize(
    "kinds, types",
    [
        (("affine",), (rgeom.maps.Affine,)),
        (("elementwise",), (rgeom.maps.Sinh, rgeom.maps.Scale)),
        (("coupling",), (rgeom.maps.AffineCoupling,)),
    ],
)
def test_diffeomorphisms_respect_kinds_and_depth(kinds, types):
    @settings(max_examples=20)
    @given(diffeomorphisms(3, depth=2, kinds=kinds))
    def run(g):
        parts = factors(g)
        assert len(parts) == 2 and all(isinstance(f, types) for f in parts)

    run()


def test_coupling_is_skipped_in_one_dimension():
    @settings(max_examples=20)
    @given(diffeomorphisms(1, depth=3))
    def run(g):
        assert not any(isinstance(f, rgeom.maps.AffineCoupling) for f in factors(g))

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_are_smooth_backend_generic_and_critical_on_request(backend):
    bk = get_backend(backend)

    @settings(max_examples=BUDGET[backend])
    @given(st.data(), st.integers(1, 4))
    def run(data, d):
        x = data.draw(points(d, backend=backend))
        L = data.draw(losses(d, backend=backend))
        x_np = bk.to_numpy(x)
        np.testing.assert_allclose(bk.to_numpy(L(x)), L(x_np), rtol=1e-13, atol=1e-13)
        Lc = data.draw(losses(d, critical_point=x, backend=backend))
        assert np.abs(bk.to_numpy(bk.grad(Lc, x))).max() == 0.0

    run()


def test_losses_have_nonzero_gradients_by_default():
    grads = []

    @settings(max_examples=30, database=None)
    @given(losses(3), points(3))
    def run(L, x):
        grads.append(np.linalg.norm(AG.grad(L, x)))

    run()
    assert np.median(grads) > 1e-2


# --- strategies: argument validation --------------------------------------------------------------
BAD_ARGUMENTS = [
    (spd_matrices, (0,), {}),
    (spd_matrices, (2.5,), {}),
    (spd_matrices, (True,), {}),
    (spd_matrices, (2,), {"max_condition": 0.5}),
    (spd_matrices, (2,), {"max_condition": float("nan")}),
    (spd_matrices, (2,), {"max_condition": float("inf")}),
    (spd_matrices, (2,), {"max_condition": 1e11}),
    (spd_matrices, (2,), {"max_condition": "10"}),
    (spd_matrices, (2,), {"scale": 0.0}),
    (spd_matrices, (2,), {"scale": -1.0}),
    (spd_matrices, (2,), {"backend": "numpy"}),
    (points, (-1,), {}),
    (points, (2,), {"bound": 0.0}),
    (points, (2,), {"bound": float("inf")}),
    (points, (2,), {"backend": 3}),
    (metrics, (0,), {}),
    (metrics, (2,), {"max_condition": 0.99}),
    (metrics, (2,), {"constant": "yes"}),
    (metrics, (2,), {"backend": "tensorflow"}),
    (diffeomorphisms, (0,), {}),
    (diffeomorphisms, (2,), {"depth": 0}),
    (diffeomorphisms, (2,), {"depth": (3, 1)}),
    (diffeomorphisms, (2,), {"depth": (1, 17)}),
    (diffeomorphisms, (2,), {"depth": "2"}),
    (diffeomorphisms, (2,), {"kinds": ()}),
    (diffeomorphisms, (2,), {"kinds": ("affine", "polar")}),
    (diffeomorphisms, (1,), {"kinds": ("coupling",)}),
    (diffeomorphisms, (2,), {"max_condition": 0.0}),
    (diffeomorphisms, (2,), {"bound": -1.0}),
    (losses, (0,), {}),
    (losses, (2,), {"critical_point": np.zeros(3)}),
    (losses, (2,), {"critical_point": np.array([0.0, np.nan])}),
]


@pytest.mark.parametrize(
    "factory, args, kwargs", BAD_ARGUMENTS, ids=[f"{f.__name__}{a}{k}" for f, a, k in BAD_ARGUMENTS]
)
def test_bad_arguments_raise_invalid_argument(factory, args, kwargs):
    with pytest.raises(InvalidArgument, match=factory.__name__):
        factory(*args, **kwargs)


def test_controls_are_keyword_only():
    with pytest.raises(TypeError):
        spd_matrices(2, 10.0)
    with pytest.raises(TypeError):
        diffeomorphisms(2, (1, 2))


@pytest.mark.skipif("jax" not in BACKENDS, reason="jax not installed")
def test_jax_without_x64_is_refused_not_downcast():
    code = (
        "from hypothesis import given, settings\n"
        "from hypothesis.errors import InvalidArgument\n"
        "from rgeom.testing import points\n"
        "@settings(max_examples=1, database=None)\n"
        "@given(points(2, backend='jax'))\n"
        "def t(x): pass\n"
        "try:\n    t()\n"
        "except InvalidArgument as e:\n    print('refused', 'jax_enable_x64' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "refused True", out.stderr


def test_import_rgeom_testing_is_lazy():
    code = (
        "import sys, rgeom\n"
        "a = 'hypothesis' in sys.modules or 'rgeom.testing' in sys.modules\n"
        "from rgeom.testing import assert_invariant, check_gradient\n"
        "b = 'hypothesis' in sys.modules\n"
        "from rgeom.testing import points\n"
        "print(a, b, 'hypothesis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "True"], out.stderr


# --- Taylor-remainder checks --------------------------------------------------------------------
def wavy(bk):
    xp = bk.xp
    return lambda x: xp.sum(xp.sin(x) * x) + 0.3 * xp.sum(x) ** 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_gradient_passes_on_the_gradient_and_fails_on_a_wrong_one(backend):
    bk = get_backend(backend)
    f, x = wavy(bk), bk.asarray(np.array([0.3, -1.2, 0.7]))
    grad = bk.grad(f, x)
    assert abs(check_gradient(f, x, grad) - 2.0) < 0.1
    assert abs(check_gradient(f, x, lambda y: bk.grad(f, y)) - 2.0) < 0.1  # callable form
    assert abs(check_gradient(f, x, rgeom.Covector(x, grad)) - 2.0) < 0.1  # covector form
    for wrong in (grad * 1.01, grad + bk.asarray(np.array([0.0, 1e-4, 0.0])), -grad):
        with pytest.raises(AssertionError, match="slope 1.0"):
            check_gradient(f, x, wrong)


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_hessian_passes_on_the_hvp_and_fails_on_a_wrong_one(backend):
    bk = get_backend(backend)
    f, x = wavy(bk), bk.asarray(np.array([0.3, -1.2, 0.7]))
    grad = bk.grad(f, x)
    assert abs(check_hessian(f, x, grad, lambda v: bk.hvp(f, x, v)) - 3.0) < 0.1
    assert abs(check_hessian(f, x, grad, bk.hessian(f, x)) - 3.0) < 0.1  # dense form
    assert abs(check_hessian(f, x, grad, rgeom.riemannian_hessian(f, None, x)) - 3.0) < 0.1
    with pytest.raises(AssertionError, match="slope 2.0") as err:
        check_hessian(f, x, grad, lambda v: 1.02 * bk.hvp(f, x, v))
    assert "second difference" in str(err.value) and "remainder" in str(err.value)
    with pytest.raises(AssertionError, match="slope 1.0"):  # wrong gradient
        check_hessian(f, x, grad * 1.1, lambda v: bk.hvp(f, x, v))


def test_exact_models_give_an_infinite_slope():
    """Affine f in a gradient check, quadratic f in a Hessian check: remainder at round-off."""
    A = np.array([[2.0, 1.0], [1.0, 3.0]])

    def q(y):
        return 0.5 * y @ A @ y

    x = np.array([1.0, -2.0])
    assert check_gradient(lambda y: 3.0 * y[0] - y[1], x, np.array([3.0, -1.0])) == np.inf
    assert check_hessian(q, x, A @ x, A) == np.inf
    with pytest.raises(AssertionError, match="expected >= 3"):
        check_hessian(q, x, A @ x, A + 1e-3 * np.eye(2))


def test_noise_level_of_an_inexact_function():
    """``noise=`` lifts the floor for functions evaluated to ~1e-10 only (e.g. an ODE solve)."""

    def f(y):  # smooth + a tiny wiggle
        return np.sum(np.cos(y)) + 1e-10 * np.sin(1e6 * np.sum(y))

    x = np.array([0.4, 0.9])
    assert abs(check_gradient(f, x, -np.sin(x), noise=1e-9) - 2.0) < 0.1


def test_taylor_remainder_report_and_argument_checks():
    x = np.array([0.5, 1.5])
    res = taylor_remainder_slopes(lambda y: np.sum(np.exp(y)), x, grad=np.exp(x))
    assert isinstance(res, TaylorRemainder) and res.order == 2 and res.used.sum() == 5
    assert np.all(res.remainders[res.used] > res.floor[res.used])
    assert "fitted slope" in str(res) and "remainder" in res.table()
    assert taylor_remainder_slopes(lambda y: np.sum(np.exp(y)), x).order == 1
    with pytest.raises(ValueError, match="needs grad"):
        taylor_remainder_slopes(np.sum, x, hess_vec=np.eye(2))
    with pytest.raises(ValueError, match="window"):
        taylor_remainder_slopes(np.sum, x, grad=np.ones(2), window=2)
    with pytest.raises(ValueError, match="direction"):
        taylor_remainder_slopes(np.sum, x, grad=np.ones(2), direction=np.ones(3))


def test_riemannian_hessian_along_exact_geodesics():
    """Along geodesics (here exact: straight lines in θ seen in polar ψ) the Riemannian Hessian
    is the second-order term; the naive ∂²(L∘g) is not, off a critical point — and vice versa
    along straight lines in ψ."""
    polar = rgeom.maps.Polar()
    G = rgeom.pullback(rgeom.metrics.Euclidean(2), polar)
    L = rgeom.pullback(
        lambda th: 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2 + np.sin(th[0] * th[1]), polar
    )
    psi = np.array([1.5, 0.4])

    def geodesic(p, xi):  # exp map of g*I: straight lines in θ
        return polar.inverse(polar(p) + polar.jvp(p, xi))

    grad = AG.grad(L, psi)
    riem, naive = rgeom.riemannian_hessian(L, G, psi), rgeom.riemannian_hessian(L, None, psi)
    assert abs(check_hessian(L, psi, grad, riem, retraction=geodesic) - 3.0) < 0.1
    with pytest.raises(AssertionError, match="expected >= 3"):
        check_hessian(L, psi, grad, naive, retraction=geodesic)
    assert abs(check_hessian(L, psi, grad, naive) - 3.0) < 0.1
    with pytest.raises(AssertionError, match="expected >= 3"):
        check_hessian(L, psi, grad, riem)


@pytest.mark.parametrize("backend", BACKENDS)
def test_taylor_checks_certify_autodiff_and_riemannian_hessians(backend):
    """Property: on generated losses, maps and flat metrics pulled back along them, the autodiff
    gradient passes, a perturbed one fails, and the Riemannian Hessian passes along the exact
    geodesics ψ ↦ g⁻¹(g(ψ) + J ξ)."""
    bk = get_backend(backend)

    @settings(max_examples={"autograd": 10, "torch": 5, "jax": 2}[backend])
    @given(st.data())
    def run(data):
        d = data.draw(st.integers(1, 3)) if backend != "jax" else 3
        g = data.draw(diffeomorphisms(d, max_condition=10.0, backend=backend))
        G = rgeom.pullback(data.draw(metrics(d, constant=True, max_condition=10.0)), g)
        L = rgeom.pullback(data.draw(losses(d, backend=backend)), g)
        psi = data.draw(points(d, backend=backend))
        grad = bk.grad(L, psi)
        assert check_gradient(L, psi, grad) >= 1.9
        with pytest.raises(AssertionError):
            check_gradient(L, psi, grad + bk.asarray(np.full(d, 1e-3)))

        def geodesic(p, xi):
            return g.inverse(g(p) + g.jvp(p, xi))

        H = rgeom.riemannian_hessian(L, G, psi)
        assert check_hessian(L, psi, grad, H, retraction=geodesic) >= 2.9

    run()


# --- assert_invariant -----------------------------------------------------------------------------
def quadratic(th):
    return 0.5 * (th[0] - 1) ** 2 + 2.0 * (th[1] - 1) ** 2


# assert_invariant only converts results with NumPy; JAX (slow here: eager compilation of the
# Christoffel terms) is exercised through it in test_rules_properties.py.
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "jax"])
def test_assert_invariant_passes_on_invariants_and_fails_on_naive_measures(backend):
    bk = get_backend(backend)
    g = rgeom.maps.Sinh(0.8) @ rgeom.maps.AffineCoupling([True, False], [[0.4]], [[0.3]])
    theta = bk.asarray(np.array([0.3, 0.5]))  # not a critical point of the quadratic
    euclid = rgeom.metrics.Euclidean(2)

    def invariant(L, G, x):
        return rgeom.flatness(L, x, metric=G).eigenvalues

    def naive(L, G, x):
        return rgeom.flatness(L, x, metric=G, christoffel=False).eigenvalues

    a, b = assert_invariant(invariant, (quadratic, euclid), g, theta)
    np.testing.assert_allclose(a, [1.0, 4.0], rtol=1e-12)
    with pytest.raises(AssertionError) as err:
        assert_invariant(naive, (quadratic, euclid), g, theta)
    msg = str(err.value)
    assert msg.startswith(
        "naive is not invariant under θ = g(ψ), g = Sinh(0.8) @ AffineCoupling(d=2)"
    )
    for part in ("θ chart:", "ψ chart:", "|diff|:", "ψ = g⁻¹(θ)", "rtol=1e-08"):
        assert part in msg
    # the plain Hessian spectrum (identity metric in each chart) is not invariant either
    with pytest.raises(AssertionError, match="Hessian spectrum"):
        assert_invariant(
            lambda L, x: rgeom.flatness(L, x).eigenvalues,
            quadratic,
            g,
            theta,
            name="Hessian spectrum",
        )


def test_assert_invariant_with_objects_that_carry_their_point():
    theta = np.array([1.0, 0.5])
    w, v = rgeom.Covector(theta, np.array([1.0, -2.0])), rgeom.Vector(theta, np.array([0.5, 3.0]))
    g = rgeom.maps.Polar()
    pairing, _ = assert_invariant(lambda a, b: a(b), (w, v), g)
    assert float(pairing) == pytest.approx(-5.5, rel=1e-12)
    with pytest.raises(AssertionError, match="components"):
        assert_invariant(lambda a: a.components, w, g, name="components")
    with pytest.raises(AssertionError, match="shape"):
        assert_invariant(
            lambda L, x: x if x[0] > 1.2 else x[:1], quadratic, g, np.array([1.0, 1.0])
        )
    with pytest.raises(TypeError, match="Map"):
        assert_invariant(lambda L, x: L(x), quadratic, "polar", theta)
