"""Bad input raises an error that names the argument and the problem."""

import autograd.numpy as anp
import numpy as np
import pytest

import rgeom
from rgeom import maps, metrics
from rgeom.errors import (
    DenseSizeError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ShapeError,
    SingularJacobianError,
    TensorTypeError,
)

LOSS = lambda th: anp.sum(th ** 2)  # noqa: E731


# --- metrics that are not symmetric positive definite ----------------------------------------
def test_dense_metric_not_symmetric():
    G = metrics.Dense(lambda th: anp.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(NotPositiveDefiniteError, match="not symmetric"):
        G.at(np.zeros(2))


def test_dense_metric_indefinite_and_in_flatness():
    G = metrics.Dense(lambda th: anp.array([[1.0, 0.0], [0.0, -2.0]]))
    with pytest.raises(NotPositiveDefiniteError, match="not positive definite.*-2"):
        rgeom.flatness(LOSS, np.zeros(2), metric=G)


def test_singular_metric():
    G = metrics.Dense(lambda th: anp.outer(th, th))
    with pytest.raises(NotPositiveDefiniteError, match="positive definite"):
        G.at(np.array([1.0, 2.0]))


def test_diagonal_metric_nonpositive():
    with pytest.raises(NotPositiveDefiniteError, match="min entry"):
        metrics.Diagonal(lambda th: th).at(np.array([1.0, 0.0]))


def test_constant_matrix_validated_up_front():
    with pytest.raises(NotPositiveDefiniteError):
        metrics.Dense.constant_matrix([[1.0, 2.0], [2.0, 1.0]])


def test_metric_with_nan():
    with pytest.raises(NonFiniteError, match="non-finite"):
        metrics.Dense(lambda th: anp.eye(2) * anp.nan).at(np.zeros(2))


# --- maps that are not invertible --------------------------------------------------------------
def test_affine_singular_matrix():
    with pytest.raises(SingularJacobianError, match="A is singular"):
        maps.Affine([[1.0, 2.0], [2.0, 4.0]])


def test_scale_zero_factor():
    with pytest.raises(SingularJacobianError, match="non-zero"):
        maps.Scale([1.0, 0.0])


def test_polar_at_origin_in_pullback():
    G = rgeom.pullback(metrics.Euclidean(2), maps.Polar())
    with pytest.raises(SingularJacobianError, match="not invertible at psi"):
        G.at(np.array([0.0, 0.3]))
    with pytest.raises(SingularJacobianError):
        rgeom.flatness(rgeom.pullback(LOSS, maps.Polar()), np.array([0.0, 0.3]), metric=G)


def test_pullback_of_vector_at_singular_point():
    v = rgeom.Vector(np.zeros(2), np.ones(2))          # θ = 0 is the polar singularity
    with pytest.raises(SingularJacobianError):
        rgeom.pullback(v, maps.Polar())


def test_from_functions_singular_jacobian():
    g = maps.from_functions(lambda p: p ** 3, anp.cbrt, dim=1)
    with pytest.raises(SingularJacobianError, match="psi"):
        g.check_invertible(np.array([0.0]))


# --- shapes ------------------------------------------------------------------------------------
def test_point_shape_mismatch():
    with pytest.raises(ShapeError, match=r"theta must have shape \(3,\)"):
        metrics.Euclidean(3).at(np.zeros(2))
    with pytest.raises(ShapeError, match="1-D"):
        rgeom.flatness(LOSS, np.zeros((2, 2)))


def test_operator_argument_shape():
    G = metrics.Euclidean(2).at(np.zeros(2))
    with pytest.raises(ShapeError, match="u must have shape"):
        G.mv(np.zeros(3))
    with pytest.raises(ShapeError, match="w must have shape"):
        metrics.Dense(lambda th: anp.eye(2)).at(np.zeros(2)).solve(np.zeros(3))


def test_dense_metric_wrong_matrix_shape():
    with pytest.raises(ShapeError, match=r"fn\(theta\) must have shape \(2, 2\)"):
        metrics.Dense(lambda th: anp.eye(3)).at(np.zeros(2))


def test_map_point_shape():
    with pytest.raises(ShapeError, match="psi must have shape"):
        maps.Polar().check_invertible(np.ones(3))


def test_vector_components_shape():
    with pytest.raises(ShapeError, match="components must have shape"):
        rgeom.Vector(np.zeros(2), np.zeros(3))


def test_layer_rescaling_mismatch():
    with pytest.raises(ShapeError, match="sizes has 2 blocks but factors has 3"):
        maps.LayerRescaling([2, 3], [1.0, 2.0, 3.0])


def test_compose_dimension_mismatch():
    with pytest.raises(ShapeError, match="compose"):
        maps.Polar() @ maps.Spherical()


# --- non-finite inputs -------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_point(bad):
    with pytest.raises(NonFiniteError, match="theta contains 1 non-finite"):
        rgeom.flatness(LOSS, np.array([1.0, bad]))
    with pytest.raises(NonFiniteError, match="components"):
        rgeom.Vector(np.zeros(2), np.array([bad, 0.0]))


def test_nonfinite_geodesic_velocity():
    with pytest.raises(NonFiniteError, match="v contains"):
        rgeom.exp(metrics.Euclidean(2), np.zeros(2), np.array([np.nan, 1.0]))


# --- dense matrices above the size limit -------------------------------------------------------
def test_dense_size_limits():
    with pytest.raises(DenseSizeError, match="max_dense_dim=10"):
        rgeom.flatness(LOSS, np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError, match="Map.jacobian"):
        maps.from_functions(anp.sinh, anp.arcsinh).jacobian(np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError, match="christoffel"):
        rgeom.christoffel(metrics.Euclidean(100), np.zeros(100))
    with pytest.raises(DenseSizeError):
        metrics.Euclidean(5).at(np.zeros(5)).as_matrix(max_dense_dim=4)


# --- tensor types ------------------------------------------------------------------------------
def test_cannot_add_gradient_to_step():
    p = np.zeros(2)
    with pytest.raises(TensorTypeError, match="cannot add a vector and a covector"):
        rgeom.Vector(p, np.ones(2)) + rgeom.Covector(p, np.ones(2))
    with pytest.raises(TensorTypeError, match="different base points"):
        rgeom.Vector(p, np.ones(2)) + rgeom.Vector(np.ones(2), np.ones(2))
    with pytest.raises(TensorTypeError, match="pairs with a Vector"):
        rgeom.Covector(p, np.ones(2))(rgeom.Covector(p, np.ones(2)))
    # the explicit way works
    G = metrics.Euclidean(2)
    s = rgeom.Vector(p, np.ones(2)) + rgeom.sharp(G, rgeom.Covector(p, np.ones(2)))
    assert s.numpy().tolist() == [2.0, 2.0]


def test_no_rule_for_unknown_object():
    with pytest.raises(TypeError, match="no transformation rule"):
        rgeom.pullback(3.0, maps.Polar())
    with pytest.raises(TypeError, match="g must be an rgeom.maps.Map"):
        rgeom.pullback(LOSS, lambda x: x)


def test_metric_argument_type():
    with pytest.raises(TypeError, match="metric must be None or an rgeom Metric"):
        rgeom.flatness(LOSS, np.zeros(2), metric=np.eye(2))


def test_closed_form_jacobians_respect_size_limit():
    with pytest.raises(DenseSizeError):
        maps.Exp().jacobian(np.zeros(11), max_dense_dim=10)
    with pytest.raises(DenseSizeError):
        maps.Affine(np.eye(11)).jacobian(np.zeros(11), max_dense_dim=10)


def test_explicit_backend_converts_numpy_points():
    torch = pytest.importorskip("torch")
    g = rgeom.gradient(lambda th: (th ** 2).sum(), np.array([2.0, 0.5]), backend="torch")
    assert isinstance(g.components, torch.Tensor) and g.numpy().tolist() == [4.0, 1.0]
    f = rgeom.flatness(lambda th: (th ** 4).sum(), np.array([2.0, 0.5]), backend="torch")
    np.testing.assert_allclose(f.eigenvalues, [3.0, 48.0], rtol=1e-14)


# --- issue 4: checkpoints, data, losses, metrics and solvers of the flatness job ---------------
def _cli(argv):
    import argparse
    import io

    from rgeom import flatness_cli

    parser = argparse.ArgumentParser(prog="rgeom")
    flatness_cli.register(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    return flatness_cli.run(parser.parse_args(["flatness", *argv, "--no-progress"]), out=out), out.getvalue()


def test_checkpoint_error_lists_shape_problems_and_non_finite_keys_together(tmp_path):
    from rgeom.checkpoints import load_checkpoint, save_checkpoint
    from rgeom.models import mlp

    named = mlp([3, 4, 2]).named()
    del named["0.bias"]                              # missing
    named["2.weight"] = np.zeros((5, 4))             # wrong shape
    named["extra"] = np.zeros(3)                     # unexpected
    named["0.weight"][1, 1] = np.nan                 # non-finite, in a key that fits
    named["2.bias"][0] = np.inf
    save_checkpoint(tmp_path / "bad.npz", named)
    with pytest.raises(ShapeError) as e:
        load_checkpoint(tmp_path / "bad.npz", mlp([3, 4, 2]))
    msg = str(e.value)
    for frag in ("'bad.npz'", "missing keys ['0.bias']", "unexpected keys ['extra']",
                 "2.weight: expected (2, 4), got (5, 4)", "Non-finite values (NaN or inf) in keys ['0.weight', '2.bias']"):
        assert frag in msg, frag


def test_non_finite_targets_are_refused():
    from rgeom.models import Problem, mlp

    X = np.zeros((4, 3))
    with pytest.raises(NonFiniteError, match="data batch 0: y contain"):
        Problem(mlp([3, 4, 2]), "mse", (X, np.full((4, 2), np.nan)))
    with pytest.raises(NonFiniteError, match="X and y"):
        Problem(mlp([3, 4, 2]), "mse", (X + np.inf, np.full((4, 2), np.nan)))


def test_loss_that_does_not_fit_the_output_and_empty_data():
    from rgeom.models import Problem, mlp

    net, rng = mlp([3, 4, 2]), np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 2\) for a model with 2 outputs"):
        Problem(net, "cross-entropy", (X, np.arange(6) % 3))          # 3 classes, 2 outputs
    with pytest.raises(ShapeError, match=r"loss 'cross-entropy': targets y must have shape \(6, 2\)"):
        Problem(net, "cross-entropy", (X, np.eye(3)[np.arange(6) % 3]))  # one-hot of width 3
    with pytest.raises(ShapeError, match=r"loss 'mse': targets y must have shape \(6, 2\).*got \(6, 5\)"):
        Problem(net, "mse", (X, np.zeros((6, 5))))
    for empty in ((X[:0], np.zeros((0, 2))), [], iter([])):
        with pytest.raises(ShapeError, match="data set is empty"):
            Problem(net, "mse", empty)


def test_indefinite_user_metric_with_exact_solve_is_refused_matrix_free():
    """A user metric with mv and solve but a negative eigenvalue: the trace path meets no xᵀGx of
    its own (it used to return a number); flatness certifies user metrics by Lanczos first."""
    from rgeom.metrics.base import Metric, MetricAt

    sign = np.r_[-1.0, np.ones(29)]

    class IndefAt(MetricAt):
        def mv(self, u):
            return u * sign

        def solve(self, w):
            return w * sign

    class Indef(Metric):
        constant = True

        def matvec(self, theta, u):
            return u * sign

        def at(self, theta):
            return IndefAt(theta, self._bk(theta))

    loss = lambda th: anp.sum(th ** 2) + anp.sum(th[:3]) ** 2  # noqa: E731
    for method in ("stochastic", "lanczos"):
        with pytest.raises(NotPositiveDefiniteError, match="Lanczos on G found the eigenvalue -1"):
            rgeom.flatness(loss, np.ones(30), Indef(), method=method, measures=["trace"], progress=False)


def test_lanczos_step_cap_is_not_converged_in_result_and_cli_json(tmp_path, monkeypatch):
    import json
    import textwrap

    from rgeom.checkpoints import save_checkpoint
    from rgeom.models import mlp

    (tmp_path / "tiny_models.py").write_text(textwrap.dedent("""
        from rgeom.models import mlp
        def net(backend=None):
            return mlp([4, 6, 3], activation="tanh", backend=backend, seed=0)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(30, 4)), y=rng.integers(0, 3, 30))
    save_checkpoint(tmp_path / "w.npz", mlp([4, 6, 3], activation="tanh", seed=3))
    base = [str(tmp_path / "w.npz"), "--model", "tiny_models:net", "--data", str(tmp_path / "d.npz"),
            "--metric", "ggn", "--method", "lanczos", "--measures", "max_eigenvalue", "--k", "1", "--json"]
    status, out = _cli(base + ["--max-steps", "3", "--tol", "1e-12"])
    d = json.loads(out)
    assert status == 3 and d["converged"] is False and d["measures"]["max_eigenvalue"]["converged"] is False
    status, out = _cli(base)  # the default cap converges on this 57-parameter problem
    assert status == 0 and json.loads(out)["measures"]["max_eigenvalue"]["converged"] is True


def test_slq_log_det_of_a_singular_shape_operator_is_flagged():
    """E with interior exact zeros: SLQ cannot resolve them; the log-det and the zero count must be
    marked not converged (see tests/test_stochastic_vs_dense.py for the network case)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(60, 60)))[0]
    lam = np.r_[np.zeros(6), -np.geomspace(1e-3, 5, 20), np.geomspace(1e-3, 10, 34)]
    A = Q @ np.diag(lam) @ Q.T
    f = rgeom.flatness(lambda th: 0.5 * th @ (A @ th), np.zeros(60), method="lanczos",
                       measures=["logdet"], lanczos_steps=20, progress=False)
    assert not f.measures["logdet"].converged and not f.zero_eigenvalues.converged and not f.converged
    assert "cannot separate from zero" in f.measures["logdet"].message


def test_conjugate_gradient_failure_is_a_status():
    """A metric with mv only and condition number 1e14: the inner CG solves hit their cap, so
    every estimate that used them is reported not converged, with the reason."""
    from rgeom.metrics.base import Metric, MetricAt

    s = np.logspace(0, 14, 30)

    class IllAt(MetricAt):
        tags = frozenset({"regular"})

        def mv(self, u):
            return u * s

    class Ill(Metric):
        constant = True

        def matvec(self, theta, u):
            return u * s

        def at(self, theta):
            return IllAt(theta, self._bk(theta))

    loss = lambda th: 0.5 * anp.sum(th ** 2)  # noqa: E731
    f = rgeom.flatness(loss, np.ones(30), Ill(), method="stochastic", measures=["trace", "max_eigenvalue"],
                       progress=False)
    for name in ("trace", "max_eigenvalue"):
        est = f.measures[name]
        assert not est.converged and "conjugate-gradient" in est.message, name
    assert not f.converged


def test_plot_is_skipped_with_a_message_without_matplotlib(monkeypatch, capsys, tmp_path):
    import importlib.util

    from rgeom import flatness_cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert flatness_cli.plot_or_skip([], tmp_path / "p.png") is None
    assert "matplotlib is not installed" in capsys.readouterr().err and not (tmp_path / "p.png").exists()
