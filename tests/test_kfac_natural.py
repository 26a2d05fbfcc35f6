"""K-FAC as the exact natural gradient of a coordinate-free metric (issue 6, core).

References are independent of the code under test: per-layer blocks and np.kron products are
rebuilt here with explicit index bookkeeping, transformed steps are computed with explicit
``Φ ΔW̄ Ω⁻¹`` matrix products, and the Christoffel term is checked against central finite
differences of the dense K-FAC matrix.

Tolerances (float64, every problem below has D ≤ 200 and condition numbers ≤ ~1e4): a product
or solve accumulates ~1e-16 · cond ≈ 1e-12 of rounding, so the issue's 1e-10 relative bound leaves
two orders of margin while any wrong term (an O(1) effect) fails it by ten.
"""

import numpy as np
import pytest

import rgeom
from rgeom.errors import NotPositiveDefiniteError, ShapeError, SingularJacobianError
from rgeom.maps.activations import (
    ActivationAffine, LayerAffine, centering, dinh, random_affine, whitening,
)
from rgeom.metrics import hessian_correction
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, dinh_rescaling, mlp

RTOL = 1e-10


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def np_blocks(model, u):
    """Homogeneous blocks [W | b] rebuilt here from the layout (independent of layer_blocks)."""
    u = np.asarray(model.backend.to_numpy(u), dtype=np.float64)
    named = {n: u[model.layout.index(n)].reshape(s) for n, s in zip(model.layout.names, model.layout.shapes)}
    out = []
    for L in model.layers:
        W = named[L.weight].reshape(named[L.weight].shape[0], -1)
        out.append(W if L.bias is None else np.hstack([W, named[L.bias][:, None]]))
    return out


def transformed_step(g, blocks):
    """Φ_l ΔW̄_l Ω_l⁻¹ per layer, by explicit products (the claim under test)."""
    return [g.phi(l) @ B @ np.linalg.inv(g.omega(l)) for l, B in enumerate(blocks)]


def kfac_step(prob, **kw):
    G = KFAC(prob, **kw).at(prob.model.theta)
    return G, G.natural_gradient(prob.gradient())


# -- one dense layer, Gaussian likelihood ---------------------------------------------------------
@pytest.fixture(scope="module")
def one_layer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)) + 1.5
    Y = rng.normal(size=(40, 3))
    net = mlp([4, 3], activation="identity", seed=2)
    g = ActivationAffine(net, {0: LayerAffine(U=np.eye(4) + 0.6 * rng.normal(size=(4, 4)), c=rng.normal(size=4),
                                              Phi=np.eye(3) + 0.6 * rng.normal(size=(3, 3)), d=rng.normal(size=3))})
    return X, Y, net, g


def test_one_dense_layer_function_step_metric_and_sgd(one_layer):
    X, Y, net, g = one_layer
    new = g.transformed_model()
    # function preserved to 1e-12 (outputs are O(1); the transform adds O(cond) rounding ≈ 1e-15)
    assert np.abs(new(X) - net(X)).max() < 1e-12
    prob, prob_psi = Problem(net, "gaussian", (X, Y)), Problem(new, "gaussian", (X, Y))
    assert abs(prob.loss_value() - prob_psi.loss_value()) < 1e-12

    G, step = kfac_step(prob)
    Gp, step_psi = kfac_step(prob_psi)  # K-FAC recomputed natively from the transformed activations
    (A, S), = G.factors
    (Ap, Sp), = Gp.factors
    Om, Phi = g.omega(0), g.phi(0)
    Phi_inv = np.linalg.inv(Phi)
    assert rel(Ap, Om @ A @ Om.T) < RTOL and rel(Sp, Phi_inv.T @ S @ Phi_inv) < RTOL
    # the undamped K-FAC step transforms as ΔW̄ ↦ Φ ΔW̄ Ω⁻¹
    assert rel(np_blocks(new, step_psi)[0], transformed_step(g, np_blocks(net, step))[0]) < RTOL
    # ... which is the map's own pushforward J⁻¹ Δθ
    assert rel(new.backend.to_numpy(step_psi), g.inverse_jvp(net.theta, step)) < RTOL
    # the metric value tr(V̄ᵀ S V̄ A) is the same in both coordinate systems
    V = np.random.default_rng(1).normal(size=net.dim)
    Vb = np_blocks(net, V)[0]
    Vp = transformed_step(g, [Vb])[0]
    q, qp = np.trace(Vb.T @ S @ Vb @ A), np.trace(Vp.T @ Sp @ Vp @ Ap)
    assert abs(q - qp) < RTOL * abs(q)
    assert abs(V @ G.mv(V) - q) < RTOL * abs(q)  # and it is the operator's quadratic form
    # SGD's step −∇L is not a vector: mapped back it misses the original step by O(1)
    sgd, sgd_psi = -prob.gradient(), -prob_psi.gradient()
    off = rel(g.jvp(g.inverse(net.theta), sgd_psi), sgd)
    assert off > 0.1, off


