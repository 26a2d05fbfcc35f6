"""Property tests: every transformation rule of design.md §1, under generated maps and metrics.

For θ = g(ψ), J = ∂θ/∂ψ, each rgeom result (computed on the backend under test) is compared with a
dense float64 reference built independently with NumPy: J, ∂²θ/∂ψ², ∇L, ∂²L, G, ∂G and the
Christoffel symbols all come from autograd applied to the *definitions* (``g.forward``, the loss,
``G.matrix``) on NumPy copies of the inputs, then combined with numpy.linalg. The closed-form
tangents of the maps (jvp/vjp/inverse_jvp/log_abs_det_jacobian), the pullback metric, the
matrix-free Christoffel contractions and the typed rules are never used to build a reference.

Tolerance: RTOL = 1e-8, normwise (‖a − b‖∞ <= RTOL·‖b‖∞ + 1e-12). Everything is float64 with
d <= 4, cond J <= 30 on the drawn box and cond G <= 30 everywhere (guaranteed by the strategies),
so the worst reference (a solve with the pulled-back metric, cond <= 30·30² ≈ 3e4) is accurate to
≈ 3e4·d·1e-16 ≈ 1e-11: 1e-8 leaves a factor 1000 of headroom, and is 10⁴ times smaller than the
naive-Hessian discrepancies that must be detected (filtered to be >= 1e-4 relative).
"""

import dataclasses
import functools

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import rgeom
from rgeom.backend import available_backends, get_backend
from rgeom.testing import assert_invariant, diffeomorphisms, losses, metrics, points

BACKENDS = available_backends()
AG = get_backend("autograd")  # the NumPy reference engine
RTOL = 1e-8
KAPPA_MAP = 30.0
KAPPA_METRIC = 30.0
NONLINEAR = ("elementwise", "coupling")

# Example budgets. Unjitted JAX compiles each primitive per new shape and map structure (~10x the
# per-example cost of the other backends), so it gets fewer examples and a single dimension
# JAX_DIM, whose compiled ops are then reused across tests (the code paths are dimension-generic;
# d = 1…4 is covered on autograd and torch). The heaviest tests (Riemannian Hessians through
# pulled-back θ-dependent metrics) get fewer examples. CPU time ≈ 9 s autograd, 15 s torch,
# 24 s JAX.
JAX_DIM = 3
LIGHT = {"autograd": 12, "torch": 10, "jax": 3}
HEAVY = {"autograd": 8, "torch": 6, "jax": 2}


def property_test(budget):
    """Run ``body(backend, data)`` as a Hypothesis test on every backend, with its own budget.

    Settings other than ``max_examples`` come from the active profile (tests/conftest.py:
    derandomized under CI, no deadline).
    """

    def decorate(body):
        def test(backend):
            def run(data):
                body(backend, data)

            run.__name__ = run.__qualname__ = body.__name__
            # distinct derandomized seeds and database keys per test and backend
            run._hypothesis_internal_add_digest = f"{body.__name__}[{backend}]".encode()
            settings(max_examples=budget.get(backend, 5))(given(data=st.data())(run))()

        test.__name__ = test.__qualname__ = body.__name__
        test.__doc__ = body.__doc__
        return pytest.mark.parametrize("backend", BACKENDS)(test)

    return decorate


