"""Matrix-free Fisher / GGN / empirical Fisher / diagonal / K-FAC against dense references.

The references are built from scratch on a tiny two-layer network (3 → 5 → 3, 38 parameters,
float64): a hand-written forward pass, its full Jacobian by autograd, the output-space matrices by
explicit formulas or explicit expectations, and NumPy linear algebra. Products, solves and
log-dets must agree to 1e-8 relative: in float64 with D = 38 the rounding error of either side is
~1e-14, so 1e-8 leaves six orders of margin and still catches any wrong term (those are O(1)).
"""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from rgeom.errors import NotPositiveDefiniteError
from rgeom.metrics.fisher import GGN, EmpiricalFisher, Fisher
from rgeom.metrics.fisher_diagonal import DiagonalFisher
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, from_autograd, mlp

RTOL = 1e-8
N, D_IN, H, C = 12, 3, 5, 3


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D_IN))
    labels = rng.integers(0, C, N)
    Yreg = rng.normal(size=(N, C))
    return X, labels, Yreg


def unpack(theta):
    W1 = theta[:H * D_IN].reshape(H, D_IN)
    b1 = theta[H * D_IN:H * D_IN + H]
    o = H * D_IN + H
    W2 = theta[o:o + C * H].reshape(C, H)
    b2 = theta[o + C * H:]
    return W1, b1, W2, b2


def forward(theta, X, act=anp.tanh):
    W1, b1, W2, b2 = unpack(theta)
    return anp.dot(act(anp.dot(X, W1.T) + b1), W2.T) + b2


def jac(theta, X):
    """Full Jacobian (N, C, D) by autograd on the hand-written forward."""
    return autograd.jacobian(lambda th: forward(th, X))(theta)


