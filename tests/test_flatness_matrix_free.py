"""Matrix-free flatness on a tiny network against dense references built independently.

The network: a 6 → 20 → 3 tanh MLP with biases (203 parameters), squared loss on 40 points plus
weight decay ½‖θ‖² (so log-determinants are well defined), float64, on every installed backend.
References never go through the engine:

* naive: ``numpy.linalg.eigvalsh`` of the backend's dense Hessian ``∂²L``;
* pullback metric ``G = Jᵀ J`` along a map ``g`` with the loss pulled back along it: the tensor
  rule makes ``G⁻¹ Hess`` similar to ``∂²_θ L`` at ``θ = g(ψ)``, so the reference is the
  spectrum of the θ-chart Hessian (a Dinh rescaling and a nonlinear elementwise map);
* the non-constant diagonal metric ``G = diag(1 + θ²)``: Christoffel symbols in closed form,
  ``Γⁱᵢᵢ = θᵢ / (1 + θᵢ²)``, then ``scipy.linalg.eigh(∂²L − diag(Γⁱᵢᵢ ∂ᵢL), G)``.

Deterministic estimates (Lanczos eigenvalues, Hutch++ with a sketch spanning the space) must
match to 1e-8 relative: float64 with d = 203, condition numbers ~1e3, Lanczos residual tol 1e-10.
Stochastic estimates (Hutchinson trace, SLQ log-det) must lie within 3 reported standard errors.
To keep the file fast the exact-trace checks (3d = 609 products) run on autograd; JAX and torch
(whose per-product overhead dominates on so small a network) get a 40-product 3-stderr check.
"""

import json

import numpy as np
import pytest
import scipy.linalg

import rgeom
from rgeom.errors import NotPositiveDefiniteError
from rgeom.flatness import compare_flatness, flatness
from rgeom.metrics.base import Metric, MetricAt

RTOL = 1e-8
N_IN, N_HID, N_OUT, N_DATA = 6, 20, 3, 40
SIZES = [N_HID * N_IN, N_HID, N_OUT * N_HID, N_OUT]
D = sum(SIZES)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Products on a 203-parameter network gain nothing from intra-op threads, and on a shared
    machine torch's thread pool spins (an HVP went from 8 ms to 500 ms): use one, then restore."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_loss(bk, decay=1.0):
    rng = np.random.default_rng(0)
    X = bk.asarray(rng.normal(size=(N_DATA, N_IN)))
    Y = bk.asarray(rng.normal(size=(N_DATA, N_OUT)))
    xp = bk.xp
    c = np.cumsum([0] + SIZES)

    def loss(th):
        W1 = xp.reshape(th[c[0] : c[1]], (N_HID, N_IN))
        W2 = xp.reshape(th[c[2] : c[3]], (N_OUT, N_HID))
        h = xp.tanh(xp.matmul(X, W1.T) + th[c[1] : c[2]])
        out = xp.matmul(h, W2.T) + th[c[3] : c[4]]
        return 0.5 * xp.mean(xp.sum((out - Y) ** 2, 1)) + 0.5 * decay * xp.sum(th * th)

    theta = bk.asarray(0.5 * rng.normal(size=D))
    return loss, theta


def dense_hessian(bk, loss, theta):
    return np.asarray(bk.to_numpy(bk.hessian(loss, theta)), dtype=np.float64)


def trace_budget(bk):
    """Hutch++ budget: 3d on autograd (sketch spans R^d, exact), else a 40-product estimate."""
    return 3 * D if bk.name == "autograd" else 40


def check_trace(f, ref_trace, bk):
    est = f.measures["trace"]
    if bk.name != "autograd":
        assert abs(est.value - ref_trace) <= 3 * est.stderr
    else:
        assert est.stderr == 0.0 and est.value == pytest.approx(ref_trace, rel=RTOL)


