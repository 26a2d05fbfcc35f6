"""Integrators and the driver: declared orders against measured ones, error control against scipy,
dense output, divergence, bad input and compilation (one trace for many steps on JAX).

References are independent of the code under test: ``scipy.linalg.expm`` for the linear flow
``ẏ = A y`` (A with eigenvalues -1, -2, -0.5 ± 2i), closed forms for the scalar flows, and
``scipy.integrate`` for step counts. Every test runs on every installed backend (``bk``).
"""

import functools

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from rgeom.backend import get_backend
from rgeom.errors import ConvergenceError, NonFiniteError, ShapeError
from rgeom.flows import Solution, integrate, integrators
from rgeom.flows.integrators import Dopri5, Euler, FixedStep, ScipyIVP

# ---- the linear test flow: two state components coupled by A -----------------------------------
_rng = np.random.default_rng(0)
_D = np.zeros((4, 4))
_D[0, 0], _D[3, 3] = -1.0, -2.0
_D[1:3, 1:3] = [[-0.5, 2.0], [-2.0, -0.5]]
_P = np.eye(4) + 0.3 * _rng.standard_normal((4, 4))          # cond(P) ≈ 2.3: non-normal but tame
A = _P @ _D @ np.linalg.inv(_P)
Y0 = np.array([1.0, -0.5, 0.25, 2.0])


@functools.lru_cache(maxsize=None)
def linear_field(bk):
    """ẏ = A y on the state (y[:2], y[2:]); one function per backend, so that JAX compiles each
    integrator's loop once for the whole module."""
    blocks = [[bk.asarray(A[:2, :2]), bk.asarray(A[:2, 2:])], [bk.asarray(A[2:, :2]), bk.asarray(A[2:, 2:])]]

    def field(t, y):
        a, b = y
        return (blocks[0][0] @ a + blocks[0][1] @ b, blocks[1][0] @ a + blocks[1][1] @ b)

    return field


def state0(bk):
    return (bk.asarray(Y0[:2]), bk.asarray(Y0[2:]))


def flat(to_np, y):
    return np.concatenate([to_np(a) for a in y])


def exact(t):
    return expm(A * t) @ Y0


