"""``rgeom flatness``: the command on a user checkpoint, bad input, and the bundled demo."""

import argparse
import io
import json
import textwrap

import numpy as np
import pytest

from rgeom import flatness_cli
from rgeom.checkpoints import save_checkpoint
from rgeom.models import mlp


def cli(argv, capsys=None):
    parser = argparse.ArgumentParser(prog="rgeom")
    flatness_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["flatness", *argv, "--no-progress"])
    out = io.StringIO()
    status = flatness_cli.run(args, out=out)
    return status, out.getvalue()


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    """A factory module, a checkpoint and a data file, as a user would have them."""
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        from rgeom.models import mlp
        def small(backend=None):
            return mlp([4, 6, 3], activation="tanh", backend=backend, seed=0)
        def not_a_model():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    save_checkpoint(tmp_path / "ckpt.npz", mlp([4, 6, 3], activation="tanh", seed=5))
    return tmp_path


@pytest.mark.parametrize("metric", ["euclidean", "fisher", "ggn", "empirical-fisher", "kfac", "diag-fisher"])
def test_json_output_has_the_documented_layout(user_files, metric):
    status, out = cli([str(user_files / "ckpt.npz"), "--model", "my_models:small", "--data",
                       str(user_files / "data.npz"), "--loss", "cross-entropy", "--metric", metric, "--json"])
    assert status == 0
    d = json.loads(out)  # exactly one JSON object on stdout
    assert d["backend"] == "autograd" and d["dim"] == 4 * 6 + 6 + 6 * 3 + 3
    for name in ("trace", "max_eigenvalue", "logdet"):
        m = d["measures"][name]
        assert set(m) >= {"naive", "invariant", "stderr", "converged"}
        assert m["converged"] is True
    if metric == "euclidean":  # the chart's own metric: invariant = naive
        assert abs(d["measures"]["trace"]["invariant"] - d["measures"]["trace"]["naive"]) < 1e-9 * abs(
            d["measures"]["trace"]["naive"])


def test_matrix_free_method_and_plot(user_files):
    png = user_files / "spec.png"
    status, out = cli([str(user_files / "ckpt.npz"), "--model", "my_models:small", "--data",
                       str(user_files / "data.npz"), "--metric", "kfac", "--method", "lanczos",
                       "--measures", "trace", "max_eigenvalue", "--json", "--plot", str(png)])
    d = json.loads(out)
    assert d["method"].startswith("lanczos") and "stderr" in d["measures"]["trace"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert status in (0, 3) and (status == 0) == d["converged"]


def test_table_output(user_files):
    status, out = cli([str(user_files / "ckpt.npz"), "--model", "my_models:small", "--data",
                       str(user_files / "data.npz"), "--metric", "ggn"])
    assert status == 0 and "naive" in out and "invariant" in out and "trace" in out


def test_bad_input_is_a_clear_error(user_files, capsys):
    base = ["--model", "my_models:small", "--data", str(user_files / "data.npz")]
    bad = mlp([4, 6, 3]).named()
    bad["2.weight"] = np.zeros((3, 7))
    del bad["0.bias"]
    save_checkpoint(user_files / "bad.npz", bad)
    assert cli([str(user_files / "bad.npz"), *base])[0] == 2
    err = capsys.readouterr().err
    assert "missing keys ['0.bias']" in err and "2.weight: expected (3, 6), got (3, 7)" in err
    np.savez(user_files / "empty.npz", X=np.zeros((0, 4)), y=np.zeros(0, int))
    assert cli([str(user_files / "ckpt.npz"), "--model", "my_models:small", "--data",
                str(user_files / "empty.npz")])[0] == 2
    assert "empty" in capsys.readouterr().err
    assert cli([str(user_files / "ckpt.npz"), *base, "--loss", "bernoulli"])[0] == 2
    assert "loss 'bernoulli'" in capsys.readouterr().err
    assert cli([str(user_files / "ckpt.npz"), "--model", "my_models:not_a_model", "--data",
                str(user_files / "data.npz")])[0] == 2
    assert "must return an rgeom.models.Model" in capsys.readouterr().err
    assert cli([str(user_files / "ckpt.npz"), "--model", "nowhere:f", "--data", str(user_files / "data.npz")])[0] == 2
    assert cli([str(user_files / "ckpt.npz")])[0] == 2
    assert "--model, --data required" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_json_naive_moves_invariant_does_not(tmp_path):
    png = tmp_path / "demo.png"
    status, out = cli(["--demo", "--json", "--plot", str(png)])
    assert status == 0
    d = json.loads(out)
    assert d["alpha"] == 10
    o, r = d["original"]["measures"], d["rescaled"]["measures"]
    # naive trace and top eigenvalue change by orders of magnitude ...
    assert r["trace"]["naive"] / o["trace"]["naive"] > 10
    assert r["max_eigenvalue"]["naive"] / o["max_eigenvalue"]["naive"] > 10
    # ... the invariant ones do not (dense float64 path: equal to 1e-6 relative)
    for name in ("trace", "max_eigenvalue"):
        a, b = o[name]["invariant"], r[name]["invariant"]
        assert abs(a - b) <= 1e-6 * abs(a), (name, a, b)
    # logdet: the log pseudo-determinant with the zero-eigenvalue count next to it, both invariant
    lo, lr = o["logdet"], r["logdet"]
    assert lo["zero_eigenvalues"]["invariant"] == lr["zero_eigenvalues"]["invariant"]
    assert abs(lo["invariant"] - lr["invariant"]) <= 1e-6 * abs(lo["invariant"])
    assert lo["naive"] != pytest.approx(lr["naive"], rel=1e-2)
    assert d["original"]["kernel_dim"] == d["rescaled"]["kernel_dim"] > 0
    # the Christoffel term is kept by default (the checkpoint is not an exact critical point)
    for side in ("original", "rescaled"):
        assert d[side]["christoffel"] is True and d[side]["invariant"] is True
        assert "Christoffel correction" in d[side]["route"]["invariant"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_no_christoffel_drops_the_term_and_reports_the_bound(user_files):
    """Default: Christoffel kept; ``--no-christoffel`` drops it, says so, reports |grad|_G*."""
    base = [str(user_files / "ckpt.npz"), "--model", "my_models:small", "--data", str(user_files / "data.npz"),
            "--metric", "fisher", "--json"]
    kept = json.loads(cli(base)[1])
    dropped = json.loads(cli(base + ["--no-christoffel"])[1])
    assert kept["christoffel"] is True and kept["invariant"] is True
    assert dropped["christoffel"] is False and dropped["invariant"] is False
    assert dropped["route"]["invariant"] == "Hessian, Christoffel term dropped"
    gn = dropped["gradient_norm"]["invariant"]
    assert gn == pytest.approx(kept["gradient_norm"]["invariant"], rel=1e-12) and gn > 1e-3
    # an untrained checkpoint is far from critical: the term changes the spectrum
    assert abs(kept["measures"]["trace"]["invariant"] - dropped["measures"]["trace"]["invariant"]) > 1e-6
    status, table = cli(base[:-1] + ["--no-christoffel"])
    assert status == 0 and "Christoffel term DROPPED" in table and "bounds what was dropped" in table