def softmax(F):
    e = np.exp(F - F.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def net_backend(name, bk_name="autograd"):
    return mlp([D_IN, H, C], activation=name, backend=bk_name, seed=3)


# -- output-space metrics --------------------------------------------------------------------
def ggn_reference(theta, X, loss, Y=None, sigma=1.0):
    J = jac(theta, X)
    F = forward(theta, X)
    if loss == "cross-entropy":
        P = softmax(F)
        Lam = np.stack([np.diag(p) - np.outer(p, p) for p in P])
    elif loss == "mse":
        Lam = np.stack([2.0 / C * np.eye(C)] * N)
    elif loss == "gaussian":
        Lam = np.stack([np.eye(C) / sigma ** 2] * N)
    else:  # bernoulli
        P = 1 / (1 + np.exp(-F))
        Lam = np.stack([np.diag(p * (1 - p)) for p in P])
    return np.einsum("ncd,nce,nef->df", J, Lam, J) / N


def fisher_reference_enumerated(theta, X):
    """Exact categorical Fisher by enumerating y: Σ_y p(y) ∇ℓ ∇ℓᵀ with ∇_f ℓ = p − e_y."""
    J = jac(theta, X)
    P = softmax(forward(theta, X))
    M = np.zeros((N, C, C))
    for n in range(N):
        for y in range(C):
            g = P[n] - np.eye(C)[y]
            M[n] += P[n, y] * np.outer(g, g)
    return np.einsum("ncd,nce,nef->df", J, M, J) / N


@pytest.mark.parametrize("loss", ["cross-entropy", "mse", "gaussian", "bernoulli"])
def test_ggn_mv_matches_dense_jacobian_reference(setup, bk, to_np, loss):
    if loss != "cross-entropy" and bk.name != "autograd":
        pytest.skip("the losses' closed forms are backend-independent; one backend suffices")
    X, labels, Yreg = setup
    net = mlp([D_IN, H, C], activation="tanh", backend=bk.name, seed=3)
    theta = to_np(net.theta)
    y = labels if loss == "cross-entropy" else (Yreg > 0).astype(float) if loss == "bernoulli" else Yreg
    kw = {"sigma": 0.7} if loss == "gaussian" else {}
    from rgeom.models import get_loss

    G = GGN(net, get_loss(loss, **kw), (X, y)).at(net.theta)
    Gref = ggn_reference(theta, X, loss, sigma=0.7)
    U = np.random.default_rng(1).normal(size=(3, net.dim))
    for u in U:
        assert rel(to_np(G.mv(bk.asarray(u))), Gref @ u) < RTOL
    assert rel(to_np(G.as_matrix()), Gref) < RTOL
    assert rel(to_np(G.diagonal()), np.diag(Gref)) < RTOL


def test_exact_fisher_equals_enumerated_expectation(setup, bk, to_np):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", backend=bk.name, seed=3)
    F = Fisher(net, "cross-entropy", (X, labels)).at(net.theta)
    Fref = fisher_reference_enumerated(to_np(net.theta), X)
    u = np.random.default_rng(2).normal(size=net.dim)
    assert rel(to_np(F.mv(bk.asarray(u))), Fref @ u) < RTOL


def test_empirical_fisher_matches_per_sample_gradients(setup, bk, to_np):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", backend=bk.name, seed=3)
    theta = to_np(net.theta)

    def ell(th, n):  # hand-written per-sample cross-entropy
        f = forward(th, X[n:n + 1])[0]
        return anp.log(anp.sum(anp.exp(f))) - f[labels[n]]

    g = np.stack([autograd.grad(ell)(theta, n) for n in range(N)])
    Eref = g.T @ g / N
    E = EmpiricalFisher(net, "cross-entropy", (X, labels)).at(net.theta)
    u = np.random.default_rng(3).normal(size=net.dim)
    assert rel(to_np(E.mv(bk.asarray(u))), Eref @ u) < RTOL
    assert rel(to_np(DiagonalFisher(net, "cross-entropy", (X, labels), kind="empirical").at(net.theta).diagonal()),
               np.diag(Eref)) < RTOL


def test_monte_carlo_fisher_is_seeded_and_converges_to_exact(setup):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    Fref = fisher_reference_enumerated(net.theta, X)
    u = np.random.default_rng(4).normal(size=net.dim)
    a = Fisher(net, "cross-entropy", (X, labels), mc_samples=4, seed=7).at(net.theta).mv(u)
    b = Fisher(net, "cross-entropy", (X, labels), mc_samples=4, seed=7).at(net.theta).mv(u)
    assert np.array_equal(a, b)  # seeded: identical operator
    # S = 4000 draws per sample: relative error ~ 1/sqrt(S·N) ≈ 5e-3; allow 4e-2 (≈ 8 sigma)
    big = Fisher(net, "cross-entropy", (X, labels), mc_samples=4000, seed=0).at(net.theta)
    for loss, y in (("mse", X[:, :C]), ("bernoulli", (X[:, :C] > 0).astype(float)), ("gaussian", X[:, :C])):
        ref = np.asarray(GGN(net, loss, (X, y)).at(net.theta).mv(u))
        mc = np.asarray(Fisher(net, loss, (X, y), mc_samples=4000, seed=0).at(net.theta).mv(u))
        assert rel(mc, ref) < 4e-2, loss
    assert rel(big.mv(u), Fref @ u) < 4e-2
    few = Fisher(net, "cross-entropy", (X, labels), mc_samples=1, seed=0).at(net.theta)
    assert rel(few.mv(u), Fref @ u) > 1e-3  # a single draw is not the exact Fisher
    Md = np.asarray(few.as_matrix())  # but it is exactly its own dense matrix
    assert rel(few.mv(u), Md @ u) < RTOL


def test_metric_matvec_is_differentiable_in_theta(setup):
    """``matvec(θ, u)`` drives Christoffel symbols: compare its θ-derivative with finite differences."""
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    G = GGN(net, "cross-entropy", (X, labels))
    rng = np.random.default_rng(5)
    u, w, v = rng.normal(size=(3, net.dim))
    th = np.asarray(net.theta)
    f = lambda t: anp.dot(w, G.matvec(t, u))  # noqa: E731
    d_ad = np.dot(autograd.grad(f)(th), v)
    h = 1e-5
    d_fd = (f(th + h * v) - f(th - h * v)) / (2 * h)
    assert abs(d_ad - d_fd) < 1e-6 * max(1.0, abs(d_fd))  # central FD error O(h²) ≈ 1e-10


def test_user_loss_ggn_and_indefinite_user_loss(setup):
    X, _, Yreg = setup
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    half_sq = lambda F, T: 0.5 * anp.sum((F - T) ** 2, 1)  # noqa: E731
    G = GGN(net, half_sq, (X, Yreg)).at(net.theta)
    Gref = ggn_reference(np.asarray(net.theta), X, "gaussian", sigma=1.0)
    u = np.random.default_rng(6).normal(size=net.dim)
    assert rel(G.mv(u), Gref @ u) < RTOL
    assert rel(G.as_matrix(), Gref) < RTOL
    with pytest.raises(TypeError, match="not a named likelihood"):
        Fisher(net, half_sq, (X, Yreg))
    concave = lambda F, T: -0.5 * anp.sum((F - T) ** 2, 1)  # noqa: E731
    with pytest.raises(NotPositiveDefiniteError, match="indefinite"):
        GGN(net, concave, (X, Yreg)).at(net.theta).as_matrix()


def test_damping_is_added_and_reported(setup):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    G0 = GGN(net, "cross-entropy", (X, labels)).at(net.theta)
    G1 = GGN(net, "cross-entropy", (X, labels), damping=0.5)
    assert "damping=0.5" in repr(G1)
    u = np.ones(net.dim)
    assert rel(G1.at(net.theta).mv(u), G0.mv(u) + 0.5 * u) < RTOL
    assert rel(G0.damped(0.5).mv(u), G0.mv(u) + 0.5 * u) < RTOL
    with pytest.raises(ValueError, match="damping"):
        GGN(net, "cross-entropy", (X, labels), damping=-1.0)


def test_relu_and_softmax_symmetries_are_in_the_fisher_kernel(setup):
    """Rescaling a ReLU unit and shifting all logits leave the function unchanged: kernel of F."""
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="relu", seed=3)
    th = np.asarray(net.theta)
    F = np.asarray(Fisher(net, "cross-entropy", (X, labels)).at(net.theta).as_matrix())
    lay = net.layout
    for j in range(H):  # v = (w_in_j, b_j, -w_out_j): d/dα of the rescaling at α = 1
        v = np.zeros(net.dim)
        v[lay.index("0.weight")].reshape(H, D_IN)[j] = th[lay.index("0.weight")].reshape(H, D_IN)[j]
        v[lay.index("0.bias")][j] = th[lay.index("0.bias")][j]
        v[lay.index("2.weight")].reshape(C, H)[:, j] = -th[lay.index("2.weight")].reshape(C, H)[:, j]
        assert np.linalg.norm(F @ v) < 1e-12 * np.linalg.norm(F) * np.linalg.norm(v)
    shift = np.zeros(net.dim)
    shift[lay.index("2.bias")] = 1.0
    assert np.linalg.norm(F @ shift) < 1e-12 * np.linalg.norm(F)