def test_kfac_step_invariant_for_mlp_under_random_affine_and_centering_whitening():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 0.0]
    Y = rng.normal(size=(60, 2))
    net = mlp([3, 5, 4, 2], activation="tanh", seed=1)
    prob = Problem(net, "gaussian", (X, Y))
    _, step = kfac_step(prob)
    for g in (random_affine(net, seed=4), centering(net, X), whitening(net, X)):
        new = g.transformed_model()
        assert np.abs(new(X) - net(X)).max() < 1e-12
        _, step_psi = kfac_step(Problem(new, "gaussian", (X, Y)))
        for got, want in zip(np_blocks(new, step_psi), transformed_step(g, np_blocks(net, step))):
            assert rel(got, want) < RTOL, repr(g)


def test_cross_entropy_softmax_shift_is_a_known_kernel_and_stays_invariant():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 3)) + 1.0
    y = rng.integers(0, 3, 50)
    net = mlp([3, 4, 3], activation="tanh", seed=0)
    prob = Problem(net, "cross-entropy", (X, y))
    G, step = kfac_step(prob)
    assert G.kernel_dim == 4 + 1 and G.unexplained_kernel == []  # shift ⊗ (ā of the output layer)
    g = whitening(net, X)  # input-side maps only: the pseudo-inverse along the shift is covariant
    _, step_psi = kfac_step(Problem(g.transformed_model(), "cross-entropy", (X, y)))
    for got, want in zip(np_blocks(net, step_psi), transformed_step(g, np_blocks(net, step))):
        assert rel(got, want) < RTOL


def test_conv_step_invariant_under_channel_maps():
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 2), torch.nn.Tanh(),           # no padding
                               torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.Tanh(),  # zero padding
                               torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 2))
    net = from_torch(body)
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 2, 4, 4)) + 0.5  # N > 19 = inputs of the head: A regular
    Y = rng.normal(size=(40, 2))
    prob = Problem(net, "gaussian", (X, Y))
    _, step = kfac_step(prob)
    g = random_affine(net, seed=7)  # no input shift on the padded conv (not exact there)
    assert g.transforms[1].c is None and g.transforms[0].c is not None and g.transforms[2].c is not None
    np.testing.assert_array_equal(g.omega(0)[:-1, :-1], np.kron(g.transforms[0].U, np.eye(4)))
    new = g.transformed_model()
    assert np.abs(new(X) - net(X)).max() < 1e-12
    _, step_psi = kfac_step(Problem(new, "gaussian", (X, Y)))
    for got, want in zip(np_blocks(new, step_psi), transformed_step(g, np_blocks(net, step))):
        assert rel(got, want) < RTOL


def test_dinh_map_is_the_model_rescaling_and_kfac_is_the_plain_networks():
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    net = mlp([3, 4, 2], activation="relu", seed=0)
    g = dinh(net, 0, 7.0)
    psi = g.inverse(net.theta)
    assert rel(psi, dinh_rescaling(net, 0, 7.0).inverse(net.theta)) < 1e-15
    # for ReLU the transformed network is the original architecture at ψ: identical K-FAC factors
    Fa = KFAC(Problem(g.transformed_model(), "gaussian", (X, Y))).at(psi).factors
    Fb = KFAC(Problem(net.with_theta(psi), "gaussian", (X, Y))).at(psi).factors
    for (A1, S1), (A2, S2) in zip(Fa, Fb):
        assert rel(A1, A2) < RTOL and rel(S1, S2) < RTOL


