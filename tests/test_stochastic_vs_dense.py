"""Stochastic estimates of the shape operator against dense float64 truth on a tiny network.

The network: a 5 → 16 → 3 tanh MLP (147 parameters) on 100 points, float64, autograd, trained by
25 L-BFGS steps (cross-entropy on labels; separately Gaussian regression for the GGN). Truth is
dense and built outside the engine: the full Hessian ``∂²L`` (autograd), the metric as a dense
matrix, and ``eigh`` on the metric's range (``rgeom.linalg.dense_eigh``, the orthogonal complement
of the kernel — what the engine's range projector does) or, for the regular GGN with its
Christoffel term, the dense flatness path (``∂²L − C`` with the dense correction matrix).

* Trace: Hutchinson and Hutch++ must land within **three reported standard errors** of the truth
  on each of three seeds (one seed could pass by luck; with three the chance that a biased
  estimator or an underestimated standard error passes every time is small). The standard error
  must also be informative (below the truth's magnitude), so "within 3 stderr" cannot pass
  vacuously (observed: |error|/stderr ≤ 2.2 over the 24 estimates, stderr/|trace| ≤ 0.85).
* Log-det by SLQ on a regular problem (pulled-back Euclidean with weight decay): within three
  standard errors and marked converged; on a regular but indefinite one with eigenvalues near 0
  (GGN), flagged as unresolved.
* Log-det on a singular problem (the naive Hessian of cross-entropy: the softmax shift gives 17
  exact zero eigenvalues): SLQ cannot separate the interior zeros from tiny eigenvalues — it must say
  so (``converged=False`` for the log-det and the zero count), never return a confident number.
* Top eigenvalues by Lanczos (tol 1e-11, well-separated top of the spectrum): 1e-8 relative.
"""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import rgeom
from rgeom.flatness import ZERO_RTOL, flatness
from rgeom.linalg import dense_eigh, hutchinson, hutchpp, krylov_hutchpp, lanczos
from rgeom.linalg.shape import shape_problem
from rgeom.metrics import Euclidean, Pullback
from rgeom.metrics.fisher import GGN, Fisher
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, dinh_rescaling, mlp

SEEDS = (0, 1, 2)
N_PROBES = 30
DECAY = 1.0  # weight decay for the log-det problems: keeps E well away from singular


def _train(net, loss, data, iters=25):
    """25 L-BFGS steps: at a random initialisation ``G⁻¹Hess`` has huge eigenvalues of both signs
    that cancel in the trace (standard errors ≫ the trace: "within 3 stderr" would be vacuous);
    partly trained, ``∂²L`` is closer to the GGN and the estimates are informative. (Trained to
    interpolation, the softmax saturates and the Fisher's kernel grows from 17 to 84 numerically.)"""
    import scipy.optimize

    prob = Problem(net, loss, data)
    res = scipy.optimize.minimize(prob.loss_value, np.asarray(net.theta), jac=lambda t: np.asarray(prob.gradient(t)),
                                  method="L-BFGS-B", options={"maxiter": iters})
    return net.with_theta(res.x)