def test_small_output_space_metric_has_exact_pseudo_inverse_and_kernel(setup):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="relu", seed=3)
    G = Fisher(net, "cross-entropy", (X, labels)).at(net.theta)
    Gd = np.asarray(G.as_matrix())
    K = G.kernel_basis()
    assert K.shape == (net.dim, G.kernel_dim) and G.kernel_dim >= H + 1  # ReLU rescalings + softmax shift
    assert np.abs(Gd @ K).max() < 1e-12 * np.abs(Gd).max()
    assert np.allclose(K.T @ K, np.eye(K.shape[1]), atol=1e-12)
    w = Gd @ np.random.default_rng(11).normal(size=net.dim)  # in the range
    assert rel(Gd @ G.solve(w), w) < 1e-6  # condition number of the range ~1e6 here
    s, U = np.linalg.eigh(Gd)
    assert G.kernel_dim == int(np.sum(s <= 1e-10 * s[-1]))  # agrees with a plain eigh here


# -- diagonal metric ---------------------------------------------------------------------------
def test_diagonal_metric_pseudo_inverse_logdet_and_whitening(setup):
    X, labels, _ = setup
    Xz = X.copy()
    Xz[:, 0] = 0.0  # a constant-zero input: its weights have zero curvature (kernel)
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    d = DiagonalFisher(net, "cross-entropy", (Xz, labels)).at(net.theta)
    ref = np.diag(ggn_reference(np.asarray(net.theta), Xz, "cross-entropy"))
    assert d.kernel_dim == H == int(np.sum(ref == 0.0))
    live = ref > 0
    w = np.random.default_rng(7).normal(size=net.dim)
    assert rel(d.solve(w)[live], w[live] / ref[live]) < RTOL and np.all(d.solve(w)[~live] == 0)
    assert rel(d.whiten(d.whiten(w)), d.solve(w)) < RTOL
    assert abs(d.logdet() - np.sum(np.log(ref[live]))) < RTOL * abs(np.sum(np.log(ref[live])))
    dd = d.damped(0.1)
    assert dd.kernel_dim == 0 and rel(dd.mv(w), (ref + 0.1) * w) < RTOL


