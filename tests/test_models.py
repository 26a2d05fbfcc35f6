"""Model adapters, parameter layouts, losses and data sets (rgeom.models)."""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from rgeom.errors import NonFiniteError, ShapeError
from rgeom.models import Data, ParamLayout, Problem, dinh_rescaling, from_autograd, get_loss, mlp, progress
from rgeom.models.losses import _Ops

RTOL = 1e-12  # float64 forward passes of a few dozen flops: rounding ~1e-15


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


# -- layouts ----------------------------------------------------------------------------------
def test_layout_roundtrip_and_errors_list_every_key():
    lay = ParamLayout(["a", "b", "c"], [(2, 3), (), (4,)])
    assert lay.dim == 11 and lay.offsets == (0, 6, 7)
    theta = np.arange(11.0)
    named = lay.unflatten(theta)
    assert named["b"].shape == () and float(named["b"]) == 6.0
    assert np.array_equal(lay.flatten(named), theta)
    with pytest.raises(ShapeError) as e:
        lay.check({"a": np.zeros((3, 2)), "b": 1.0, "zz": 0, "yy": 1})
    msg = str(e.value)
    for key in ("'c'", "'zz'", "'yy'", "a: expected (2, 3), got (3, 2)"):
        assert key in msg
    with pytest.raises(NonFiniteError, match=r"\['a', 'c'\]"):
        lay.check({"a": np.full((2, 3), np.nan), "b": 1.0, "c": np.array([0, np.inf, 0, 0])})
    with pytest.raises(ValueError, match="duplicate"):
        ParamLayout(["a", "a"], [(1,), (1,)])
    with pytest.raises(ShapeError, match=r"shape \(11,\)"):
        lay.unflatten(np.zeros(10))


# -- adapters ---------------------------------------------------------------------------------
def mlp_reference(named, X, act=lambda s: np.maximum(s, 0.0)):
    h = act(X @ named["0.weight"].T + named["0.bias"])
    return h @ named["2.weight"].T + named["2.bias"]


def test_builtin_mlp_agrees_across_backends_and_with_numpy(bk, to_np):
    X = np.random.default_rng(0).normal(size=(7, 4))
    net = mlp([4, 6, 3], backend=bk.name, seed=2)
    ref = mlp_reference(mlp([4, 6, 3], seed=2).named(), X)
    assert rel(net(X), ref) < RTOL
    assert net.backend.name == bk.name and net.dim == 4 * 6 + 6 + 6 * 3 + 3


def test_from_torch_matches_module_and_leaves_it_untouched():
    torch = pytest.importorskip("torch")
    from rgeom.models import from_torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(2 * 3 * 3, 4))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    net = from_torch(module)
    assert [(L.kind, L.weight, L.bias) for L in net.layers] == [
        ("conv2d", "0.weight", "0.bias"), ("dense", "3.weight", "3.bias")]
    X = np.random.default_rng(1).normal(size=(5, 1, 5, 5))
    ref = module.double()(torch.as_tensor(X)).detach().numpy()
    assert rel(net(X), ref) < RTOL
    module.float()
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch(lambda x: x)


def test_from_jax_names_pytree_leaves_and_matches_apply():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from rgeom.models import from_jax

    params = {"params": {"Dense_0": {"kernel": jnp.ones((3, 4)) * 0.1, "bias": jnp.zeros(4)},
                         "Dense_1": {"kernel": jnp.ones((4, 2)) * 0.2, "bias": jnp.ones(2)}}}

    def apply(p, x):
        h = jnp.tanh(x @ p["params"]["Dense_0"]["kernel"] + p["params"]["Dense_0"]["bias"])
        return h @ p["params"]["Dense_1"]["kernel"] + p["params"]["Dense_1"]["bias"]

    net = from_jax(apply, params)
    assert net.layout.names == ("params.Dense_0.bias", "params.Dense_0.kernel",
                                "params.Dense_1.bias", "params.Dense_1.kernel")
    X = np.random.default_rng(2).normal(size=(6, 3))
    assert rel(net(X), np.asarray(apply(params, jnp.asarray(X)))) < 1e-6 if net.dtype == jnp.float32 else RTOL
    # gradients through the flat vector equal gradients through the pytree
    loss = lambda th: jnp.sum(net.apply(th, jnp.asarray(X)) ** 2)  # noqa: E731
    g = jax.grad(loss)(net.theta)
    g_tree = jax.grad(lambda p: jnp.sum(apply(p, jnp.asarray(X)) ** 2))(params)
    assert rel(net.layout.unflatten(g)["params.Dense_1.kernel"], g_tree["params"]["Dense_1"]["kernel"]) < 1e-6