def slope(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


# ---- registry -----------------------------------------------------------------------------------
def test_registry_declares_orders():
    assert integrators.orders()["euler"] == 1
    assert integrators.orders()["rk2"] == integrators.orders()["heun"] == 2
    assert integrators.orders()["rk4"] == 4
    assert integrators.orders()["dopri5"] == 5 and integrators.get("dopri5").error_order == 4
    assert integrators.get("scipy:DOP853").order == 8
    assert integrators.get("scipy:BDF").order is None
    custom = Dopri5(beta=0.04)
    assert integrators.get(custom) is custom
    with pytest.raises(ValueError, match="unknown integrator 'rk5'.*euler, heun"):
        integrators.get("rk5")
    with pytest.raises(ValueError, match="scipy method"):
        ScipyIVP("RK99")
    with pytest.raises(ValueError, match="beta"):
        Dopri5(beta=0.5)


# ---- orders -------------------------------------------------------------------------------------
# Step counts keep every error in the asymptotic range and far above rounding (≥ 1e-10, while
# float64 rounding over ≤ 512 steps is ~1e-13), so the fitted slope is within ±0.15 of the order.
FIXED_STEPS = {"euler": [64, 128, 256, 512], "heun": [16, 32, 64, 128], "rk4": [8, 16, 32, 64]}


@pytest.mark.parametrize("name", sorted(FIXED_STEPS))
def test_fixed_step_order_on_linear_flow(bk, to_np, name):
    field, integ = linear_field(bk), integrators.get(name)
    errs, hs = [], []
    for n in FIXED_STEPS[name]:
        sol = integrate(field, state0(bk), dt=1.0 / n, n_steps=n, integrator=name, save_every=n)
        assert sol.status == "success" and sol.n_steps == n and sol.n_field_evals == n * integ.n_stages
        errs.append(np.abs(flat(to_np, sol.y_final) - exact(1.0)).max())
        hs.append(1.0 / n)
    assert abs(slope(hs, errs) - integ.order) < 0.15, errs


def test_dopri5_step_order_on_linear_flow(bk, to_np):
    """The propagated formula of the adaptive pair, used with fixed steps, has order 5."""
    field, integ, errs, hs = linear_field(bk), Dopri5(), [], []
    for n in (16, 32, 64):          # smaller n: the h⁶ term still adds ≈ 0.15 to the slope
        y, h = state0(bk), 1.0 / n
        for k in range(n):
            y = integ.step(field, k * h, y, h)
        errs.append(np.abs(flat(to_np, y) - exact(1.0)).max())
        hs.append(h)
    assert abs(slope(hs, errs) - integ.order) < 0.15, errs


@pytest.mark.parametrize("name", ["euler", "heun", "rk4", "dopri5"])
def test_order_on_time_dependent_flow(name):
    """ẏ = cos(t) y, y = exp(sin t): the stage times c_i enter (a wrong c_i lowers the order)."""
    integ = integrators.get(name)
    field = lambda t, y: (np.cos(t) * y[0],)           # noqa: E731
    ns = FIXED_STEPS.get(name, [16, 32, 64])
    errs = []
    for n in ns:
        y = (np.array([1.0]),)
        for k in range(n):
            y = integ.step(field, 2.0 * k / n, y, 2.0 / n)
        errs.append(abs(y[0][0] - np.exp(np.sin(2.0))))
    assert abs(slope(2.0 / np.array(ns), errs) - integ.order) < 0.15, errs


# scipy's explicit pairs with huge tolerances and max_step = first_step = h take fixed steps h.
@pytest.mark.parametrize("method, hs", [("RK23", [1 / 8, 1 / 16, 1 / 32, 1 / 64]),
                                        ("RK45", [1 / 16, 1 / 32, 1 / 64]),
                                        ("DOP853", [1 / 2, 1 / 4, 1 / 8])])
def test_scipy_bridge_order(bk, to_np, method, hs):
    errs = []
    for h in hs:
        integ = ScipyIVP(method, options=(("max_step", h),))
        sol = integrate(linear_field(bk), state0(bk), t1=1.0, dt=h, integrator=integ, rtol=1e3, atol=1e3)
        assert sol.status == "success" and sol.n_steps == round(1 / h) and sol.n_rejected == 0
        errs.append(np.abs(flat(to_np, sol.y_final) - exact(1.0)).max())
    assert abs(slope(hs, errs) - integ.order) < 0.15, errs


# ---- adaptive error control ---------------------------------------------------------------------
TOLS = 10.0 ** -np.arange(4, 11)

# Adaptive runs agree across backends (and with scipy) only to ~1e-8: the error estimate is a difference of
# O(1) stages that is ~tol in size, so rounding differences of 1e-16 (other summation orders,
# XLA fusion) change it by ~1e-16/tol relatively, and the step sizes with it.
ADAPTIVE_AGREEMENT = dict(rtol=1e-6, atol=1e-8)


def test_dopri5_tolerance_scaling(bk, to_np):
    """Steps ∝ tol^(-1/(q+1)) with q = 4 (the error estimate's order); error ∝ tol.

    Measured slopes on this flow: -0.19 and 0.98 (elementary control); the bounds allow for the
    integer step counts and the problem-dependent constant.
    """
    field, steps, errs = linear_field(bk), [], []
    for tol in TOLS:
        sol = integrate(field, state0(bk), t1=10.0, integrator="dopri5", rtol=tol, atol=tol)
        assert sol.status == "success" and sol.t_reached == 10.0
        steps.append(sol.n_steps)
        errs.append(np.abs(flat(to_np, sol.y_final) - exact(10.0)).max())
    assert abs(slope(TOLS, steps) + 1 / 5) < 0.03, steps
    assert 0.85 < slope(TOLS, errs) < 1.15, errs
    assert all(e < 20 * tol for e, tol in zip(errs, TOLS)), errs


def test_dopri5_takes_the_steps_of_scipy_rk45(bk, to_np):
    """With elementary control (the default) Dopri5 is scipy's RK45 step for step."""
    for tol in (1e-5, 1e-9):
        ref = solve_ivp(lambda t, y: A @ y, (0.0, 10.0), Y0, method="RK45", rtol=tol, atol=tol)
        sol = integrate(linear_field(bk), state0(bk), t1=10.0, integrator="dopri5", rtol=tol, atol=tol)
        assert sol.n_field_evals == ref.nfev and sol.n_steps == ref.t.size - 1
        np.testing.assert_allclose(sol.ts, ref.t, **ADAPTIVE_AGREEMENT)
        np.testing.assert_allclose(flat(to_np, sol.y_final), ref.y[:, -1], **ADAPTIVE_AGREEMENT)


def test_pi_control_evaluations_are_sensible():
    """Hairer's PI setting (β = 0.04): within 25% of scipy's evaluations and no worse error."""
    field = linear_field(get_backend("autograd"))
    for tol in (1e-6, 1e-9):
        ref = solve_ivp(lambda t, y: A @ y, (0.0, 10.0), Y0, method="RK45", rtol=tol, atol=tol)
        sol = integrate(field, (Y0[:2], Y0[2:]), t1=10.0, integrator=Dopri5(beta=0.04), rtol=tol, atol=tol)
        assert 0.75 < sol.n_field_evals / ref.nfev < 1.25
        assert np.abs(np.concatenate(sol.y_final) - exact(10.0)).max() < \
            2 * np.abs(ref.y[:, -1] - exact(10.0)).max()


def test_rejections_are_counted(bk):
    """A stiff-ish start (λ = -50) with a huge first step forces rejections; counts add up."""
    field = lambda t, y: (-50.0 * y[0],)           # noqa: E731
    sol = integrate(field, (bk.asarray(np.array([1.0])),), t1=1.0, dt=0.9, integrator="dopri5", rtol=1e-6)
    assert sol.status == "success" and sol.n_rejected > 0
    assert sol.n_field_evals == 1 + 6 * (sol.n_steps + sol.n_rejected)   # f(t0) + FSAL stages
    assert abs(float(sol.y_final[0][0]) - np.exp(-50.0)) < 1e-8


# ---- dense output -------------------------------------------------------------------------------
def test_dense_output(bk, to_np):
    sol = integrate(linear_field(bk), state0(bk), t1=5.0, integrator="dopri5", rtol=1e-8, atol=1e-10)
    ts = np.linspace(0.0, 5.0, 41)
    got = sol.interpolate(ts)
    assert tuple(g.shape for g in got) == ((41, 2), (41, 2))
    err = max(np.abs(np.concatenate([to_np(g[i]) for g in got]) - exact(t)).max() for i, t in enumerate(ts))
    assert err < 1e-7, err                      # ≈ the tolerance, as the steps' own error
    # at the step end points the interpolant reproduces the saved states
    at_steps = sol.interpolate(sol.ts)
    for g, y in zip(at_steps, sol.ys):
        np.testing.assert_allclose(to_np(g), to_np(y), rtol=1e-13, atol=1e-14)
    one = sol.interpolate(2.5)
    assert tuple(o.shape for o in one) == ((2,), (2,))
    with pytest.raises(ValueError, match="integrated interval"):
        sol.interpolate(5.5)


def test_dense_output_is_fourth_order():
    """Interpolation error at mid-steps of fixed-size steps shrinks like h⁵ (local, order-4 interpolant)."""
    field = lambda t, y: (np.cos(t) * y[0],)        # noqa: E731
    errs, hs = [], [0.2, 0.1, 0.05]
    for h in hs:
        integ = Dopri5()
        y, t, f = (np.array([1.0]),), 0.0, None
        f = field(t, y)
        y1, f1, _, stages = integ.attempt(field, t, y, f, h)
        r5 = integ.dense_coefficient(h, stages)
        mid = integ.dense_eval(0.5, h, y[0], y1[0], f[0], f1[0], r5[0])
        errs.append(abs(mid[0] - np.exp(np.sin(0.5 * h))))
    assert abs(slope(hs, errs) - 5) < 0.3, errs


def test_scipy_dense_output(bk, to_np):
    sol = integrate(linear_field(bk), state0(bk), t1=2.0, integrator="scipy:DOP853", rtol=1e-10, atol=1e-12,
                    dense_output=True)
    got = sol.interpolate(np.array([0.3, 1.7]))
    for i, t in enumerate([0.3, 1.7]):
        np.testing.assert_allclose(np.concatenate([to_np(g[i]) for g in got]), exact(t), atol=1e-9)


def test_no_dense_output_is_a_clear_error(bk):
    sol = integrate(linear_field(bk), state0(bk), dt=0.1, n_steps=3)
    with pytest.raises(ValueError, match="no dense output"):
        sol.interpolate(0.1)


# ---- the trajectory -----------------------------------------------------------------------------
def test_euler_is_the_discrete_optimizer(bk, to_np):
    """Euler with dt = lr is gradient descent θ ← θ − lr ∇L, to the last bit."""
    M = np.array([[3.0, 1.0], [1.0, 2.0]])
    Mb = bk.asarray(M)
    field = lambda t, y: (-(Mb @ y[0]),)             # noqa: E731
    sol = integrate(field, (bk.asarray(np.array([1.0, -1.0])),), dt=0.05, n_steps=20)
    theta = np.array([1.0, -1.0])
    for k in range(20):
        theta = theta - 0.05 * (M @ theta)
        np.testing.assert_allclose(to_np(sol.ys[0][k + 1]), theta, rtol=1e-14, atol=1e-15)


def test_save_every(bk, to_np):
    field = linear_field(bk)
    full = integrate(field, state0(bk), dt=0.1, n_steps=10, integrator="rk4")
    part = integrate(field, state0(bk), dt=0.1, n_steps=10, integrator="rk4", save_every=3)
    np.testing.assert_allclose(part.ts, [0.0, 0.3, 0.6, 0.9, 1.0], atol=1e-15)
    for p, f in zip(part.ys, full.ys):
        np.testing.assert_allclose(to_np(p), to_np(f)[[0, 3, 6, 9, 10]], rtol=1e-13)
    assert part.n_field_evals == full.n_field_evals == 40
    ad = integrate(field, state0(bk), t1=3.0, integrator="dopri5", save_every=2)
    ad1 = integrate(field, state0(bk), t1=3.0, integrator="dopri5")
    assert ad.dense is None and ad1.dense is not None
    assert ad.ts[-1] == 3.0 and set(ad.ts) <= set(ad1.ts) and ad.ts.size == 1 + -(-ad1.n_steps // 2)


def test_t1_and_dt_shortens_the_last_step(bk, to_np):
    field = linear_field(bk)
    sol = integrate(field, state0(bk), t1=1.0, dt=0.3, integrator="heun")
    assert sol.n_steps == 4
    np.testing.assert_allclose(sol.ts, [0.0, 0.3, 0.6, 0.9, 1.0], atol=1e-15)
    three = integrate(field, state0(bk), dt=0.3, n_steps=3, integrator="heun")
    last = integrators.get("heun").step(field, 0.9, three.y_final, 0.1)
    np.testing.assert_allclose(flat(to_np, sol.y_final), flat(to_np, last), rtol=1e-13)
    by_n = integrate(field, state0(bk), t1=1.0, n_steps=4, integrator="heun")
    np.testing.assert_allclose(by_n.ts, [0.0, 0.25, 0.5, 0.75, 1.0])


def test_backends_agree(bk, to_np):
    """The same run on every backend (autograd is the reference) agrees: fixed steps to rounding,
    adaptive ones to the error-estimate sensitivity above with identical step counts."""
    ag = get_backend("autograd")
    for name, kw, tol in (("rk4", dict(dt=0.05, n_steps=40), dict(rtol=1e-12, atol=1e-14)),
                          ("dopri5", dict(t1=2.0, rtol=1e-9), ADAPTIVE_AGREEMENT)):
        ref = integrate(linear_field(ag), state0(ag), integrator=name, **kw)
        sol = integrate(linear_field(bk), state0(bk), integrator=name, **kw)
        assert sol.n_field_evals == ref.n_field_evals
        np.testing.assert_allclose(sol.ts, ref.ts, **tol)
        for a, b in zip(sol.ys, ref.ys):
            np.testing.assert_allclose(to_np(a), b, **tol)


def test_jit_false_matches_jit():
    pytest.importorskip("jax")
    bk = get_backend("jax")
    for name, kw, tol in (("heun", dict(dt=0.1, n_steps=7, save_every=2), dict(rtol=1e-12, atol=1e-14)),
                          ("dopri5", dict(t1=1.0), ADAPTIVE_AGREEMENT)):
        a = integrate(linear_field(bk), state0(bk), integrator=name, **kw)
        b = integrate(linear_field(bk), state0(bk), integrator=name, jit=False, **kw)
        assert a.n_field_evals == b.n_field_evals
        np.testing.assert_allclose(a.ts, b.ts, **tol)
        for x, y in zip(a.ys, b.ys):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tol)


# ---- divergence, limits, failures ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["euler", "rk4", "dopri5", "scipy:RK45"])
def test_blow_up_is_reported(bk, to_np, name):
    """ẏ = y², y(0) = 1 blows up at t = 1: status "diverged" with the time reached."""
    field = lambda t, y: (y[0] * y[0],)              # noqa: E731
    kw = dict(t1=2.0) if integrators.get(name).adaptive else dict(dt=0.01, n_steps=300)
    sol = integrate(field, (bk.asarray(np.array([1.0])),), integrator=name, **kw)
    assert sol.status == "diverged" and not sol.success
    assert sol.ts[-1] == sol.t_reached and f"t = {sol.t_reached:.10g}" in sol.message
    assert not abs(float(to_np(sol.y_final[0])[0])) <= 1e12
    if integrators.get(name).adaptive:
        assert abs(sol.t_reached - 1.0) < 1e-5       # error control follows the singularity
    else:
        assert 1.0 <= sol.t_reached < 1.2            # explicit steps lag behind it
    with pytest.raises(ConvergenceError, match="diverged"):
        sol.check()


def test_non_finite_field(bk):
    field = lambda t, y: (y[0] * np.nan,)            # noqa: E731
    y0 = (bk.asarray(np.array([1.0])),)
    sol = integrate(field, y0, dt=0.1, n_steps=5)
    assert sol.status == "diverged" and sol.t_reached == 0.1 and sol.n_steps == 1
    sol = integrate(field, y0, t1=1.0, integrator="dopri5")
    assert sol.status == "failed" and "non-finite" in sol.message and sol.t_reached == 0.0


def test_divergence_threshold(bk):
    sol = integrate(lambda t, y: (y[0],), (bk.asarray(np.array([1.0])),), dt=0.1, n_steps=100,
                    divergence_threshold=2.0)
    assert sol.status == "diverged" and sol.n_steps == 8      # 1.1⁸ = 2.14 > 2 ≥ 1.1⁷
    assert abs(sol.t_reached - 0.8) < 1e-12


def test_max_steps(bk):
    sol = integrate(linear_field(bk), state0(bk), t1=10.0, integrator="dopri5", rtol=1e-10, max_steps=5)
    assert sol.status == "max_steps" and sol.n_steps + sol.n_rejected == 5 and sol.t_reached < 10.0
    assert sol.ts[-1] == sol.t_reached
    sol = integrate(linear_field(bk), state0(bk), t1=10.0, integrator="dopri5", save_every=3, max_steps=5)
    assert sol.ts[-1] == sol.t_reached                # the last state is saved even off the grid
    with pytest.raises(ValueError, match="max_steps"):
        integrate(linear_field(bk), state0(bk), t1=10.0, dt=1e-3, max_steps=100)


# ---- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf")])
def test_nonpositive_learning_rate(bk, dt):
    with pytest.raises(ValueError, match="learning rate dt must be > 0"):
        integrate(linear_field(bk), state0(bk), dt=dt, n_steps=3)
    with pytest.raises(ValueError, match="learning rate dt must be > 0"):
        integrate(linear_field(bk), state0(bk), dt=dt, t1=1.0, integrator="dopri5")


def test_bad_arguments(bk):
    field, y0 = linear_field(bk), state0(bk)
    with pytest.raises(ValueError, match="needs two of dt"):
        integrate(field, y0, dt=0.1)
    with pytest.raises(ValueError, match="inconsistent"):
        integrate(field, y0, dt=0.1, n_steps=10, t1=2.0)
    with pytest.raises(ValueError, match="t1 .* required"):
        integrate(field, y0, integrator="dopri5")
    with pytest.raises(ValueError, match="n_steps cannot"):
        integrate(field, y0, integrator="dopri5", t1=1.0, n_steps=5)
    with pytest.raises(ValueError, match="t1 must be a finite time > t0"):
        integrate(field, y0, t1=-1.0, n_steps=5)
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        integrate(field, y0, dt=0.1, n_steps=2.5)
    with pytest.raises(ValueError, match="save_every"):
        integrate(field, y0, dt=0.1, n_steps=2, save_every=0)
    with pytest.raises(ValueError, match="rtol"):
        integrate(field, y0, t1=1.0, integrator="dopri5", rtol=0.0)
    with pytest.raises(ValueError, match="dense_output"):
        integrate(field, y0, dt=0.1, n_steps=2, dense_output=True)
    with pytest.raises(ValueError, match="divergence_threshold"):
        integrate(field, y0, dt=0.1, n_steps=2, divergence_threshold=0)
    with pytest.raises(TypeError, match="y0 must be a tuple"):
        integrate(field, y0[0], dt=0.1, n_steps=2)
    with pytest.raises(ShapeError, match=r"y0\[0\] must be a 1-D"):
        integrate(field, (bk.asarray(np.ones((2, 2))),), dt=0.1, n_steps=2)
    with pytest.raises(NonFiniteError, match=r"y0\[1\]"):
        integrate(field, (y0[0], bk.asarray(np.array([1.0, np.nan]))), dt=0.1, n_steps=2)


@pytest.mark.parametrize("name", ["euler", "dopri5", "scipy:RK45"])
def test_field_with_wrong_output_is_a_shape_error(bk, name):
    kw = dict(t1=1.0) if integrators.get(name).adaptive else dict(dt=0.1, n_steps=2)
    y0 = (bk.asarray(np.ones(3)),)
    with pytest.raises(ShapeError, match="must return a tuple of 1 arrays"):
        integrate(lambda t, y: y[0], y0, integrator=name, **kw)
    with pytest.raises(ShapeError, match=r"returned shapes \(\(2,\),\)"):
        integrate(lambda t, y: (y[0][:2],), y0, integrator=name, **kw)


# ---- compilation ---------------------------------------------------------------------------------
# Traces of the field on the first call: Euler has one stage; a method with a tableau is first
# traced once to measure the field (rgeom.flows.driver._inline_stages), then either each stage is
# inlined or one call site runs in a stage loop; dopri5 adds f(t0) and the starting-step probe.
TRACES = {("euler", True): 1, ("rk4", True): 1 + 4, ("dopri5", True): 1 + 2 + 6,
          ("euler", False): 1, ("rk4", False): 1 + 1, ("dopri5", False): 1 + 2 + 1}


@pytest.mark.parametrize("name, inline", sorted(TRACES))
def test_jax_compiles_once_for_many_steps(monkeypatch, name, inline):
    """The field is traced a fixed number of times (never once per step), and a second run with
    other times, step sizes, tolerances, step counts and initial values reuses the compiled loop."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from rgeom.flows import driver

    if not inline:
        monkeypatch.setattr(driver, "_MAX_INLINED_EQNS", 0)
    calls = []
    Aj = jnp.asarray(A)

    def field(t, y):
        calls.append(1)                              # runs at trace time only under jit
        return (Aj @ y[0],)

    y0 = (jnp.asarray(Y0),)
    adaptive = integrators.get(name).adaptive
    first = integrate(field, y0, integrator=name, **(dict(t1=3.0) if adaptive else dict(dt=0.01, n_steps=500)))
    assert first.status == "success" and first.n_steps > 20
    assert len(calls) == TRACES[name, inline]
    again = integrate(field, (2 * y0[0],), integrator=name,
                      **(dict(t1=5.0, rtol=1e-9) if adaptive else dict(dt=0.02, n_steps=300)))
    assert again.status == "success" and again.n_steps != first.n_steps
    assert len(calls) == TRACES[name, inline]


@pytest.mark.parametrize("name", ["heun", "rk4", "dopri5"])
def test_jax_stage_loop_matches_inlined_stages(monkeypatch, name):
    """The compiled stage loop (used for expensive fields) computes the integrator's own step."""
    pytest.importorskip("jax")
    from rgeom.flows import driver

    bk, ag = get_backend("jax"), get_backend("autograd")
    monkeypatch.setattr(driver, "_MAX_INLINED_EQNS", 0)
    kw = dict(t1=2.0, rtol=1e-9) if name == "dopri5" else dict(dt=0.05, n_steps=40)
    sol = integrate(linear_field.__wrapped__(bk), state0(bk), integrator=name, **kw)
    ref = integrate(linear_field(ag), state0(ag), integrator=name, **kw)
    tol = ADAPTIVE_AGREEMENT if name == "dopri5" else dict(rtol=1e-12, atol=1e-14)
    assert sol.n_field_evals == ref.n_field_evals
    for a, b in zip(sol.ys, ref.ys):
        np.testing.assert_allclose(np.asarray(a), b, **tol)
    if name == "dopri5":
        np.testing.assert_allclose(np.asarray(sol.interpolate(1.3)[1]), ref.interpolate(1.3)[1], **tol)


def test_field_sees_float_times_on_python_loops(bk):
    seen = []
    integrate(lambda t, y: (seen.append(t) or -y[0],), (bk.asarray(np.ones(1)),), dt=0.5, n_steps=2,
              integrator="heun", jit=False)
    assert seen == [0.0, 0.5, 0.5, 1.0] and all(isinstance(t, float) for t in seen)


def test_solution_record():
    sol = integrate(lambda t, y: (-y[0],), (np.ones(2),), dt=0.1, n_steps=4, integrator="rk4")
    assert isinstance(sol, Solution) and sol.integrator == "rk4" and sol.order == 4
    assert "status='success'" in repr(sol) and "ys shapes=[(5, 2)]" in repr(sol)
    assert sol.check() is sol
    with pytest.raises(ValueError, match="status must be one of"):
        Solution(ts=sol.ts, ys=sol.ys, y_final=sol.y_final, status="ok", t_reached=0.4, n_steps=4,
                 n_field_evals=16)


def test_custom_fixed_step_integrator(bk, to_np):
    """A user-defined one-step method plugs into the driver (here: the explicit midpoint rule)."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Midpoint(FixedStep):
        name, order, n_stages = "midpoint", 2, 2

        def step(self, field, t, y, h):
            k1 = field(t, y)
            return tuple(a + h * b for a, b in zip(y, field(t + h / 2, tuple(a + h / 2 * b for a, b in zip(y, k1)))))

    errs = [np.abs(flat(to_np, integrate(linear_field(bk), state0(bk), dt=1 / n, n_steps=n, integrator=Midpoint(),
                                         save_every=n).y_final) - exact(1.0)).max() for n in (16, 32, 64)]
    assert abs(slope([1 / 16, 1 / 32, 1 / 64], errs) - 2) < 0.15
    assert isinstance(Euler(), FixedStep)


@pytest.mark.parametrize("method", ["Radau", "BDF", "LSODA"])
def test_scipy_implicit_methods_run(method):
    sol = integrate(linear_field(get_backend("autograd")), (Y0[:2], Y0[2:]), t1=2.0,
                    integrator=f"scipy:{method}", rtol=1e-8, atol=1e-10)
    assert sol.status == "success" and sol.n_rejected is None
    assert np.abs(np.concatenate(sol.y_final) - exact(2.0)).max() < 1e-6
