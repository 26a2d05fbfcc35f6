"""The geomstats bridge: import isolation (NumPy ≥ 2.4), round trips, Christoffel symbols, exp/log.

Tolerances: 1e-12 for matrices, solves and symbols (d = 2, well conditioned); 1e-8 between
``rgeom.exp`` and closed forms (DOP853 at rtol 1e-11); geomstats' own fixed-step RK4 has global
error C·n⁻⁴, measured here (n = 100 steps: ~1e-12 on the half-plane), so comparisons with it use
1e-9 and the convergence test checks the ratio 2⁴ = 16 between n = 25 and n = 50.
"""

import os
import subprocess
import sys
import textwrap

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from numpy.testing import assert_allclose as close

import rgeom
from rgeom import metrics
from rgeom.errors import NonFiniteError, NotPositiveDefiniteError, ShapeError
from rgeom.metrics import geomstats_adapter as gsa
from rgeom.metrics.geomstats_adapter import GeomstatsUnsupportedError

# importing the adapter imported geomstats; plain geomstats imports work from here on
from geomstats.geometry.euclidean import Euclidean  # noqa: E402  (after the adapter, on purpose)
from geomstats.geometry.hypersphere import Hypersphere  # noqa: E402
from geomstats.geometry.poincare_half_space import PoincareHalfSpace  # noqa: E402
from geomstats.geometry.riemannian_metric import RiemannianMetric  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter (rgeom importable); return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k != "GEOMSTATS_BACKEND"}
    full_env.update(env)
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=full_env, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def half_plane_fn(th):
    return anp.eye(2) / th[1] ** 2


def sphere_np(th):
    return np.diag([1.0, np.sin(th[0]) ** 2])


# ---- import isolation --------------------------------------------------------------------------
def test_import_rgeom_leaves_geomstats_and_numpy_alone_until_first_use():
    out = run_python("""
        import logging, os, sys
        import numpy
        state = lambda: (getattr(numpy, "trapz", None), logging.getLogger().level,
                         len(logging.getLogger().handlers))
        before = state()
        import rgeom, rgeom.metrics
        assert "geomstats" not in sys.modules, "import rgeom imported geomstats"
        assert getattr(numpy, "trapz", None) is before[0], "import rgeom touched numpy.trapz"
        G = rgeom.metrics.from_geomstats                   # first use of the bridge
        assert "geomstats.backend" in sys.modules
        from geomstats.geometry.hypersphere import Hypersphere   # user imports now work
        import geomstats.backend as gs
        m = G(Hypersphere(2, intrinsic=True))
        print(round(float(m.at(numpy.array([0.5, 0.0])).logdet()), 12))
        after = state()
        assert after == before, (before, after)            # alias removed, root logger restored
        assert "GEOMSTATS_BACKEND" not in os.environ       # rgeom never chooses geomstats' backend
        print(gs.__name__, hasattr(gs, "trapz"))
    """)
    logdet, backend_line = out.strip().splitlines()
    assert float(logdet) == pytest.approx(np.log(np.sin(0.5) ** 2), abs=1e-12)
    assert backend_line == "geomstats.numpy True"


@pytest.mark.skipif(hasattr(np, "trapz"), reason="this NumPy still has numpy.trapz")
def test_plain_geomstats_import_needs_the_remedy_and_recovers():
    """Documents the problem (plain import fails) and that the bridge still works afterwards."""
    out = run_python("""
        import numpy, rgeom
        try:
            import geomstats
        except ImportError as exc:
            print("failed:", "trapz" in str(exc))
        from_geomstats = rgeom.metrics.from_geomstats       # the bridge imports geomstats
        from geomstats.geometry.euclidean import Euclidean
        print(from_geomstats(Euclidean(2)).constant)
    """)
    assert out.split() == ["failed:", "True", "True"]


def test_works_under_a_user_chosen_geomstats_backend():
    """GEOMSTATS_BACKEND=autograd is the user's choice; the bridge converts, never overrides."""
    out = run_python("""
        import numpy as np, autograd.numpy as anp, rgeom
        from_geomstats = rgeom.metrics.from_geomstats
        from geomstats.geometry.hypersphere import Hypersphere
        S = from_geomstats(Hypersphere(2, intrinsic=True))
        import geomstats.backend as gs
        th, v = np.array([1.0, 0.4]), np.array([0.3, -0.5])
        space = rgeom.metrics.to_geomstats(rgeom.metrics.Dense(lambda t: anp.eye(2) / t[1] ** 2), 2)
        end = space.metric.exp(gs.array([0.5, 0.2]), gs.array([0.3, 2.0]))
        print(gs.__name__, *np.round(rgeom.exp(S, th, v), 10), *np.round(np.asarray(end), 8))
    """, GEOMSTATS_BACKEND="autograd")
    name, *vals = out.split()
    assert name == "geomstats.autograd"
    D = metrics.Diagonal(lambda t: anp.array([1.0, anp.sin(t[0]) ** 2]))
    close([float(x) for x in vals[:2]], rgeom.exp(D, np.array([1.0, 0.4]), np.array([0.3, -0.5])),
          atol=1e-9)
    half = metrics.Dense(half_plane_fn)
    close([float(x) for x in vals[2:]], rgeom.exp(half, np.array([0.3, 2.0]), np.array([0.5, 0.2])),
          atol=1e-7)