def test_from_autograd_accepts_dict_list_and_array():
    X = np.random.default_rng(3).normal(size=(4, 3))
    W = np.random.default_rng(4).normal(size=(3, 2))
    f_dict = from_autograd(lambda p, x: anp.tanh(x @ p["w"]), {"w": W})
    f_list = from_autograd(lambda p, x: anp.tanh(x @ p[0]), [W])
    f_arr = from_autograd(lambda p, x: anp.tanh(x @ p), W)
    for f in (f_dict, f_list, f_arr):
        assert rel(f(X), np.tanh(X @ W)) < RTOL
    assert f_list.layout.names == ("0",) and f_arr.layout.names == ("theta",)
    with pytest.raises(TypeError, match="callable"):
        from_autograd(3, W)


def test_dinh_rescaling_keeps_the_function_and_changes_the_naive_hessian():
    X = np.random.default_rng(5).normal(size=(20, 3))
    y = np.random.default_rng(6).integers(0, 2, 20)
    net = mlp([3, 4, 5, 2], seed=1)
    prob = Problem(net, "cross-entropy", (X, y))
    H0 = autograd.hessian(prob.objective)(net.theta)
    for layer in (0, 1):
        g = dinh_rescaling(net, layer, 10.0)
        psi = g.inverse(net.theta)
        assert rel(net(X, psi), net(X)) < 1e-12
        assert abs(prob.loss_value(psi) - prob.loss_value()) < 1e-12
        H = autograd.hessian(prob.objective)(psi)
        assert abs(np.trace(H) - np.trace(H0)) > 0.5 * abs(np.trace(H0))
        J = g.jacobian(psi)  # linear map: ∂²(L∘g) = Jᵀ ∂²L J exactly
        assert rel(H, J.T @ H0 @ J) < 1e-8
    with pytest.raises(ValueError, match="hidden layer"):
        dinh_rescaling(net, 2, 10.0)
    with pytest.raises(ValueError, match="alpha"):
        dinh_rescaling(net, 0, -1.0)


# -- losses -----------------------------------------------------------------------------------
LOSS_CASES = ["cross-entropy", "mse", "gaussian", "bernoulli"]


def targets_for(name, rng, n, c):
    if name == "cross-entropy":
        return rng.integers(0, c, n)
    if name == "bernoulli":
        return (rng.random((n, c)) > 0.5).astype(float)
    return rng.normal(size=(n, c))


def reference_loss(name, F, y):
    if name == "cross-entropy":
        return -(F - np.log(np.exp(F).sum(1, keepdims=True)))[np.arange(len(y)), y]
    if name == "mse":
        return ((F - y) ** 2).mean(1)
    if name == "gaussian":
        return ((F - y) ** 2).sum(1) / (2 * 0.5 ** 2)
    return (np.log1p(np.exp(F)) - y * F).sum(1)


@pytest.mark.parametrize("name", LOSS_CASES)
def test_losses_values_curvature_factor_and_gradients(name):
    rng = np.random.default_rng(7)
    n, c = 5, 3
    F = rng.normal(size=(n, c))
    y = targets_for(name, rng, n, c)
    loss = get_loss(name, **({"sigma": 0.5} if name == "gaussian" else {}))
    from rgeom.backend import get_backend

    ops = _Ops(get_backend("autograd"))
    T = loss.targets(y, c, n)
    assert rel(loss.per_sample(ops, F, T), reference_loss(name, F, y)) < RTOL
    total = lambda G: anp.sum(loss.per_sample(ops, G, T))  # noqa: E731
    Hfull = autograd.hessian(total)(F).reshape(n * c, n * c)
    V = rng.normal(size=(n, c))
    assert rel(loss.hess_mv(ops, F, V, T).ravel(), Hfull @ V.ravel()) < 1e-10
    B = loss.hess_sqrt(ops, F)
    for i in range(n):
        assert rel(B[i] @ B[i].T, Hfull[i * c:(i + 1) * c, i * c:(i + 1) * c]) < 1e-10
    assert rel(loss.output_grad(ops, F, T), autograd.grad(total)(F)) < RTOL