# -- log-det and solves against the dense Kronecker product ---------------------------------------
def dense_kronecker(model, factors, gammas=None, shift=0.0):
    """⊕_l (S+γ_S I) ⊗ (A+γ_A I) + δI in θ order, with the permutation written out by hand."""
    D = model.dim
    G = np.zeros((D, D)) + shift * np.eye(D)
    lay = model.layout
    for l, (L, (A, S)) in enumerate(zip(model.layers, factors)):
        gA, gS = (0.0, 0.0) if gammas is None else gammas[l]
        n_out, n_col = S.shape[0], A.shape[0]
        n_w = n_col - (L.bias is not None)
        K = np.kron(S + gS * np.eye(n_out), A + gA * np.eye(n_col))  # row-major vec of the block
        w0 = lay.index(L.weight).start
        idx = []
        for i in range(n_out):
            for j in range(n_col):
                idx.append(w0 + i * n_w + j if j < n_w else lay.index(L.bias).start + i)
        G[np.ix_(idx, idx)] += K
    return G


def small_models():
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(25, 3)), rng.normal(size=(25, 2))
    yield "dense", Problem(mlp([3, 4, 2], activation="tanh", seed=1), "gaussian", (X, Y))
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    torch.manual_seed(1)
    cnn = from_torch(torch.nn.Sequential(torch.nn.Conv2d(2, 3, 2, padding=1), torch.nn.Tanh(),
                                         torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2)))
    yield "conv", Problem(cnn, "gaussian", (rng.normal(size=(30, 2, 3, 3)), rng.normal(size=(30, 2))))


@pytest.mark.parametrize("kind", ["none", "metric", "factors", "factored"])
def test_logdet_solve_and_mv_match_dense_kronecker(kind):
    for name, prob in small_models():
        delta = 0.0 if kind == "none" else 0.05
        G = KFAC(prob, damping=delta, damping_kind="metric" if kind == "none" else kind).at(prob.model.theta)
        fac = G.factors
        if kind == "factors":
            gam = [(delta, delta)] * len(fac)
        elif kind == "factored":  # π² = (tr A / dim A) / (tr S / dim S), written out again here
            pis = [np.sqrt((np.trace(A) / len(A)) / (np.trace(S) / len(S))) for A, S in fac]
            gam = [(p * np.sqrt(delta), np.sqrt(delta) / p) for p in pis]
        else:
            gam = None
        Gd = dense_kronecker(prob.model, fac, gam, delta if kind == "metric" else 0.0)
        w = np.random.default_rng(10).normal(size=prob.dim)
        wb = prob.backend.asarray(w)
        to = lambda x: np.asarray(prob.backend.to_numpy(x), dtype=np.float64)  # noqa: E731
        assert rel(to(G.mv(wb)), Gd @ w) < RTOL, name
        assert rel(to(G.solve(wb)), np.linalg.solve(Gd, w)) < RTOL, name
        sign, ld = np.linalg.slogdet(Gd)
        assert sign > 0 and abs(G.logdet() - ld) < RTOL * abs(ld), name
        # the differentiable field θ ↦ G(θ)u agrees with the frozen operator
        assert rel(to(KFAC(prob, damping=delta, damping_kind="metric" if kind == "none" else kind)
                      .matvec(prob.model.theta, wb)), Gd @ w) < RTOL, name


# -- Christoffel term through the differentiable K-FAC product ------------------------------------
@pytest.mark.parametrize("kind", ["none", "factored"])
def test_hessian_correction_matches_finite_differences_of_dense_kfac(bk, to_np, kind):
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(15, 2)), rng.normal(size=(15, 2))
    net = mlp([2, 3, 2], activation="tanh", backend=bk.name, seed=4)
    kw = {} if kind == "none" else {"damping": 0.1, "damping_kind": "factored"}
    metric = KFAC(net, "gaussian", (X, Y), **kw)
    th = to_np(net.theta)
    d = th.size
    # the reference: the dense K-FAC matrix of the same network (mlp is initialised identically on
    # every backend) on autograd, differentiated by central differences
    ref_metric = KFAC(mlp([2, 3, 2], activation="tanh", seed=4), "gaussian", (X, Y), **kw)
    dense = lambda t: np.asarray(ref_metric.at(t).as_matrix())  # noqa: E731
    h = 1e-5  # central differences: truncation O(h²) ≈ 1e-10, rounding O(eps/h) ≈ 1e-11
    dG = np.stack([(dense(th + h * e) - dense(th - h * e)) / (2 * h) for e in np.eye(d)])  # dG[k] = ∂_k G
    grad, v = rng.normal(size=(2, d))
    w = np.linalg.solve(dense(th), grad)
    ref = 0.5 * (np.einsum("i,kij,j->k", w, dG, v) + np.einsum("k,kij,j->i", v, dG, w)
                 - np.einsum("k,kij,j->i", w, dG, v))
    got = to_np(hessian_correction(metric, net.theta, bk.asarray(grad), bk.asarray(v)))
    assert rel(got, ref) < 1e-6


