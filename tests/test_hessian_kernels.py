"""The per-point Hessian kernels (graph reuse on torch, compiled linearisation on JAX) and what the
engine builds on them, against the slow path and dense references on tiny float64 networks.

Tolerances: every quantity here is a float64 computation of a few hundred terms on a network of
~50 parameters whose Hessian has entries O(1); two exact evaluation orders differ by rounding,
~1e-15 relative. 1e-10 relative leaves five orders of magnitude for accumulation while still
failing on any genuine error (a wrong product is off by O(1)).
"""

import numpy as np
import pytest

from rgeom.flatness import flatness
from rgeom.linalg import hutchinson, hutchpp, lanczos, LinearOperator
from rgeom.linalg.shape import shape_problem
from rgeom.models import Problem, mlp

RTOL = 1e-10

X = np.random.default_rng(0).normal(size=(9, 3))
Y = np.array([0, 1, 2, 1, 1, 0, 2, 2, 0])


def problem(bk, batch_size=None):
    return Problem(mlp([3, 5, 3], activation="tanh", backend=bk.name), "cross-entropy", (X, Y),
                   batch_size=batch_size)


def dense_hessian(prob):
    """The full Hessian by the backend's own dense route (forward-over-reverse Jacobian of ∇L)."""
    bk = prob.backend
    return np.asarray(bk.to_numpy(bk.hessian(prob.objective, prob.model.theta)), dtype=np.float64)


@pytest.mark.parametrize("batch_size", [None, 4])
def test_point_hessian_matches_dense(bk, to_np, batch_size):
    prob = problem(bk, batch_size)
    H = dense_hessian(prob)
    ph = prob.hessian_operator()
    g_ref = to_np(bk.grad(prob.objective, prob.model.theta))
    np.testing.assert_allclose(to_np(ph.gradient), g_ref, rtol=RTOL, atol=RTOL * np.abs(g_ref).max())
    rng = np.random.default_rng(1)
    for _ in range(3):  # repeated products at one point: the kept state is not consumed
        v = rng.normal(size=prob.dim)
        hv = to_np(ph.mv(bk.asarray(v)))
        np.testing.assert_allclose(hv, H @ v, rtol=RTOL, atol=RTOL * np.abs(H @ v).max())
        assert float(to_np(ph.quad(bk.asarray(v)))) == pytest.approx(v @ H @ v, rel=RTOL)


def test_point_hessian_new_point_same_kernels(bk, to_np):
    """A second point reuses the compiled kernels and gives that point's Hessian, not the first."""
    prob = problem(bk)
    prob.hessian_operator()
    theta2 = bk.asarray(to_np(prob.model.theta) * 0.7)
    H2 = np.asarray(to_np(bk.hessian(prob.objective, theta2)))
    v = np.random.default_rng(2).normal(size=prob.dim)
    hv = to_np(prob.hessian_operator(theta2).mv(bk.asarray(v)))
    np.testing.assert_allclose(hv, H2 @ v, rtol=RTOL, atol=RTOL * np.abs(H2 @ v).max())