def lanczos_checks(f, ref):
    """Top-3 Lanczos eigenvalues against the dense reference (ascending arrays)."""
    assert f.converged and f.measures["max_eigenvalue"].converged
    np.testing.assert_allclose(f.eigenvalues, ref[-3:], rtol=RTOL)
    assert f.max_eigenvalue == pytest.approx(ref[-1], rel=RTOL)


def test_naive_matches_dense_hessian(bk):
    loss, theta = make_loss(bk)
    ref = np.linalg.eigvalsh(dense_hessian(bk, loss, theta))
    f = flatness(
        loss,
        theta,
        method="lanczos",
        measures=["max_eigenvalue", "min_eigenvalue", "trace"],
        k=3,
        tol=1e-10,
        n_probes=trace_budget(bk),
    )
    lanczos_checks(f, ref)
    assert f.min_eigenvalue == pytest.approx(ref[0], rel=RTOL)
    check_trace(f, ref.sum(), bk)
    assert f.route == "naive Hessian"
    assert not f.invariant and f.backend == bk.name and f.dim == D
    # one Hessian-vector product per operator product on the naive path
    assert f.n_matvecs == sum(e.n_matvecs for e in f.measures.values())


@pytest.mark.parametrize("kind", ["dinh", "softplus"])
def test_pullback_metric_matches_theta_chart_hessian(bk, kind):
    loss, theta = make_loss(bk)
    g = rgeom.maps.LayerRescaling.dinh(SIZES, 10.0) if kind == "dinh" else rgeom.maps.Softplus()
    if kind == "softplus":
        theta = bk.asarray(np.abs(bk.to_numpy(theta)) + 0.2)  # softplus maps onto (0, ∞)
    psi = g.inverse(theta)
    L, G = rgeom.pullback(loss, g), rgeom.pullback(rgeom.metrics.Euclidean(D), g)
    ref = np.linalg.eigvalsh(dense_hessian(bk, loss, theta))
    f = flatness(
        L,
        psi,
        G,
        method="lanczos",
        measures=["max_eigenvalue", "trace"],
        k=3,
        tol=1e-10,
        n_probes=trace_budget(bk),
    )
    lanczos_checks(f, ref)
    check_trace(f, ref.sum(), bk)
    assert f.route.startswith("pullback") and f.invariant and f.kernel_dim == 0
    grad = np.asarray(bk.to_numpy(bk.grad(loss, theta)))
    assert f.gradient_norm == pytest.approx(np.linalg.norm(grad), rel=1e-10)  # |∇L|_G* is a scalar


def diagonal_reference(bk, loss, theta, christoffel=True, c=1.0):
    """Dense reference for G = diag(1 + c θ²)."""
    th = np.asarray(bk.to_numpy(theta))
    H = dense_hessian(bk, loss, theta)
    grad = np.asarray(bk.to_numpy(bk.grad(loss, theta)))
    if christoffel:
        H = H - np.diag(c * th / (1.0 + c * th**2) * grad)  # Γⁱᵢᵢ ∂ᵢL in closed form
    G = np.diag(1.0 + c * th**2)
    return scipy.linalg.eigh(H, G, eigvals_only=True), G, grad


def test_nonconstant_metric_keeps_christoffel_term(bk):
    loss, theta = make_loss(bk)
    G = rgeom.metrics.Diagonal(lambda th: 1.0 + th**2)
    ref, Gm, grad = diagonal_reference(bk, loss, theta)
    f = flatness(
        loss,
        theta,
        G,
        method="lanczos",
        measures=["max_eigenvalue", "trace"],
        k=3,
        tol=1e-10,
        n_probes=trace_budget(bk),
    )
    lanczos_checks(f, ref)
    check_trace(f, ref.sum(), bk)
    assert f.route == "Hessian + Christoffel contraction"
    # the same with the dense path of flatness (one reference for the other)
    dense = flatness(loss, theta, G, method="dense")
    np.testing.assert_allclose(dense.eigenvalues, ref, rtol=1e-10, atol=1e-12)
    # christoffel=False: eigenvalues of G⁻¹∂²L, and the natural-gradient norm that bounds the gap
    ref_nc, _, _ = diagonal_reference(bk, loss, theta, christoffel=False)
    nc = flatness(
        loss,
        theta,
        G,
        method="lanczos",
        measures=["max_eigenvalue"],
        k=3,
        tol=1e-10,
        christoffel=False,
    )
    lanczos_checks(nc, ref_nc)
    assert not nc.christoffel and not nc.invariant
    assert nc.gradient_norm == pytest.approx(np.sqrt(grad @ np.linalg.solve(Gm, grad)), rel=1e-12)