# -- invariant flatness under activation maps; damping breaks it ----------------------------------
@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(80, 3)) * [2.0, 0.5, 1.0] + [1.0, 0.0, -2.0]
    Y = np.tanh(X @ rng.normal(size=(3, 2)))
    net = mlp([3, 4, 2], activation="tanh", seed=5)
    prob = Problem(net, "gaussian", (X, Y))
    theta = net.theta
    for _ in range(30):  # damped K-FAC training: loss decreases by orders of magnitude
        theta = theta - 0.5 * KFAC(prob, damping=1e-3).natural_gradient(theta, prob.gradient(theta))
    net = net.with_theta(theta)
    return X, Y, Problem(net, "gaussian", (X, Y))


def kfac_flatness(prob, christoffel=True, **kw):
    f = rgeom.flatness(prob.objective, prob.model.theta, KFAC(prob, **kw), method="dense",
                       christoffel=christoffel, progress=False)
    assert f.christoffel == christoffel and f.kernel_dim == 0
    return np.asarray(f.eigenvalues)


def flatness_discrepancy(X, Y, prob, g, christoffel=True, **kw):
    ev = kfac_flatness(prob, christoffel, **kw)
    ev_psi = kfac_flatness(Problem(g.transformed_model(), "gaussian", (X, Y)), christoffel, **kw)
    return rel(ev_psi, ev)


def test_kfac_invariant_flatness_is_unchanged_by_activation_maps_and_damping_breaks_it(trained):
    X, Y, prob = trained
    assert prob.loss_value() < 0.05 * Problem(mlp([3, 4, 2], activation="tanh", seed=5), "gaussian",
                                                (X, Y)).loss_value()
    # the dense generalized eigensolve in float64 agrees to ~1e-12 across charts; 1e-8 leaves margin
    maps = {"centering": centering(prob.model, X), "whitening": whitening(prob.model, X),
            "random": random_affine(prob.model, seed=13, scale=0.8)}
    for name, g in maps.items():
        assert flatness_discrepancy(X, Y, prob, g) < 1e-8, name  # with the Christoffel term
        # affine maps: ∂²L and G both transform as Jᵀ(·)J, so G⁻¹∂²L is similar without it too
        assert flatness_discrepancy(X, Y, prob, g, christoffel=False) < 1e-8, name
    untrained = Problem(mlp([3, 4, 2], activation="tanh", seed=5), "gaussian", (X, Y))  # far from critical
    assert flatness_discrepancy(X, Y, untrained, random_affine(untrained.model, seed=13, scale=0.8)) < 1e-8
    # damping breaks it, by an amount that grows with δ: ~δ/λ_min(G) for Tikhonov on the metric or
    # the factors, ~√δ for the π-rule (measured: see the issue-6 report; λ_min(G) ≈ 2e-6 here)
    g = maps["random"]
    for kind in ("metric", "factors", "factored"):
        tiny, big = (flatness_discrepancy(X, Y, prob, g, damping=dl, damping_kind=kind) for dl in (1e-16, 1e-2))
        assert big > 0.1 and tiny < 1e-2 * big, (kind, tiny, big)