def test_lazy_names_and_all():
    assert metrics.from_geomstats is gsa.from_geomstats
    assert metrics.to_geomstats is gsa.to_geomstats
    assert metrics.GeomstatsMetric is gsa.GeomstatsMetric
    with pytest.raises(AttributeError):
        metrics.no_such_name  # noqa: B018


# ---- geomstats -> rgeom ------------------------------------------------------------------------
SPHERE_POINTS = [np.array([0.5, 0.3]), np.array([1.2, -2.0]), np.array([2.6, 1.0])]


@pytest.mark.parametrize("theta", SPHERE_POINTS)
def test_sphere_in_spherical_coordinates(theta):
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    assert S.dim == 2 and not S.constant
    G = S.at(theta)
    Gref = sphere_np(theta)
    w = np.array([0.7, -1.3])
    close(G.as_matrix(), Gref, rtol=1e-12, atol=1e-15)
    close(G.mv(w), Gref @ w, rtol=1e-12, atol=1e-15)
    close(G.solve(w), np.linalg.solve(Gref, w), rtol=1e-12)
    close(float(G.logdet()), np.log(np.sin(theta[0]) ** 2), rtol=1e-12)
    close(S.matvec(theta, w), Gref @ w, rtol=1e-12, atol=1e-15)
    # Christoffel symbols: geomstats' own, and rgeom's autodiff route through the wrapper
    gs_gamma = np.asarray(Hypersphere(2, intrinsic=True).metric.christoffels(theta))
    close(S.christoffels(theta), gs_gamma, rtol=1e-12, atol=1e-15)
    close(rgeom.christoffel(S, theta), gs_gamma, rtol=1e-12, atol=1e-12)
    D = metrics.Diagonal(lambda t: anp.array([1.0, anp.sin(t[0]) ** 2]))
    close(rgeom.christoffel(D, theta), gs_gamma, rtol=1e-12, atol=1e-12)


def test_contractions_and_exp_through_the_wrapper():
    """rgeom's matrix-free contractions run through the wrapper (first derivatives by ∇G = 0)."""
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    D = metrics.Diagonal(lambda t: anp.array([1.0, anp.sin(t[0]) ** 2]))
    th, u, v = np.array([1.0, 0.4]), np.array([0.3, -0.5]), np.array([-0.2, 0.9])
    for f in (metrics.christoffel_contract, metrics.hessian_correction):
        close(f(S, th, u, v), f(D, th, u, v), rtol=1e-12, atol=1e-14)
    close(S.christoffel_contract(th, u, v), metrics.christoffel_contract(D, th, u, v),
          rtol=1e-12, atol=1e-14)
    close(S.hessian_correction(th, u, v), metrics.hessian_correction(D, th, u, v),
          rtol=1e-12, atol=1e-14)
    close(rgeom.exp(S, th, u), rgeom.exp(D, th, u), atol=1e-10)
    loss = lambda t: t[0] ** 2 + anp.sin(t[1]) * t[0]  # noqa: E731  (non-critical point: Γ matters)
    close(rgeom.flatness(loss, th, metric=S).eigenvalues,
          rgeom.flatness(loss, th, metric=D).eigenvalues, rtol=1e-11)


def test_sphere_exp_through_wrapper_matches_geomstats_extrinsic_closed_form():
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    ambient = Hypersphere(2)
    th, v = np.array([1.1, -0.6]), np.array([0.4, 0.3])
    end = rgeom.exp(S, th, v)
    to_x = Hypersphere(2, intrinsic=True).spherical_to_extrinsic
    tangent = Hypersphere(2, intrinsic=True).tangent_spherical_to_extrinsic(v, th)
    close(np.asarray(to_x(end)), np.asarray(ambient.metric.exp(tangent, to_x(th))), atol=1e-8)


def test_euclidean_is_constant():
    E = metrics.from_geomstats(Euclidean(3))
    th = np.array([0.1, 0.2, 0.3])
    assert E.constant
    close(E.at(th).as_matrix(), np.eye(3))
    close(rgeom.christoffel(E, th), np.zeros((3, 3, 3)))
    close(rgeom.exp(E, th, np.ones(3)), th + 1.0)