def test_stochastic_estimates_within_three_stderr(bk):
    loss, theta = make_loss(bk, decay=10.0)
    G = rgeom.metrics.Diagonal(lambda th: 1.0 + 0.1 * th**2)
    ref, _, _ = diagonal_reference(bk, loss, theta, c=0.1)
    assert ref.min() > 1.0  # weight decay: log-det well defined
    f = flatness(
        loss,
        theta,
        G,
        method="stochastic",
        measures=["trace", "logdet", "spectral_density"],
        n_probes=30,
        slq_probes=10,
        lanczos_steps=25,
        seed=3,
    )
    tr, ld = f.measures["trace"], f.measures["logdet"]
    assert tr.method == "hutchinson" and tr.n_probes == 30
    assert abs(tr.value - ref.sum()) <= 3 * tr.stderr
    assert ld.converged and abs(ld.value - np.log(ref).sum()) <= 3 * ld.stderr
    sd = f.spectral_density
    assert sd.density.sum() * (sd.grid[1] - sd.grid[0]) == pytest.approx(1.0, abs=0.1)
    # seeded: the same call gives the same numbers
    again = flatness(loss, theta, G, method="stochastic", measures=["trace"], n_probes=30, seed=3)
    assert again.trace == f.trace


def test_dinh_invariance_matrix_free():
    """Invariant measures agree across Dinh rescalings (to 1e-8); the naive ones do not."""
    bk = rgeom.backend.get_backend("autograd")
    loss, theta = make_loss(bk)
    out = []
    for alpha in (1.0, 30.0):
        g = rgeom.maps.LayerRescaling.dinh(SIZES, alpha)
        psi = g.inverse(theta)
        cmp = compare_flatness(
            rgeom.pullback(loss, g),
            psi,
            rgeom.pullback(rgeom.metrics.Euclidean(D), g),
            method="lanczos",
            measures=["max_eigenvalue", "trace"],
            k=3,
            tol=1e-10,
            n_probes=12,
        )
        out.append(json.loads(cmp.as_json()))
    a, b = (o["measures"] for o in out)
    np.testing.assert_allclose(
        out[1]["eigenvalues"]["invariant"], out[0]["eigenvalues"]["invariant"], rtol=RTOL
    )
    assert b["max_eigenvalue"]["invariant"] == pytest.approx(
        a["max_eigenvalue"]["invariant"], rel=RTOL
    )
    for name in ("max_eigenvalue", "trace"):
        assert b[name]["naive"] > 10 * a[name]["naive"]
        assert a[name]["converged"] and set(a[name]["stderr"]) == {"naive", "invariant"}
    # stochastic too: the pulled-back metric is whitened by W = J⁻¹, so Wᵀ Hess_ψ W is the same
    # operator in every chart and a seeded estimate is the same number (not just within stderr)
    assert b["trace"]["invariant"] == pytest.approx(a["trace"]["invariant"], rel=RTOL)
    assert b["trace"]["stderr"]["invariant"] == pytest.approx(a["trace"]["stderr"]["invariant"], rel=1e-6)
    assert out[0]["invariant"] is True and out[0]["damping"] == 0.0 and out[0]["dim"] == D