# -- K-FAC ------------------------------------------------------------------------------------
def kfac_reference(theta, X, Xz_act=anp.tanh):
    """Dense K-FAC in θ order: A = mean ā āᵀ, S = mean J_sᵀ Λ J_s, block kron in row-major [W|b]."""
    W1, b1, W2, b2 = unpack(theta)
    S1pre = X @ W1.T + b1
    A1 = Xz_act(S1pre)
    P = softmax(A1 @ W2.T + b2)
    Lam = np.stack([np.diag(p) - np.outer(p, p) for p in P])
    # layer 2: s2 = F, J_s2 = I; layer 1: J_s1 = W2 diag(act'(s1))
    dact = autograd.elementwise_grad(Xz_act)(S1pre)
    Js1 = np.einsum("ch,nh->nch", W2, dact)
    S1 = np.einsum("nch,nce,nek->hk", Js1, Lam, Js1) / N
    S2 = Lam.mean(0)
    abar1 = np.hstack([X, np.ones((N, 1))])
    abar2 = np.hstack([A1, np.ones((N, 1))])
    Aa1, Aa2 = abar1.T @ abar1 / N, abar2.T @ abar2 / N

    def block(S, A, n_out, n_in):
        K = np.kron(S, A)  # row-major vec of [W | b]: index i*(n_in+1) + j
        idx_w = [i * (n_in + 1) + j for i in range(n_out) for j in range(n_in)]
        idx_b = [i * (n_in + 1) + n_in for i in range(n_out)]
        perm = idx_w + idx_b  # θ order: W row-major, then b
        return K[np.ix_(perm, perm)]

    G = np.zeros((theta.size, theta.size))
    o1 = H * D_IN + H
    G[:o1, :o1] = block(S1, Aa1, H, D_IN)
    G[o1:, o1:] = block(S2, Aa2, C, H)
    return G


def pinv_and_pseudo_logdet(G, kernel_dim):
    s, U = np.linalg.eigh(G)
    r = U[:, kernel_dim:], s[kernel_dim:]
    return (r[0] / r[1]) @ r[0].T, float(np.sum(np.log(r[1]))), (r[0] / np.sqrt(r[1])) @ r[0].T


def test_kfac_matches_dense_kronecker_reference(setup, bk, to_np):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", backend=bk.name, seed=3)
    Gref = kfac_reference(to_np(net.theta), X)
    K = KFAC(net, "cross-entropy", (X, labels)).at(net.theta)
    # the softmax shift: S2 has kernel 1 (one vector) ⊗ all of ā₂ (H + 1) = H + 1 kernel directions
    assert K.kernel_dim == H + 1
    Gpinv, logdet, Gisqrt = pinv_and_pseudo_logdet(Gref, K.kernel_dim)
    w = np.random.default_rng(8).normal(size=net.dim)
    wb = bk.asarray(w)
    assert rel(to_np(K.mv(wb)), Gref @ w) < RTOL
    assert rel(to_np(K.solve(wb)), Gpinv @ w) < RTOL
    assert rel(to_np(K.whiten(wb)), Gisqrt @ w) < RTOL
    assert abs(K.logdet() - logdet) < RTOL * abs(logdet)
    assert rel(to_np(K.diagonal()), np.diag(Gref)) < RTOL
    assert rel(to_np(K.project(wb)), Gpinv @ (Gref @ w)) < 1e-6  # projector = G⁺G (cond ~1e5 here)