def test_poincare_half_space_from_inner_product_and_finite_differences():
    """geomstats has no metric_matrix / Christoffel symbols here without autodiff."""
    p, v = np.array([0.3, 2.0]), np.array([0.5, 0.2])
    H = metrics.from_geomstats(PoincareHalfSpace(2))
    close(H.at(p).as_matrix(), np.eye(2) / 4.0, rtol=1e-12)  # from inner products
    with pytest.raises(GeomstatsUnsupportedError, match="finite_difference"):
        rgeom.christoffel(H, p)
    Hfd = metrics.from_geomstats(PoincareHalfSpace(2), christoffels="finite_difference")
    gam = np.zeros((2, 2, 2))
    gam[0, 0, 1] = gam[0, 1, 0] = gam[1, 1, 1] = -0.5
    gam[1, 0, 0] = 0.5
    close(Hfd.christoffels(p), gam, atol=1e-9)  # central differences: ~1e-10
    ref = np.asarray(PoincareHalfSpace(2).metric.exp(v, p))  # geomstats' closed form (via the ball)
    close(rgeom.exp(Hfd, p, v), ref, atol=1e-8)


def test_other_backends_evaluate_but_refuse_derivatives(bk, to_np):
    """jax / torch: values at concrete points work; differentiating G in θ is refused clearly."""
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    th_np, v_np = np.array([1.0, 0.4]), np.array([0.3, -0.5])
    th, v = bk.asarray(th_np), bk.asarray(v_np)
    want = np.einsum("kij,i,j->k", S.christoffels(th_np), v_np, v_np)
    close(to_np(S.at(th).solve(v)), np.linalg.solve(sphere_np(th_np), v_np), rtol=1e-12)
    close(to_np(S.christoffel_contract(th, v, v)), want, rtol=1e-12)
    if bk.name == "autograd":
        return
    for derivative in (lambda: bk.jacobian(S.matrix, th),
                       lambda: bk.grad(lambda t: S.inner(t, v, v), th)):
        with pytest.raises(GeomstatsUnsupportedError, match=f"{bk.name}.*rgeom.metrics.Dense"):
            derivative()
    # rgeom's free contraction: refused today; exact from the dense symbols if christoffel.py
    # dispatches on a metric's `christoffels` hook (the change proposed with this adapter)
    try:
        got = metrics.christoffel_contract(S, th, v, v)
    except GeomstatsUnsupportedError as exc:
        assert "rgeom.metrics.Dense" in str(exc)
    else:
        close(to_np(got), want, rtol=1e-12)


def test_second_derivatives_are_refused_on_autograd():
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    f = lambda t: anp.sum(metrics.christoffel_contract(S, t, np.ones(2), np.ones(2)))  # noqa: E731
    with pytest.raises(GeomstatsUnsupportedError, match="second derivatives"):
        autograd.grad(f)(np.array([1.0, 0.4]))


def test_first_derivative_of_the_metric_is_exact():
    """∂G from metric compatibility equals the derivative of diag(1, sin²ϑ)."""
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    th = np.array([0.8, 0.1])
    dG = autograd.jacobian(S.matrix)(th)
    want = np.zeros((2, 2, 2))
    want[1, 1, 0] = 2 * np.sin(th[0]) * np.cos(th[0])
    close(dG, want, atol=1e-14)


# ---- bad inputs ----------------------------------------------------------------------------------
class _FixedMatrixMetric(RiemannianMetric):
    """A geomstats metric returning a given matrix (to feed the bridge bad input)."""

    def __init__(self, space, matrix):
        super().__init__(space)
        self._matrix = np.asarray(matrix, dtype=float)

    def metric_matrix(self, base_point=None):
        return self._matrix


def fixed(matrix):
    return Euclidean(2, equip=False).equip_with_metric(_FixedMatrixMetric, matrix=matrix)


@pytest.mark.parametrize("matrix, error, match", [
    ([[1.0, 2.0], [2.0, 1.0]], NotPositiveDefiniteError, "positive definite"),
    ([[1.0, 0.5], [0.0, 1.0]], NotPositiveDefiniteError, "symmetric"),
    ([[1.0, np.nan], [np.nan, 1.0]], NonFiniteError, "non-finite"),
    (np.eye(3), ShapeError, r"shape \(3, 3\)"),
])
def test_bad_geomstats_matrices_are_refused(matrix, error, match):
    with pytest.raises(error, match=match):
        metrics.from_geomstats(fixed(matrix)).at(np.array([0.1, 0.2]))