def test_damping_is_reported_and_breaks_invariance(bk):
    loss, theta = make_loss(bk)
    g = rgeom.maps.LayerRescaling.dinh(SIZES, 3.0)
    psi = g.inverse(theta)
    L, G = rgeom.pullback(loss, g), rgeom.pullback(rgeom.metrics.Euclidean(D), g)
    J = np.diag(g.factors)  # linear map: no Christoffel term
    H = J @ dense_hessian(bk, loss, theta) @ J
    ref = scipy.linalg.eigh(H, J @ J + 0.1 * np.eye(D), eigvals_only=True)
    f = flatness(
        L, psi, G, method="lanczos", measures=["max_eigenvalue"], k=3, damping=0.1, tol=1e-10
    )
    lanczos_checks(f, ref)
    assert f.damping == 0.1 and not f.invariant and "damping" in str(f)


class SingularAt(MetricAt):
    """A constant singular metric with a known kernel basis (like K-FAC's pseudo-inverse)."""

    tags = frozenset({"psd"})

    def __init__(self, point, backend, G, K, with_basis):
        super().__init__(point, backend)
        self._G, self._K = G, K
        self.kernel_dim = K.shape[1]
        if with_basis:
            self.kernel_basis = K

    def mv(self, u):
        return self.backend.asarray(self._G) @ u

    def as_matrix(self, *, max_dense_dim=None):
        return self.backend.asarray(self._G)

    def project(self, x):
        K = self.backend.asarray(self._K)
        return x - K @ (K.T @ x)


class Singular(Metric):
    constant = True

    def __init__(self, G, K, with_basis=True):
        self.G, self.K, self.with_basis, self.dim = G, K, with_basis, G.shape[0]

    def matvec(self, theta, u):
        return self._bk(theta).asarray(self.G) @ u

    def at(self, theta):
        return SingularAt(theta, self._bk(theta), self.G, self.K, self.with_basis)


@pytest.mark.parametrize("with_basis", [True, False])
def test_degenerate_metric_reports_kernel(with_basis):
    bk = rgeom.backend.get_backend("autograd")
    loss, theta = make_loss(bk)
    rng = np.random.default_rng(1)
    K = np.linalg.qr(rng.normal(size=(D, 5)))[0]
    P = np.eye(D) - K @ K.T
    B = rng.normal(size=(D, D))
    G = P @ (B @ B.T / D + np.eye(D)) @ P
    H = dense_hessian(bk, loss, theta)
    # independent reference: the problem restricted to an orthonormal basis of the range
    U = scipy.linalg.null_space(K.T)
    ref = scipy.linalg.eigh(U.T @ H @ U, U.T @ G @ U, eigvals_only=True)
    f = flatness(
        loss,
        theta,
        Singular(G, K, with_basis),
        method="lanczos",
        k=3,
        tol=1e-10,
        measures=["max_eigenvalue", "trace"],
        n_probes=3 * D if with_basis else 30,
        seed=2,
    )
    lanczos_checks(f, ref)
    if with_basis:  # Hutch++ sketch of 3d/3 = d columns spans the range: exact
        assert f.trace == pytest.approx(ref.sum(), rel=RTOL)
    else:
        assert abs(f.trace - ref.sum()) <= 3 * f.measures["trace"].stderr
    assert f.kernel_dim == 5
    hk = f.hessian_kernel_norm
    truth = np.linalg.norm(H @ K)
    if with_basis:
        assert hk.value == pytest.approx(truth, rel=1e-10) and hk.stderr == 0.0
    else:  # Hutchinson estimate of ‖H P_ker‖_F through the projector
        assert abs(hk.value - truth) <= 3 * hk.stderr + 1e-12
    # The dense path restricts to the complement S²·range(G) of the kernel (S = diag(G)^{-1/2}, the
    # Jacobi-equilibrated chart's orthogonal complement), which moves with the coordinates like a
    # vector under a rescaling; the matrix-free engine above projects orthogonally. Both are the
    # same problem when H vanishes on the kernel; here ‖H K‖ ≠ 0 on purpose, so the reference
    # changes accordingly (float64, d = 40: 1e-9 relative).
    U_eq = U / np.diag(G)[:, None]
    ref_eq = scipy.linalg.eigh(U_eq.T @ H @ U_eq, U_eq.T @ G @ U_eq, eigvals_only=True)
    dense = flatness(loss, theta, Singular(G, K), method="dense")
    np.testing.assert_allclose(dense.eigenvalues, ref_eq, rtol=1e-9)
    assert dense.kernel_dim == 5 and dense.hessian_kernel_norm.value == pytest.approx(
        truth, rel=1e-9
    )