def test_affine_loss_has_zero_hessian(bk, to_np):
    """The torch graph of an affine function has no second-order part: products are zero."""
    xp = bk.xp
    k = bk.hessian_kernels(lambda x, c: xp.sum(x * c))
    ph = k.at(bk.asarray(np.ones(3)), bk.asarray(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_allclose(to_np(ph.gradient), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(to_np(ph.mv(bk.asarray(np.array([1.0, -1.0, 2.0])))), 0.0)


@pytest.mark.parametrize("pass_as", ["problem", "objective"])
def test_shape_problem_uses_the_problem_kernels(bk, pass_as):
    prob = problem(bk)
    loss = prob if pass_as == "problem" else prob.objective
    fast = shape_problem(loss, prob.model.theta)
    slow = shape_problem(lambda th: prob.objective(th), prob.model.theta)  # a plain callable
    assert fast.hessian._quad is not None and slow.hessian._quad is None
    H = dense_hessian(prob)
    v = np.random.default_rng(3).normal(size=prob.dim)
    np.testing.assert_allclose(fast.hessian.mv(v), slow.hessian.mv(v), rtol=RTOL, atol=RTOL * np.abs(H @ v).max())
    assert fast.hessian.quad(v) == pytest.approx(v @ H @ v, rel=RTOL)
    np.testing.assert_allclose(fast.gradient, slow.gradient, rtol=RTOL, atol=1e-14)
    assert fast.natural_gradient_norm == pytest.approx(slow.natural_gradient_norm, rel=RTOL)


def test_flatness_fast_path_equals_slow_path(bk):
    """Same seeds, same estimators: the estimates agree to rounding with the plain-callable path."""
    prob = problem(bk)
    kw = dict(method="lanczos", measures=["max_eigenvalue", "trace"], tol=1e-10, n_probes=12,
              progress=False, seed=4)
    fast = flatness(prob, prob.model.theta, None, **kw)
    slow = flatness(lambda th: prob.objective(th), prob.model.theta, None, **kw)
    lam = np.linalg.eigvalsh(dense_hessian(prob))
    assert fast.max_eigenvalue == pytest.approx(lam[-1], rel=1e-8)
    assert fast.max_eigenvalue == pytest.approx(slow.max_eigenvalue, rel=1e-9)
    assert fast.trace == pytest.approx(slow.trace, rel=RTOL)
    st = flatness(prob, prob.model.theta, None, **{**kw, "method": "stochastic"})
    st_slow = flatness(lambda th: prob.objective(th), prob.model.theta, None, **{**kw, "method": "stochastic"})
    assert st.trace == pytest.approx(st_slow.trace, rel=RTOL)
    assert abs(st.trace - lam.sum()) <= 3 * st.measures["trace"].stderr


def test_quadratic_form_operator_in_trace_estimators():
    """hutchinson / hutch++ through ``quad`` give exactly the ``mv`` estimates, counted the same."""
    rng = np.random.default_rng(5)
    B = rng.normal(size=(30, 30))
    A = B + B.T
    with_quad = LinearOperator(lambda x: A @ x, 30, quad=lambda x: x @ A @ x)
    plain = LinearOperator(lambda x: A @ x, 30)
    D = np.diag(rng.uniform(0.5, 2.0, 30))
    for M in (None, D):
        for est in (hutchinson, hutchpp):
            a = est(with_quad, 12, M=M, seed=1, progress=False)
            b = est(plain, 12, M=M, seed=1, progress=False)
            assert a.value == pytest.approx(b.value, rel=1e-12) and a.n_matvecs == b.n_matvecs
    with pytest.raises(TypeError, match="quad"):
        LinearOperator(lambda x: x, 3, quad=1.0)


def test_eigenvalue_criterion_accuracy_and_bound():
    """criterion="eigenvalue" stops earlier, its eigenvalue is within tol, and the Kato–Temple
    estimate really bounds the error on a spectrum with a clear gap."""
    rng = np.random.default_rng(6)
    lam = np.r_[np.linspace(0.0, 1.0, 200), 1.6, 2.0]
    Q = np.linalg.qr(rng.normal(size=(202, 202)))[0]
    A = (Q * lam) @ Q.T
    for seed in range(5):
        fast = lanczos(A, tol=1e-6, criterion="eigenvalue", seed=seed, progress=False)
        slow = lanczos(A, tol=1e-6, seed=seed, progress=False)
        assert fast.converged and fast.n_matvecs < slow.n_matvecs
        err = abs(fast.eigenvalues[-1] - 2.0)
        assert err <= 1e-6 * 2.0
        assert err <= fast.error_estimates[-1] * (1 + 1e-8) + 1e-14
        assert fast.estimate().error_bound == fast.error_estimates[-1] <= fast.residuals[-1]
    with pytest.raises(ValueError, match="criterion"):
        lanczos(A, criterion="gap")


def test_eigenvalue_criterion_generalized_whitened():
    """The criterion works in every pencil mode (whitened by a diagonal metric here)."""
    rng = np.random.default_rng(7)
    n = 60
    B = rng.normal(size=(n, n))
    A = B @ B.T / n
    d = rng.uniform(0.5, 2.0, n)
    import scipy.linalg

    ref = scipy.linalg.eigh(A, np.diag(d), eigvals_only=True)
    res = lanczos(A, 2, M=np.diag(d), tol=1e-8, criterion="eigenvalue", progress=False)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, ref[-2:], rtol=1e-8)
