"""Checkpoint loading: formats, validation listing every offending key, no unpickling."""

import numpy as np
import pytest

from rgeom.checkpoints import load_checkpoint, read_state_dict, save_checkpoint
from rgeom.errors import NonFiniteError, ShapeError
from rgeom.models import mlp

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("ext", [".npz", ".safetensors", ".pt", ".pth"])
def test_roundtrip_every_format(tmp_path, ext):
    if ext == ".safetensors":
        pytest.importorskip("safetensors")
    src = mlp([3, 4, 2], seed=1)
    dst = mlp([3, 4, 2], seed=2)
    p = tmp_path / f"w{ext}"
    save_checkpoint(p, src)
    loaded = load_checkpoint(p, dst)
    assert np.array_equal(np.asarray(loaded.theta), np.asarray(src.theta))
    assert not np.array_equal(np.asarray(dst.theta), np.asarray(src.theta))  # the original is untouched


def test_torch_state_dict_loads_into_builtin_mlp_and_torch_model(tmp_path):
    from rgeom.models import from_torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    p = tmp_path / "m.pt"
    torch.save({"state_dict": module.state_dict()}, p)  # a training-script layout
    X = np.random.default_rng(0).normal(size=(5, 3))
    ref = module.double()(torch.as_tensor(X)).detach().numpy()
    for model in (mlp([3, 4, 2]), from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                                                torch.nn.Linear(4, 2)))):
        assert np.abs(load_checkpoint(p, model)(X) - ref).max() < 1e-6  # saved in float32


def test_batchnorm_buffers_are_loaded(tmp_path):
    from rgeom.models import from_torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    module.train()
    module(torch.randn(50, 3) * 3 + 1)  # move the running statistics
    module.eval()
    p = tmp_path / "bn.pt"
    torch.save(module.state_dict(), p)
    fresh = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)))
    X = np.random.default_rng(1).normal(size=(6, 3))
    ref = module.double()(torch.as_tensor(X)).detach().numpy()
    assert np.abs(load_checkpoint(p, fresh)(X) - ref).max() < 1e-6
    assert np.abs(fresh(X) - ref).max() > 1e-3  # without the buffers the outputs differ


def test_mismatch_error_lists_every_offending_key(tmp_path):
    named = mlp([3, 4, 2]).named()
    named["2.weight"] = np.zeros((3, 4))  # wrong shape
    del named["0.bias"]  # missing
    named["extra.weight"] = np.zeros(2)  # unexpected
    named["junk"] = np.zeros(1)
    p = tmp_path / "bad.npz"
    save_checkpoint(p, named)
    with pytest.raises(ShapeError) as e:
        load_checkpoint(p, mlp([3, 4, 2]))
    msg = str(e.value)
    assert "'bad.npz'" in msg
    for frag in ("missing keys ['0.bias']", "'extra.weight'", "'junk'", "2.weight: expected (2, 4), got (3, 4)"):
        assert frag in msg, frag


def test_non_finite_values_are_listed(tmp_path):
    named = mlp([3, 4, 2]).named()
    named["0.weight"][0, 0] = np.nan
    named["2.bias"][1] = np.inf
    p = tmp_path / "nan.safetensors"
    pytest.importorskip("safetensors")
    save_checkpoint(p, named)
    with pytest.raises(NonFiniteError, match=r"\['0.weight', '2.bias'\]"):
        load_checkpoint(p, mlp([3, 4, 2]))


class _Evil:
    def __reduce__(self):  # would run code if unpickled
        return (print, ("pwned",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"w": _Evil()}, p)
    with pytest.raises(ValueError, match="weights_only=True"):
        read_state_dict(p)
    assert "pwned" not in capsys.readouterr().out
    q = tmp_path / "evil.npz"
    np.savez(q, w=np.array([_Evil()], dtype=object))
    with pytest.raises(ValueError, match="unpickle"):
        read_state_dict(q)
    with pytest.raises(ValueError, match="unsupported extension"):
        read_state_dict(tmp_path / "w.pkl")
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / "none.npz")


def test_bundled_demo_checkpoint_loads_and_is_trained():
    from rgeom.data import DEMO_SIZES, load_demo
    from rgeom.models import Problem

    model, (X, y) = load_demo()
    assert model.dim == 64 * 16 + 16 + 16 * 10 + 10 and DEMO_SIZES == (64, 16, 10)
    prob = Problem(model, "cross-entropy", (X, y))
    assert prob.accuracy() > 0.99
    # near-stationary (|∇L| ≈ 1e-3, vs ≈ 0.3 at initialisation): see scripts/train_demo_checkpoint.py
    from rgeom.data import demo_model

    g0 = np.linalg.norm(np.asarray(Problem(demo_model(), "cross-entropy", (X, y)).gradient()))
    assert np.linalg.norm(np.asarray(prob.gradient())) < 1e-2 * g0