# -- bad input -------------------------------------------------------------------------------------
def test_singular_or_misfit_activation_maps_are_clear_errors():
    net = mlp([3, 4, 2], seed=0)
    with pytest.raises(SingularJacobianError, match=r"U of layer 0 \('0.weight'\) is singular"):
        ActivationAffine(net, {0: LayerAffine(U=np.ones((3, 3)))})
    with pytest.raises(SingularJacobianError, match=r"Phi of layer 1 \('2.weight'\)"):
        ActivationAffine(net, {1: LayerAffine(Phi=np.diag([1.0, 0.0]))})
    with pytest.raises(ShapeError, match=r"c of layer 0 .* shape \(3,\)"):
        ActivationAffine(net, {0: LayerAffine(c=np.ones(4))})
    with pytest.raises(ShapeError, match="layer indices"):
        ActivationAffine(net, {5: LayerAffine()})
    X = np.random.default_rng(0).normal(size=(10, 3))
    X[:, 1] = 0.0  # a constant input: no whitening exists
    with pytest.raises(SingularJacobianError, match=r"inputs of layer 0 .* singular covariance on the data \(rank 2 < 3"):
        whitening(net, X)


def test_conv_shift_with_padding_and_shift_without_bias_are_refused():
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    cnn = from_torch(torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Flatten(),
                                         torch.nn.Linear(3 * 4 * 4, 2, bias=False)))
    with pytest.raises(ValueError, match=r"zero padding \(1, 1\).*not exact"):
        ActivationAffine(cnn, {0: LayerAffine(c=[1.0, 0.0])})
    with pytest.raises(ValueError, match="no bias"):
        ActivationAffine(cnn, {1: LayerAffine(d=[1.0, 0.0])})
    ActivationAffine(cnn, {0: LayerAffine(U=2 * np.eye(2), d=[1.0, 2.0, 3.0])})  # exact: accepted


@pytest.mark.parametrize("layer", ["lstm", "conv1d"])
def test_unsupported_layer_type_is_named(layer):
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    class Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(3, 4, batch_first=True) if layer == "lstm" else torch.nn.Conv1d(3, 4, 2)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, x):
            h = self.rnn(x)[0][:, -1] if layer == "lstm" else self.rnn(x)[:, :, -1]
            return self.head(h)

    net = from_torch(Seq())
    X = np.random.default_rng(0).normal(size=(5, 6, 3) if layer == "lstm" else (5, 3, 6))
    kind = "LSTM" if layer == "lstm" else "Conv1d"
    with pytest.raises(TypeError, match=rf"layer 'rnn' \({kind}\) with parameters \['rnn.weight"):
        KFAC(net, "cross-entropy", (X, np.arange(5) % 2))


def test_singular_factor_beyond_softmax_shift_raises_unless_damped_or_pinv():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(30, 3))
    X[:, 2] = 0.0  # an always-zero input (like the border pixels of digits)
    y = rng.integers(0, 3, 30)
    net = mlp([3, 4, 3], activation="tanh", seed=0)
    prob = Problem(net, "cross-entropy", (X, y))
    G = KFAC(prob).at(net.theta)
    assert G.unexplained_kernel == [{"layer": 0, "weight": "0.weight", "factor": "A", "dim": 1}]
    g = prob.gradient()
    for call in (lambda: G.solve(g), lambda: G.natural_gradient(g), G.logdet):
        with pytest.raises(NotPositiveDefiniteError, match=r"layer 0 \('0.weight'\) factor A has a kernel of "
                                                           r"dimension 1.*pinv=True"):
            call()
    # range operations keep working (what rgeom.flatness / rgeom.linalg use) and say the kernel size
    assert G.kernel_dim == 4 * 1 + (4 + 1) and not G.exact_solve
    f = rgeom.flatness(prob.objective, net.theta, KFAC(prob), method="dense", christoffel=False, progress=False)
    assert f.kernel_dim == G.kernel_dim
    # explicit pseudo-inverse: the dense Kronecker pseudo-inverse; damping: regular
    Gp = KFAC(prob, pinv=True).at(net.theta)
    Gd = dense_kronecker(net, Gp.factors)
    assert rel(Gp.solve(g), np.linalg.pinv(Gd, rcond=1e-10) @ g) < 1e-8  # pinv of cond ~1e4 range
    assert KFAC(prob, damping=1e-3).at(net.theta).unexplained_kernel == []
    Gdamp = KFAC(prob, damping=1e-3, damping_kind="factored").at(net.theta)
    assert np.all(np.isfinite(Gdamp.solve(g))) and Gdamp.kernel_dim == 0
    with pytest.raises(ValueError, match="damping_kind must be one of"):
        KFAC(prob, damping_kind="levenberg")