@pytest.mark.parametrize("name", LOSS_CASES)
def test_loss_samples_follow_the_predictive_distribution(name):
    """Mean of S seeded draws ≈ E[y|f]; 20000 draws: standard error ≲ 0.01, bound 0.05."""
    rng = np.random.default_rng(8)
    F = rng.normal(size=(4, 3))
    loss = get_loss(name, **({"sigma": 0.5} if name == "gaussian" else {}))
    Y = loss.sample(F, np.random.default_rng(0), 20000)
    mean = {"cross-entropy": np.exp(F) / np.exp(F).sum(1, keepdims=True), "bernoulli": 1 / (1 + np.exp(-F))}
    assert np.abs(Y.mean(0) - mean.get(name, F)).max() < 0.05


def test_loss_misfit_errors_name_the_loss_and_shapes():
    ce = get_loss("cross-entropy")
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 3\)"):
        ce.targets(np.array([0, 3]), 3, 2)
    with pytest.raises(ShapeError, match="probability rows"):
        ce.targets(np.ones((2, 3)), 3, 2)
    with pytest.raises(ShapeError, match=r"loss 'mse': targets y must have shape \(2, 3\)"):
        get_loss("mse").targets(np.ones((2, 4)), 3, 2)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="sigma"):
        get_loss("gaussian", sigma=0.0)
    bad = get_loss(lambda F, T: anp.sum(F))  # not per-sample
    from rgeom.backend import get_backend

    with pytest.raises(ShapeError, match="per-sample"):
        bad.per_sample(_Ops(get_backend("autograd")), np.ones((2, 3)), np.ones((2, 3)))


# -- data -------------------------------------------------------------------------------------
def test_data_sources_batching_and_full_dataset_average(tmp_path):
    rng = np.random.default_rng(9)
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    p = tmp_path / "d.npz"
    np.savez(p, X=X, y=y)
    net = mlp([3, 4, 2], seed=0)
    one = Problem(net, "cross-entropy", (X, y))
    for data in (Data.from_any(str(p), batch_size=3), ((X[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4)),
                 {"X": X, "y": y}, [(X[:5], y[:5]), (X[5:], y[5:])]):
        prob = Problem(net, "cross-entropy", data)
        assert prob.n == 10
        assert abs(prob.loss_value() - one.loss_value()) < 1e-14
        g = np.asarray(prob.gradient())
        assert rel(g, np.asarray(one.gradient())) < 1e-12
    assert [len(b[0]) for b in Data.from_any((X, y), batch_size=4)] == [4, 4, 2]
    with pytest.raises(ShapeError, match="empty"):
        Data.from_any([])
    with pytest.raises(ShapeError, match="same number of rows"):
        Data.from_any((X, y[:5]))
    with pytest.raises(TypeError, match=r"pair \(X, y\)"):
        Data.from_any([X])
    with pytest.raises(ValueError, match="unsupported file type"):
        Data.from_any(str(tmp_path / "d.csv")) if (tmp_path / "d.csv").write_text("1") else None
    obj = tmp_path / "o.npz"
    np.savez(obj, X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="unpickle"):
        Data.from_any(str(obj))


def test_progress_bar_is_off_when_not_a_terminal(capsys):
    assert list(progress(range(3))) == [0, 1, 2]  # pytest's stderr is not a TTY
    assert capsys.readouterr().err == ""
    bar = progress(range(3), enabled=True, desc="x")
    assert list(bar) == [0, 1, 2] and type(bar).__name__ != "range"


def test_conv_patches_same_on_torch_and_jax():
    """K-FAC's conv input patches: the JAX route (conv_general_dilated_patches) gives exactly
    torch's unfold, features ordered (C_in, kh, kw) on both (pure data movement: equal bits)."""
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    from rgeom.models.torch_adapter import _unfold

    a = np.random.default_rng(0).normal(size=(3, 2, 7, 6))
    for conv in (dict(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
                 dict(kernel_size=(3, 2), stride=(2, 1), padding=(0, 1), dilation=(2, 1))):
        t = _unfold(torch.as_tensor(a), conv).numpy()
        j = np.asarray(_unfold(jax.numpy.asarray(a), conv))
        assert t.shape == j.shape
        np.testing.assert_array_equal(t, j)