def test_not_converged_is_a_status_not_a_silent_number():
    bk = rgeom.backend.get_backend("autograd")
    loss, theta = make_loss(bk)
    f = flatness(
        loss,
        theta,
        method="lanczos",
        measures=["max_eigenvalue", "logdet"],
        tol=1e-12,
        max_steps=3,
        slq_probes=3,
        lanczos_steps=3,
    )
    est = f.measures["max_eigenvalue"]
    assert not est.converged and "max_steps=3" in est.message and est.error_bound > 0
    assert not f.measures["logdet"].converged
    assert not f.converged and "NOT CONVERGED" in str(f)


class IndefiniteAt(MetricAt):
    def mv(self, u):
        return u * self.backend.asarray(np.r_[-1.0, np.ones(self.dim - 1)])


class Indefinite(Metric):
    constant = True

    def matvec(self, theta, u):
        return u

    def at(self, theta):
        return IndefiniteAt(theta, self._bk(theta))


def test_indefinite_user_metric_raises():
    bk = rgeom.backend.get_backend("autograd")
    loss, theta = make_loss(bk)
    with pytest.raises(NotPositiveDefiniteError):
        flatness(loss, theta, Indefinite(), method="lanczos", measures=["max_eigenvalue"])
    xp = bk.xp
    dense_bad = rgeom.metrics.Dense(
        lambda th: xp.diag(xp.concatenate([-xp.ones(1), xp.ones(D - 1)]))
    )
    with pytest.raises(NotPositiveDefiniteError):
        flatness(loss, theta, dense_bad, method="lanczos")


def test_bad_arguments():
    bk = rgeom.backend.get_backend("autograd")
    loss, theta = make_loss(bk)
    with pytest.raises(ValueError, match="method"):
        flatness(loss, theta, method="power")
    with pytest.raises(ValueError, match="measures"):
        flatness(loss, theta, measures=["frobenius"])
    with pytest.raises(ValueError, match="damping"):
        flatness(loss, theta, damping=0.1)  # damping needs a metric
    with pytest.raises(ValueError, match="metric"):
        compare_flatness(loss, theta, None)


def test_eig_criterion_eigenvalue_meets_tol_in_fewer_products():
    # A separated top eigenvalue (10 vs ≤ 5): the Kato–Temple stop (r²/gap) needs fewer Lanczos
    # steps than the residual stop, and both are within tol·λ of the closed form λmax = 10.
    import autograd.numpy as anp

    lam = np.concatenate([[10.0], np.linspace(0.1, 5.0, 59)])
    Q = np.linalg.qr(np.random.default_rng(3).normal(size=(60, 60)))[0]
    A = (Q * lam) @ Q.T
    loss = lambda th: 0.5 * anp.dot(th, anp.dot(A, th))  # noqa: E731
    theta = np.zeros(60)
    kw = dict(method="lanczos", measures=["max_eigenvalue"], tol=1e-6, progress=False, seed=0)
    res = rgeom.flatness(loss, theta, **kw)
    eig = rgeom.flatness(loss, theta, eig_criterion="eigenvalue", **kw)
    for f in (res, eig):
        assert f.converged and abs(f.max_eigenvalue - 10.0) <= 1e-6 * 10.0
    assert eig.measures["max_eigenvalue"].n_matvecs < res.measures["max_eigenvalue"].n_matvecs
    with pytest.raises(ValueError, match="eig_criterion"):
        rgeom.flatness(loss, theta, eig_criterion="gap", **kw)