def test_kfac_is_exact_for_one_linear_layer_with_mse(setup):
    X, _, Yreg = setup
    lin = mlp([D_IN, C], activation="identity", seed=1)
    K = np.asarray(KFAC(lin, "mse", (X, Yreg)).at(lin.theta).as_matrix())
    G = np.asarray(GGN(lin, "mse", (X, Yreg)).at(lin.theta).as_matrix())
    assert rel(K, G) < RTOL


def test_kfac_damping_is_exact_and_removes_the_kernel(setup):
    X, labels, _ = setup
    net = mlp([D_IN, H, C], activation="tanh", seed=3)
    Gref = kfac_reference(np.asarray(net.theta), X) + 0.3 * np.eye(net.dim)
    K = KFAC(net, "cross-entropy", (X, labels), damping=0.3)
    assert "damping=0.3" in repr(K)
    Ka = K.at(net.theta)
    w = np.random.default_rng(9).normal(size=net.dim)
    assert Ka.kernel_dim == 0
    assert rel(Ka.mv(w), Gref @ w) < RTOL and rel(Ka.solve(w), np.linalg.solve(Gref, w)) < RTOL
    assert abs(Ka.logdet() - np.linalg.slogdet(Gref)[1]) < RTOL * abs(np.linalg.slogdet(Gref)[1])


def test_kfac_conv2d_matches_explicit_patch_reference():
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1, stride=1)
    head = torch.nn.Linear(3 * 4 * 4, 4)
    net = from_torch(torch.nn.Sequential(conv, torch.nn.Tanh(), torch.nn.Flatten(), head))
    rng = np.random.default_rng(10)
    X = rng.normal(size=(5, 2, 4, 4))
    y = rng.integers(0, 4, 5)
    K = KFAC(net, "cross-entropy", (X, y)).at(net.theta)
    A_conv, S_conv = K.factors[0]
    # explicit patches with loops (independent of torch.unfold): P = 16 positions, pad 1
    Xp = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
    rows = [np.concatenate([Xp[n, :, i:i + 3, j:j + 3].ravel(), [1.0]])
            for n in range(5) for i in range(4) for j in range(4)]
    R = np.array(rows)
    assert rel(A_conv, R.T @ R / (5 * 16)) < RTOL
    # S: Σ_p J_{s_p}ᵀ Λ J_{s_p} with J from torch.func.jacrev of the head w.r.t. the conv output
    W = net.named()
    Xt = torch.as_tensor(X)
    s = torch.nn.functional.conv2d(Xt, torch.as_tensor(W["0.weight"]), torch.as_tensor(W["0.bias"]), padding=1)

    def head_fn(s_n):
        return torch.tanh(s_n).reshape(-1) @ torch.as_tensor(W["3.weight"]).T + torch.as_tensor(W["3.bias"])

    S_ref = np.zeros((3, 3))
    for n in range(5):
        Jn = torch.func.jacrev(head_fn)(s[n]).detach().numpy()  # (4, 3, 4, 4)
        p = softmax(head_fn(s[n]).detach().numpy()[None])[0]
        Lam = np.diag(p) - np.outer(p, p)
        Jp = Jn.reshape(4, 3, 16)
        S_ref += np.einsum("cop,ce,eqp->oq", Jp, Lam, Jp)
    assert rel(S_conv, S_ref / 5) < RTOL


def test_kfac_requires_layers_and_full_coverage(setup):
    X, labels, _ = setup
    f = from_autograd(lambda p, x: anp.tanh(x @ p["w"]), {"w": np.ones((D_IN, C))})
    with pytest.raises(TypeError, match="declares no dense / conv layers"):
        KFAC(f, "cross-entropy", (X, labels))


def test_problem_rejects_empty_data_and_misfit_loss(setup):
    X, labels, Yreg = setup
    net = mlp([D_IN, H, C], seed=3)
    from rgeom.errors import ShapeError

    with pytest.raises(ShapeError, match="empty"):
        Problem(net, "cross-entropy", (X[:0], labels[:0]))
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 3\)"):
        Problem(net, "cross-entropy", (X, labels + 5))
    with pytest.raises(ShapeError, match=r"targets y must have shape \(12, 3\)"):
        Problem(net, "mse", (X, Yreg[:, :2]))
    with pytest.raises(ShapeError, match="failed on data batch 0"):
        Problem(net, "mse", (X[:, :2], Yreg))