def test_bad_arguments():
    with pytest.raises(ShapeError, match="intrinsic"):
        metrics.from_geomstats(Hypersphere(2))  # extrinsic points have shape (3,)
    with pytest.raises(TypeError, match="RiemannianMetric"):
        metrics.from_geomstats(np.eye(2))
    with pytest.raises(ValueError, match="christoffels"):
        metrics.from_geomstats(Euclidean(2), christoffels="autodiff")
    S = metrics.from_geomstats(Hypersphere(2, intrinsic=True))
    with pytest.raises(ShapeError):
        S.at(np.array([0.1, 0.2, 0.3]))
    with pytest.raises(NonFiniteError):
        S.at(np.array([np.nan, 0.2]))
    with pytest.raises(ShapeError):
        S.at(np.array([1.0, 0.2])).solve(np.ones(3))
    with pytest.raises(TypeError, match="rgeom Metric"):
        metrics.to_geomstats(Hypersphere(2).metric, 2)
    with pytest.raises(ShapeError, match="dim"):
        metrics.to_geomstats(metrics.Euclidean(3), 2)
    with pytest.raises(ValueError, match="dim"):
        metrics.to_geomstats(metrics.Euclidean(3), 0)


# ---- rgeom -> geomstats --------------------------------------------------------------------------
def test_to_geomstats_metric_matrix_and_christoffels_batched():
    half = metrics.Dense(half_plane_fn)
    space = metrics.to_geomstats(half, 2)
    pts = np.array([[0.3, 2.0], [-1.0, 0.5], [0.0, 1.0]])
    close(space.metric.metric_matrix(pts), [np.eye(2) / y ** 2 for y in pts[:, 1]],
          rtol=1e-12)
    close(space.metric.christoffels(pts), [rgeom.christoffel(half, p) for p in pts],
          rtol=1e-12)
    assert space.metric.christoffels(pts[0]).shape == (2, 2, 2)
    assert space.belongs(pts[0]) and not space.belongs(np.array([0.0, 0.0]))
    np.testing.assert_array_equal(space.belongs(np.array([[0.0, 1.0], [0.0, 0.0]])), [True, False])


def test_round_trip_rgeom_geomstats_rgeom():
    half = metrics.Dense(half_plane_fn)
    back = metrics.from_geomstats(metrics.to_geomstats(half, 2))
    th, w = np.array([0.3, 2.0]), np.array([1.0, -2.0])
    a, b = half.at(th), back.at(th)
    close(b.as_matrix(), a.as_matrix(), rtol=1e-12)
    close(b.solve(w), a.solve(w), rtol=1e-12)
    close(float(b.logdet()), float(a.logdet()), rtol=1e-12)
    close(back.christoffels(th), rgeom.christoffel(half, th), rtol=1e-12)
    close(rgeom.exp(back, th, w / 4), rgeom.exp(half, th, w / 4), atol=1e-10)


def test_geomstats_exp_of_rgeom_metric_converges_at_fourth_order():
    """geomstats' fixed-step RK4 on rgeom's symbols -> rgeom.exp (DOP853), error ∝ n⁻⁴."""
    half = metrics.Dense(half_plane_fn)
    p, v = np.array([0.3, 2.0]), np.array([0.5, 0.2])
    ref = rgeom.exp(half, p, v)
    errors = []
    for n in (25, 50):
        space = metrics.to_geomstats(half, 2, n_steps=n)
        errors.append(np.abs(np.asarray(space.metric.exp(v, p)) - ref).max())
    assert 10.0 < errors[0] / errors[1] < 25.0, errors  # 2⁴ = 16
    assert errors[1] < 1e-9


def test_geomstats_exp_of_pulled_back_polar_metric():
    """Straight lines in polar coordinates, by geomstats' RK4 (20 steps: error ~1e-8 measured)."""
    polar = rgeom.maps.Polar()
    G = rgeom.pullback(metrics.Euclidean(2), polar)
    space = metrics.to_geomstats(G, 2, n_steps=20)
    psi, v = np.array([1.5, 0.3]), np.array([0.4, 0.5])
    end = np.asarray(space.metric.exp(v, psi))
    close(end, rgeom.exp(G, psi, v), atol=1e-7)
    close(end, polar.inverse(polar(psi) + polar.jacobian(psi) @ v), atol=1e-7)


def test_geomstats_log_of_rgeom_metric_inverts_exp():
    """log by collocation (geomstats' LogODESolver on scipy solve_bvp, tol 1e-8)."""
    half = metrics.Dense(half_plane_fn)
    space = metrics.to_geomstats(half, 2)
    p, v = np.array([0.3, 2.0]), np.array([0.5, 0.2])
    close(np.asarray(space.metric.log(rgeom.exp(half, p, v), p)), v, atol=1e-7)
