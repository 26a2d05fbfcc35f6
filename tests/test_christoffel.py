"""Christoffel symbols against closed forms; matrix-free contractions against the dense array.

Conventions: ``Γ[k, i, j] = Γᵏᵢⱼ`` (contravariant index first, as in geomstats). Closed forms:

* polar ``(r, φ)``, ``G = diag(1, r²)``: ``Γʳ_φφ = −r``, ``Γᵠ_rφ = Γᵠ_φr = 1/r``;
* half-plane ``(x, y)``, ``G = I / y²``: ``Γˣ_xy = Γˣ_yx = −1/y``, ``Γʸ_xx = 1/y``,
  ``Γʸ_yy = −1/y``;
* spherical ``(r, ϑ, φ)`` in R³: ``Γʳ_ϑϑ = −r``, ``Γʳ_φφ = −r sin²ϑ``, ``Γᶿ_rϑ = Γᵠ_rφ = 1/r``,
  ``Γᶿ_φφ = −sinϑ cosϑ``, ``Γᵠ_ϑφ = cot ϑ``;
* the unit 2-sphere ``(ϑ, φ)``, ``G = diag(1, sin²ϑ)``: the last two of the previous line.

Tolerances: 1e-12 for closed forms (a few float64 operations on O(1) numbers, d ≤ 3); 1e-7
against central finite differences (step 1e-5: truncation ~1e-10, rounding ~1e-11, relative
to entries of size ~1 — 1e-7 leaves a wide margin).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose as close

import rgeom
from rgeom import maps, metrics

A = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])


# ---- metrics, written for any backend ------------------------------------------------------------
def polar_metric(bk):
    return rgeom.pullback(metrics.Euclidean(2), maps.Polar())


def spherical_metric(bk):
    return rgeom.pullback(metrics.Euclidean(3), maps.Spherical())


def half_plane(bk):
    xp = bk.xp
    return metrics.Dense(lambda th: xp.eye(2) / th[1] ** 2)


def sphere2(bk):
    xp = bk.xp
    return metrics.Diagonal(lambda th: xp.stack([xp.ones_like(th[0]), xp.sin(th[0]) ** 2]))


def dense_field(bk):
    """A non-diagonal, non-constant SPD field: A + diag(exp θ) + sin θ sin θᵀ."""
    xp = bk.xp

    def fn(th):
        s = xp.sin(th)
        return bk.asarray(A) + xp.diag(xp.exp(th)) + xp.outer(s, s)

    return metrics.Dense(fn)


def dense_field_np(th):
    s = np.sin(th)
    return A + np.diag(np.exp(th)) + np.outer(s, s)


# ---- closed forms --------------------------------------------------------------------------------
def gamma_polar(r, phi):
    g = np.zeros((2, 2, 2))
    g[0, 1, 1] = -r
    g[1, 0, 1] = g[1, 1, 0] = 1 / r
    return g


def gamma_half_plane(x, y):
    g = np.zeros((2, 2, 2))
    g[0, 0, 1] = g[0, 1, 0] = -1 / y
    g[1, 0, 0] = 1 / y
    g[1, 1, 1] = -1 / y
    return g


def gamma_spherical(r, th, ph):
    g = np.zeros((3, 3, 3))
    g[0, 1, 1] = -r
    g[0, 2, 2] = -r * np.sin(th) ** 2
    g[1, 0, 1] = g[1, 1, 0] = 1 / r
    g[1, 2, 2] = -np.sin(th) * np.cos(th)
    g[2, 0, 2] = g[2, 2, 0] = 1 / r
    g[2, 1, 2] = g[2, 2, 1] = np.cos(th) / np.sin(th)
    return g


def gamma_sphere2(th, ph):
    g = np.zeros((2, 2, 2))
    g[0, 1, 1] = -np.sin(th) * np.cos(th)
    g[1, 0, 1] = g[1, 1, 0] = np.cos(th) / np.sin(th)
    return g


def gamma_finite_difference(Gfn, th, h=1e-5):
    """Koszul formula with central differences of a NumPy metric field (independent reference)."""
    d = th.shape[0]
    # dG[i, j, k] = ∂ₖ Gᵢⱼ
    dG = np.stack([(Gfn(th + h * e) - Gfn(th - h * e)) / (2 * h) for e in np.eye(d)], -1)
    # first kind: Γₗᵢⱼ = ½ (∂ᵢ Gₗⱼ + ∂ⱼ Gₗᵢ − ∂ₗ Gᵢⱼ)
    first = 0.5 * (np.einsum("lji->lij", dG) + dG - np.einsum("ijl->lij", dG))
    return np.einsum("kl,lij->kij", np.linalg.inv(Gfn(th)), first)


CLOSED_FORMS = [
    pytest.param(polar_metric, gamma_polar, [2.0, 0.7], id="polar"),
    pytest.param(polar_metric, gamma_polar, [0.5, -2.5], id="polar-small-r"),
    pytest.param(half_plane, gamma_half_plane, [0.3, 2.0], id="half-plane"),
    pytest.param(half_plane, gamma_half_plane, [-1.0, 0.25], id="half-plane-near-boundary"),
    pytest.param(spherical_metric, gamma_spherical, [1.5, 0.9, 0.4], id="spherical-3d"),
    pytest.param(sphere2, gamma_sphere2, [0.6, 2.0], id="sphere-2d"),
]

ALL_METRICS = [
    pytest.param(polar_metric, [2.0, 0.7], id="polar"),
    pytest.param(half_plane, [0.3, 2.0], id="half-plane"),
    pytest.param(spherical_metric, [1.5, 0.9, 0.4], id="spherical-3d"),
    pytest.param(sphere2, [0.6, 2.0], id="sphere-2d"),
    pytest.param(dense_field, [0.2, -0.4, 0.3], id="dense-nondiagonal"),
]


@pytest.mark.parametrize("make, closed_form, theta", CLOSED_FORMS)
def test_dense_christoffel_matches_closed_form(make, closed_form, theta, bk, to_np):
    gam = rgeom.christoffel(make(bk), bk.asarray(np.array(theta)))
    assert tuple(gam.shape) == (len(theta),) * 3
    close(to_np(gam), closed_form(*theta), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make, closed_form, theta", CLOSED_FORMS)
def test_contraction_matches_closed_form(make, closed_form, theta, bk, to_np):
    rng = np.random.default_rng(0)
    d = len(theta)
    u, v = rng.normal(size=d), rng.normal(size=d)
    th = bk.asarray(np.array(theta))
    got = metrics.christoffel_contract(make(bk), th, bk.asarray(u), bk.asarray(v))
    want = np.einsum("kij,i,j->k", closed_form(*theta), u, v)
    close(to_np(got), want, rtol=1e-12, atol=1e-12)


def test_polar_values_from_the_docstring_example():
    """Γ(e_φ, e_φ) at r = 2 is (−r, 0): the centripetal term of circular motion."""
    G = rgeom.pullback(metrics.Euclidean(2), maps.Polar())
    e_phi = np.array([0.0, 1.0])
    close(metrics.christoffel_contract(G, np.array([2.0, 0.1]), e_phi, e_phi), [-2.0, 0.0],
          atol=1e-12)


@pytest.mark.parametrize("make, theta", ALL_METRICS)
def test_matrix_free_contractions_equal_dense_einsums(make, theta, bk, to_np):
    metric = make(bk)
    d = len(theta)
    rng = np.random.default_rng(1)
    u, v, grad = (rng.normal(size=d) for _ in range(3))
    th = bk.asarray(np.array(theta))
    gam = to_np(rgeom.christoffel(metric, th))
    got = metrics.christoffel_contract(metric, th, bk.asarray(u), bk.asarray(v))
    close(to_np(got), np.einsum("kij,i,j->k", gam, u, v), rtol=1e-11, atol=1e-12)
    # hessian_correction(θ, ∇L, v)ᵢ = Σₖⱼ Γᵏᵢⱼ ∂ₖL vʲ
    corr = metrics.hessian_correction(metric, th, bk.asarray(grad), bk.asarray(v))
    close(to_np(corr), np.einsum("kij,k,j->i", gam, grad, v), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("make, theta", ALL_METRICS)
def test_symmetry_in_lower_indices(make, theta, bk, to_np):
    gam = to_np(rgeom.christoffel(make(bk), bk.asarray(np.array(theta))))
    close(gam, np.swapaxes(gam, 1, 2), rtol=1e-13, atol=1e-13)


def test_contraction_is_symmetric_and_bilinear(bk, to_np):
    metric, th = dense_field(bk), bk.asarray(np.array([0.2, -0.4, 0.3]))
    rng = np.random.default_rng(2)
    u, v, w = (bk.asarray(rng.normal(size=3)) for _ in range(3))
    c = lambda a, b: to_np(metrics.christoffel_contract(metric, th, a, b))  # noqa: E731
    close(c(u, v), c(v, u), rtol=1e-12, atol=1e-13)
    close(c(2.0 * u + w, v), 2.0 * c(u, v) + c(w, v), rtol=1e-11, atol=1e-12)


def test_nondiagonal_metric_matches_finite_difference_koszul(bk, to_np):
    """An independent route: NumPy central differences, no autodiff at all."""
    theta = np.array([0.2, -0.4, 0.3])
    gam = to_np(rgeom.christoffel(dense_field(bk), bk.asarray(theta)))
    close(gam, gamma_finite_difference(dense_field_np, theta), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("make", [
    pytest.param(lambda bk: metrics.Euclidean(3), id="euclidean"),
    pytest.param(lambda bk: metrics.Dense.constant_matrix(A), id="constant_matrix"),
    # not tagged constant: the symbols must come out zero from the computation itself
    pytest.param(lambda bk: metrics.Dense(lambda th: bk.asarray(A) + 0.0 * th[0]),
                 id="untagged-constant"),
    pytest.param(lambda bk: rgeom.pullback(metrics.Euclidean(3), maps.Affine(A, [0.1, 0.0, -0.2])),
                 id="affine-pullback"),
])
def test_constant_metrics_have_zero_symbols(make, bk, to_np):
    metric, th = make(bk), bk.asarray(np.array([0.3, -0.1, 0.8]))
    u = bk.asarray(np.array([1.0, 2.0, -1.0]))
    close(to_np(rgeom.christoffel(metric, th)), np.zeros((3, 3, 3)), atol=1e-14)
    close(to_np(metrics.christoffel_contract(metric, th, u, u)), np.zeros(3), atol=1e-14)
    close(to_np(metrics.hessian_correction(metric, th, u, u)), np.zeros(3), atol=1e-14)


def test_sphere_matches_geomstats_christoffels(bk, to_np):
    """rgeom's Γ of diag(1, sin²ϑ) against geomstats' own Hypersphere(2, intrinsic=True) symbols."""
    metrics.from_geomstats  # noqa: B018  first use of the bridge imports geomstats (NumPy 2.4 safe)
    from geomstats.geometry.hypersphere import Hypersphere

    gs_metric = Hypersphere(2, intrinsic=True).metric
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(0.3, np.pi - 0.3, 4), rng.uniform(-np.pi, np.pi, 4)])
    for theta in points:
        want = np.asarray(gs_metric.christoffels(theta))
        close(to_np(rgeom.christoffel(sphere2(bk), bk.asarray(theta))), want,
              rtol=1e-12, atol=1e-12)
    # geomstats vectorizes over points; so does the comparison
    batch = np.asarray(gs_metric.christoffels(points))
    close(batch, np.stack([gamma_sphere2(*p) for p in points]), rtol=1e-12, atol=1e-12)


def test_christoffel_refuses_large_dense_arrays():
    with pytest.raises(rgeom.errors.DenseSizeError, match="christoffel"):
        rgeom.christoffel(metrics.Euclidean(5), np.zeros(5), max_dense_dim=4)