def close(actual, expected, what, rtol=RTOL):
    """Normwise relative comparison with a readable message."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != reference {e.shape}"
    err, scale = np.abs(a - e).max(initial=0.0), np.abs(e).max(initial=0.0)
    assert err <= rtol * scale + 1e-12, (
        f"{what}: max |rgeom − reference| = {err:.3g} > {rtol:g} · {scale:.3g}\n"
        f"rgeom:\n{a}\nreference:\n{e}"
    )


# --- the drawn problem and its independent NumPy reference --------------------------------------
@dataclasses.dataclass
class Problem:
    bk: object
    g: object
    psi: object  # backend array, |ψ|∞ <= 1
    theta: object  # g(ψ) on the backend
    loss: object
    metric: object

    def np(self, x):
        if isinstance(x, (int, float)):  # some rgeom scalars are plain floats on every backend
            return np.float64(x)
        return np.asarray(self.bk.to_numpy(x), dtype=np.float64)

    def arr(self, x):
        return self.bk.asarray(np.asarray(x, dtype=np.float64))

    @functools.cached_property
    def ref(self):
        return Reference(self.g, self.np(self.psi), self.loss, self.metric)


class Reference:
    """Dense float64 quantities from autograd on NumPy and numpy.linalg only."""

    def __init__(self, g, psi, loss, metric):
        self.psi = psi
        self.theta = np.asarray(g.forward(psi))
        self.J = AG.jacobian(g.forward, psi)  # J[k, i] = ∂θᵏ/∂ψⁱ
        self.D2 = AG.jacobian(lambda p: AG.jacobian(g.forward, p), psi)  # D2[k, i, j]
        th = self.theta
        self.grad = AG.grad(loss, th)
        self.hess = AG.hessian(loss, th)
        self.G = np.asarray(metric.matrix(th))
        dG = AG.jacobian(metric.matrix, th)  # dG[l, j, i] = ∂ᵢG_lj
        first = 0.5 * (np.einsum("lji->lij", dG) + dG - np.einsum("ijl->lij", dG))
        self.Gamma = np.linalg.solve(self.G, first.reshape(len(th), -1)).reshape(first.shape)
        self.riem_hess = self.hess - np.einsum("k,kij->ij", self.grad, self.Gamma)
        self.logabsdetJ = np.linalg.slogdet(self.J)[1]

    @property
    def G_psi(self):
        return self.J.T @ self.G @ self.J


@st.composite
def problems(
    draw,
    backend,
    *,
    dims=(1, 4),
    kinds=("affine", "elementwise", "coupling"),
    constant=None,
    critical=False,
):
    if backend == "jax":  # one shape for JAX: its eager per-op compilation is cached per shape
        dims = (JAX_DIM, JAX_DIM)
    d = draw(st.integers(*dims))
    bk = get_backend(backend)
    g = draw(diffeomorphisms(d, kinds=kinds, max_condition=KAPPA_MAP, backend=backend))
    psi = draw(points(d, backend=backend))
    theta = g(psi)
    cp = bk.to_numpy(theta) if critical else None
    loss = draw(losses(d, critical_point=cp, backend=backend))
    metric = draw(metrics(d, max_condition=KAPPA_METRIC, constant=constant, backend=backend))
    return Problem(bk, g, psi, theta, loss, metric)


def vectors(d):
    return arrays(np.float64, d, elements=st.floats(-2.0, 2.0, allow_subnormal=False))


# --- scalars, covectors, vectors ------------------------------------------------------------------
@property_test(LIGHT)
def test_scalar_is_composed(backend, data):
    """L ↦ L ∘ g (value), and its differential is the covector Jᵀ∇θL (chain rule)."""
    p = data.draw(problems(backend))
    L_psi = rgeom.pullback(p.loss, p.g)
    close(p.np(L_psi(p.psi)), p.np(p.loss(p.theta)), "L∘g(ψ) vs L(θ)")
    close(p.np(rgeom.gradient(L_psi, p.psi).components), p.ref.J.T @ p.ref.grad, "∇ψ(L∘g) vs Jᵀ∇θL")


@property_test(LIGHT)
def test_covector_rule(backend, data):
    """Covector w at θ ↦ Jᵀ w at ψ = g⁻¹(θ); the pairing w(v) is chart-independent."""
    p = data.draw(problems(backend))
    d = p.ref.J.shape[0]
    w, v = data.draw(vectors(d)), data.draw(vectors(d))
    cov, vec = rgeom.Covector(p.theta, p.arr(w)), rgeom.Vector(p.theta, p.arr(v))
    cov_psi, vec_psi = rgeom.pullback(cov, p.g), rgeom.pullback(vec, p.g)
    close(p.np(cov_psi.point), p.ref.psi, "base point g⁻¹(θ)")
    close(cov_psi.numpy(), p.ref.J.T @ w, "pullback(Covector) vs Jᵀw")
    close(p.np(cov_psi(vec_psi)), w @ v, "pairing w(v) in ψ vs θ", rtol=1e-7)


@property_test(LIGHT)
def test_vector_rule(backend, data):
    """Vector v at θ ↦ J⁻¹ v at ψ; pushforward of u at ψ is J u at θ."""
    p = data.draw(problems(backend))
    d = p.ref.J.shape[0]
    v = data.draw(vectors(d))
    vec_psi = rgeom.pullback(rgeom.Vector(p.theta, p.arr(v)), p.g)
    close(vec_psi.numpy(), np.linalg.solve(p.ref.J, v), "pullback(Vector) vs J⁻¹v")
    pushed = rgeom.pushforward(rgeom.Vector(p.psi, p.arr(v)), p.g)
    close(p.np(pushed.point), p.ref.theta, "pushforward base point g(ψ)")
    close(pushed.numpy(), p.ref.J @ v, "pushforward(Vector) vs Jv")


# --- metrics and natural gradients ----------------------------------------------------------------
@property_test(LIGHT)
def test_metric_rule(backend, data):
    """G ↦ Jᵀ G(g(ψ)) J: matrix, mv, solve, and logdet = logdet G + 2 log|det J|."""
    p = data.draw(problems(backend))
    d = p.ref.J.shape[0]
    u = data.draw(vectors(d))
    Gp = rgeom.pullback(p.metric, p.g)
    at = Gp.at(p.psi)
    G_psi = p.ref.G_psi
    close(p.np(at.as_matrix()), G_psi, "pullback metric matrix vs JᵀGJ")
    close(p.np(at.mv(p.arr(u))), G_psi @ u, "pullback metric mv")
    close(p.np(Gp.matvec(p.psi, p.arr(u))), G_psi @ u, "pullback metric matvec")
    close(p.np(at.solve(p.arr(u))), np.linalg.solve(G_psi, u), "pullback metric solve")
    logdet_ref = np.linalg.slogdet(p.ref.G)[1] + 2.0 * p.ref.logabsdetJ
    close(p.np(at.logdet()), logdet_ref, "logdet G_ψ vs logdet G + 2 log|det J|")
    close(p.np(at.logdet()), np.linalg.slogdet(G_psi)[1], "logdet G_ψ vs slogdet(JᵀGJ)")
    close(p.np(p.g.log_abs_det_jacobian(p.psi)), p.ref.logabsdetJ, "log|det J|")


@property_test(LIGHT)
def test_natural_gradient_is_a_vector(backend, data):
    """G⁻¹∇L transforms as a vector: natural gradient in ψ == J⁻¹ (G⁻¹∇θL)."""
    p = data.draw(problems(backend))
    nat_theta = rgeom.natural_gradient(p.loss, p.metric, p.theta)
    nat_psi = rgeom.natural_gradient(
        rgeom.pullback(p.loss, p.g), rgeom.pullback(p.metric, p.g), p.psi
    )
    ref_theta = np.linalg.solve(p.ref.G, p.ref.grad)
    close(nat_theta.numpy(), ref_theta, "natural gradient in θ vs G⁻¹∇L")
    close(nat_psi.numpy(), np.linalg.solve(p.ref.J, ref_theta), "natural gradient in ψ vs J⁻¹G⁻¹∇L")
    close(rgeom.pullback(nat_theta, p.g).numpy(), nat_psi.numpy(), "pullback(natural gradient)")


# --- Hessians -------------------------------------------------------------------------------------
@property_test(LIGHT)
def test_naive_hessian_chain_rule(backend, data):
    """∂²(L∘g) = Jᵀ ∂²L J + Σₖ ∂ₖL ∂²θᵏ/∂ψ∂ψ (the naive Hessian's transformation law)."""
    p = data.draw(problems(backend))
    r = p.ref
    expected = r.J.T @ r.hess @ r.J + np.einsum("k,kij->ij", r.grad, r.D2)
    L_psi = rgeom.pullback(p.loss, p.g)
    close(p.np(p.bk.hessian(L_psi, p.psi)), expected, "∂²(L∘g) vs JᵀHJ + Σ∂ₖL∂²θᵏ")
    naive = rgeom.riemannian_hessian(L_psi, None, p.psi)
    close(p.np(naive.as_matrix()), expected, "riemannian_hessian(metric=None) is the naive Hessian")


@property_test(LIGHT)
def test_naive_hessian_is_not_a_tensor_off_critical_points(backend, data):
    """Off a critical point and under a curved map the naive spectrum changes with the chart."""
    p = data.draw(problems(backend, dims=(2, 4), kinds=NONLINEAR))
    r = p.ref
    H, Jinv = r.hess, np.linalg.inv(r.J)
    correction = Jinv.T @ np.einsum("k,kij->ij", r.grad, r.D2) @ Jinv  # in θ components
    naive_theta = np.linalg.eigvalsh(H)
    naive_psi = np.linalg.eigvalsh(0.5 * (H + correction + (H + correction).T))
    gap = np.abs(naive_psi - naive_theta).max()
    assume(gap > 1e-4 * max(1.0, np.abs(naive_theta).max()))

    def naive(L, G, x):
        return rgeom.flatness(L, x, metric=G, christoffel=False).eigenvalues

    euclid = rgeom.metrics.Euclidean(len(naive_theta))
    with pytest.raises(AssertionError, match="not invariant"):
        assert_invariant(naive, (p.loss, euclid), p.g, p.theta, rtol=1e-6, atol=1e-8)
    close(
        naive(rgeom.pullback(p.loss, p.g), rgeom.pullback(euclid, p.g), p.psi),
        naive_psi,
        "naive spectrum in ψ vs eig(∂²L + J⁻ᵀ(Σ∂ₖL∂²θᵏ)J⁻¹)",
        rtol=1e-7,
    )


@property_test(LIGHT)
def test_naive_hessian_is_a_tensor_at_critical_points(backend, data):
    """At a critical point ∇L = 0, so ∂²(L∘g) = Jᵀ ∂²L J and the naive spectrum is invariant."""
    p = data.draw(problems(backend, critical=True))
    r = p.ref
    assert np.abs(r.grad).max() <= 1e-12
    L_psi = rgeom.pullback(p.loss, p.g)
    close(p.np(p.bk.hessian(L_psi, p.psi)), r.J.T @ r.hess @ r.J, "∂²(L∘g) vs JᵀHJ at ∇L = 0")
    assert_invariant(
        lambda L, G, x: rgeom.flatness(L, x, metric=G, christoffel=False).eigenvalues,
        (p.loss, p.metric),
        p.g,
        p.theta,
        rtol=RTOL,
        atol=1e-10,
    )


@property_test(HEAVY)
def test_riemannian_hessian_is_a_tensor(backend, data):
    """Hess = ∂²L − Γᵏ∂ₖL transforms as Jᵀ Hess J at every point (here non-critical)."""
    p = data.draw(problems(backend, constant=False))
    r = p.ref
    H_theta = rgeom.riemannian_hessian(p.loss, p.metric, p.theta)
    close(
        p.np(H_theta.as_matrix()), r.riem_hess, "Riemannian Hessian in θ vs ∂²L − Γᵏ∂ₖL (dense Γ)"
    )
    H_psi = rgeom.riemannian_hessian(
        rgeom.pullback(p.loss, p.g), rgeom.pullback(p.metric, p.g), p.psi
    )
    close(
        p.np(H_psi.as_matrix()), r.J.T @ r.riem_hess @ r.J, "Riemannian Hessian in ψ vs Jᵀ Hess J"
    )
    close(
        np.asarray(rgeom.pullback(H_theta, p.g)),
        r.J.T @ r.riem_hess @ r.J,
        "pullback(BilinearForm Hess)",
    )


@property_test(HEAVY)
def test_shape_operator_and_flatness_spectrum_are_invariant(backend, data):
    """E = G⁻¹Hess ↦ J⁻¹EJ; flatness eigenvalues are the same in both charts."""
    p = data.draw(problems(backend))
    r = p.ref
    E_ref = np.linalg.solve(r.G, r.riem_hess)
    E_theta = rgeom.shape_operator(p.loss, p.metric, p.theta)
    close(np.asarray(E_theta), E_ref, "shape operator in θ vs G⁻¹Hess")
    expected = np.linalg.solve(r.J, E_ref @ r.J)
    close(np.asarray(rgeom.pullback(E_theta, p.g)), expected, "pullback(Operator E) vs J⁻¹EJ")

    def spectrum(L, G, x):
        return rgeom.flatness(L, x, metric=G).eigenvalues

    vals, _ = assert_invariant(spectrum, (p.loss, p.metric), p.g, p.theta, rtol=RTOL, atol=1e-10)
    close(
        vals,
        scipy.linalg.eigh(r.riem_hess, r.G, eigvals_only=True),
        "flatness eigenvalues vs eigh(Hess, G)",
    )


# --- generic (1,1) and (0,2) tensors, round trips -------------------------------------------------
@property_test(LIGHT)
def test_operator_and_bilinear_form_rules(backend, data):
    """Operator E ↦ J⁻¹EJ, BilinearForm B ↦ JᵀBJ (generic, non-symmetric matrices)."""
    p = data.draw(problems(backend))
    d = p.ref.J.shape[0]
    E = data.draw(arrays(np.float64, (d, d), elements=st.floats(-2.0, 2.0, allow_subnormal=False)))
    B = data.draw(arrays(np.float64, (d, d), elements=st.floats(-2.0, 2.0, allow_subnormal=False)))
    E_b, B_b = p.arr(E), p.arr(B)
    op = rgeom.pullback(rgeom.Operator(p.theta, lambda u: E_b @ u), p.g)
    form = rgeom.pullback(rgeom.BilinearForm(p.theta, lambda u: B_b @ u), p.g)
    J = p.ref.J
    close(p.np(op.point), p.ref.psi, "operator base point")
    close(np.asarray(op), np.linalg.solve(J, E @ J), "pullback(Operator) vs J⁻¹EJ")
    close(np.asarray(form), J.T @ B @ J, "pullback(BilinearForm) vs JᵀBJ")


@property_test(LIGHT)
def test_pushforward_inverts_pullback(backend, data):
    """pushforward = pullback along g.inv: round trips return every object unchanged."""
    p = data.draw(problems(backend))
    d = p.ref.J.shape[0]
    v, w = data.draw(vectors(d)), data.draw(vectors(d))
    E = data.draw(arrays(np.float64, (d, d), elements=st.floats(-2.0, 2.0, allow_subnormal=False)))
    E_b = p.arr(E)
    g = p.g
    for obj in (rgeom.Vector(p.theta, p.arr(v)), rgeom.Covector(p.theta, p.arr(w))):
        back = rgeom.pushforward(rgeom.pullback(obj, g), g)
        close(p.np(back.point), p.np(p.theta), f"{type(obj).__name__} round-trip point")
        close(back.numpy(), obj.numpy(), f"{type(obj).__name__} round trip")
        close(
            rgeom.pushforward(obj, g.inv).numpy(),
            rgeom.pullback(obj, g).numpy(),
            f"pushforward along g.inv == pullback along g ({type(obj).__name__})",
        )
    for obj in (
        rgeom.Operator(p.theta, lambda u: E_b @ u),
        rgeom.BilinearForm(p.theta, lambda u: E_b @ u),
    ):
        back = rgeom.pushforward(rgeom.pullback(obj, g), g)
        close(np.asarray(back), E, f"{type(obj).__name__} round trip")
    metric_back = rgeom.pushforward(rgeom.pullback(p.metric, g), g)
    close(p.np(metric_back.at(p.theta).as_matrix()), p.ref.G, "metric round trip")
    L_back = rgeom.pushforward(rgeom.pullback(p.loss, g), g)
    close(p.np(L_back(p.theta)), p.np(p.loss(p.theta)), "scalar round trip")


# --- densities ------------------------------------------------------------------------------------
@property_test(LIGHT)
def test_lebesgue_density_picks_up_the_jacobian(backend, data):
    """p w.r.t. Lebesgue ↦ p(g(ψ)) |det J|: log density gains log|det J|; round trip is exact."""
    p = data.draw(problems(backend))
    dens = rgeom.Density(lambda th: -p.loss(th))
    q = rgeom.pullback(dens, p.g)
    assert q.measure == "lebesgue"
    logp = p.np(dens.log_prob(p.theta))
    close(p.np(q.log_prob(p.psi)), logp + p.ref.logabsdetJ, "log q(ψ) vs log p(θ) + log|det J|")
    back = rgeom.pushforward(q, p.g)
    close(p.np(back.log_prob(p.theta)), logp, "Lebesgue density round trip")


@property_test(LIGHT)
def test_riemannian_density_is_a_scalar(backend, data):
    """p w.r.t. the Riemannian volume composes like a scalar; the two measures commute with g."""
    p = data.draw(problems(backend))
    dens = rgeom.Density(lambda th: -p.loss(th), metric=p.metric)
    q = rgeom.pullback(dens, p.g)
    assert q.measure == "riemannian"
    logp = p.np(dens.log_prob(p.theta))
    close(p.np(q.log_prob(p.psi)), logp, "volume density: log q(ψ) vs log p(θ)")
    # Lebesgue density in ψ: via the ψ metric's volume, and via pulling back the θ Lebesgue one.
    expected = logp + 0.5 * np.linalg.slogdet(p.ref.G)[1] + p.ref.logabsdetJ
    close(p.np(q.with_respect_to(None).log_prob(p.psi)), expected, "q w.r.t. Lebesgue in ψ")
    close(
        p.np(rgeom.pullback(dens.with_respect_to(None), p.g).log_prob(p.psi)),
        expected,
        "pullback(p w.r.t. Lebesgue) == (pullback p) w.r.t. Lebesgue",
    )
    close(p.np(rgeom.pushforward(q, p.g).log_prob(p.theta)), logp, "volume density round trip")