@pytest.fixture(scope="module")
def net_data():
    """``(net trained on labels, inputs, labels, net trained on Gaussian targets, targets)``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5))
    labels, targets = rng.integers(0, 3, 100), rng.normal(size=(100, 3))
    net = mlp([5, 16, 3], activation="tanh", seed=1)
    return (_train(net, "cross-entropy", (X, labels)), X, labels,
            _train(net, "gaussian", (X, targets)), targets)


def _hessian(loss, theta):
    H = autograd.hessian(loss)(theta)
    return 0.5 * (H + H.T)


def _case(name, net_data):
    """``(loss, point, metric, christoffel, truth eigenvalues)`` for one metric."""
    net, X, labels, gnet, targets = net_data
    if name in ("fisher", "kfac"):  # singular: kernel = softmax shift; Christoffel dropped (see below)
        prob = Problem(net, "cross-entropy", (X, labels))
        G = Fisher(prob) if name == "fisher" else KFAC(prob)
        Gd = np.asarray(G.at(net.theta).as_matrix())
        ref = dense_eigh(_hessian(prob.objective, net.theta), Gd, complement="orthogonal")
        assert ref.kernel_dim == 17
        return prob.objective, net.theta, G, False, ref.eigenvalues
    if name == "ggn":  # regular (N·C = 300 > D, Λ = I): Christoffel term kept
        prob = Problem(gnet, "gaussian", (X, targets))
        G = GGN(prob)
        ref = flatness(prob.objective, gnet.theta, G, method="dense", progress=False)
        assert ref.kernel_dim == 0 and ref.christoffel
        return prob.objective, gnet.theta, G, True, ref.eigenvalues
    # pulled-back Euclidean along a Dinh rescaling: G⁻¹Hess at ψ is similar to ∂²L at θ = g(ψ)
    prob = Problem(net, "cross-entropy", (X, labels))
    g = dinh_rescaling(net, 0, 10.0)
    truth = np.linalg.eigvalsh(_hessian(prob.objective, net.theta))
    return rgeom.pullback(prob.objective, g), g.inverse(net.theta), Pullback(Euclidean(net.dim), g), True, truth


METRICS = ("fisher", "ggn", "kfac", "pullback-euclidean")


@pytest.fixture(scope="module", params=METRICS)
def case(request, net_data):
    loss, theta, G, christoffel, truth = _case(request.param, net_data)
    sp = shape_problem(loss, theta, G, christoffel=christoffel)
    return request.param, sp, truth


def test_trace_hutchinson_and_hutchpp_within_three_stderr(case):
    name, sp, truth = case
    tr = float(np.sum(truth))
    for seed in SEEDS:
        for est_fn in (hutchinson, hutchpp, krylov_hutchpp):
            est = est_fn(sp.hessian, N_PROBES, M=sp.metric, seed=seed, progress=False)
            assert est.converged, (name, est_fn.__name__, seed)
            assert abs(est.value - tr) <= 3 * est.stderr, (name, est_fn.__name__, seed, est.value, tr, est.stderr)
            assert 0 < est.stderr < abs(tr), (name, est_fn.__name__, seed)


def test_top_eigenvalues_by_lanczos_to_1e8(case):
    """Residual tol 1e-11 bounds the eigenvalue error by ~1e-11·|λ| (the top three are separated by
    ≥ 1% here): 1e-8 relative leaves three orders of margin for float64 rounding."""
    name, sp, truth = case
    res = lanczos(sp.hessian, 3, M=sp.metric, tol=1e-11, seed=0, progress=False)
    assert res.converged, name
    np.testing.assert_allclose(res.eigenvalues, np.sort(truth)[-3:], rtol=1e-8, err_msg=name)


def _decayed(loss):
    return lambda th: loss(th) + 0.5 * DECAY * anp.sum(th ** 2)


@pytest.mark.parametrize("name", ["ggn", "pullback-euclidean"])
def test_slq_logdet_within_three_stderr_on_regular_problems(name, net_data):
    """Weight decay makes E regular: where its eigenvalues stay away from 0 (checked) the SLQ
    log-det must be converged and within three standard errors of Σ log|λ| for every seed."""
    net, X, labels, gnet, targets = net_data
    if name == "ggn":
        prob = Problem(gnet, "gaussian", (X, targets))
        loss, theta, G = _decayed(prob.objective), gnet.theta, GGN(prob)
        truth = flatness(loss, theta, G, method="dense", progress=False).eigenvalues
    else:
        prob = Problem(net, "cross-entropy", (X, labels))
        g = dinh_rescaling(net, 0, 10.0)
        loss, theta, G = rgeom.pullback(_decayed(prob.objective), g), g.inverse(net.theta), Pullback(Euclidean(net.dim), g)
        truth = np.linalg.eigvalsh(_hessian(_decayed(prob.objective), net.theta))
    ld_true = float(np.sum(np.log(np.abs(truth))))
    for seed in SEEDS:
        f = flatness(loss, theta, G, method="lanczos", measures=["logdet"], slq_probes=10, lanczos_steps=30,
                     seed=seed, progress=False)
        ld = f.measures["logdet"]
        if name == "ggn":
            # E = G⁻¹(∂²L + I) is regular but indefinite with |λ| from 0.17 to 6e3: zero lies inside
            # the spectrum, next to eigenvalues 1e-4·max|λ|, and 30 Lanczos steps leave a heavy node
            # near it — the estimate must say it is not resolved (never a confident number)
            assert np.abs(truth).min() < 1e-3 * np.abs(truth).max() and truth.min() < 0 < truth.max()
            assert not ld.converged and "cannot separate from zero" in ld.message, (seed, ld)
            continue
        assert np.abs(truth).min() > 1e-3 * np.abs(truth).max()
        assert ld.converged, (name, seed, ld.message)
        assert abs(ld.value - ld_true) <= 3 * ld.stderr, (name, seed, ld.value, ld_true, ld.stderr)
        assert f.zero_eigenvalues.value == 0 and f.zero_eigenvalues.converged


@pytest.mark.parametrize("steps", [30, 100])
def test_slq_logdet_on_a_singular_problem_says_it_is_not_resolved(steps, net_data):
    """Naive cross-entropy Hessian: 17 exact zeros inside an indefinite spectrum. The dense path
    gives the log pseudo-determinant and the count; SLQ's nodes for the kernel sit at ~1e-5·max|λ|
    (not yet converged to 0), which would count log(1e-5) for 17 eigenvalues — a wrong number with
    a small standard error. The result must be flagged instead, for every seed."""
    net, X, labels, _, _ = net_data
    prob = Problem(net, "cross-entropy", (X, labels))
    dense = flatness(prob.objective, net.theta, method="dense", progress=False)
    assert dense.zero_eigenvalues.value == 17
    lam = np.abs(dense.eigenvalues)
    assert np.sum(lam <= ZERO_RTOL * lam.max()) == 17
    for seed in SEEDS:
        f = flatness(prob.objective, net.theta, method="lanczos", measures=["logdet"], slq_probes=10,
                     lanczos_steps=steps, seed=seed, progress=False)
        ld, zeros = f.measures["logdet"], f.zero_eigenvalues
        assert not ld.converged and "cannot separate from zero" in ld.message, (steps, seed, ld)
        assert not zeros.converged and not f.converged
        assert "NOT CONVERGED" in str(f)
