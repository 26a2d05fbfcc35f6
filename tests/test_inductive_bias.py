"""The inductive bias of natural gradient (Kerekes, Mészáros & Huszár 2021), through the examples.

* Deep linear networks: NGD's end-to-end trajectories of depths 1–3 agree to O(lr); GD's do not.
* Separable logistic regression: Fisher = Hessian, the NGD (= Newton) flow freezes the gradient's
  direction (∇L(t) = e^{−t}∇L(0)) and runs off in a direction other than the max-margin one,
  which gradient descent approaches.
* Matrix completion: GD at depth 3 recovers the unobserved entries; NGD does not, at any depth.
"""

import importlib.util
from pathlib import Path

import autograd
import numpy as np
import pytest

from rgeom.errors import ShapeError
from rgeom.flows.audit import discrepancy
from rgeom.flows.optimizers import get

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def depth():
    return _load("ngd_depth")


@pytest.fixture(scope="module")
def logistic():
    return _load("logistic_newton_flow")


@pytest.fixture(scope="module")
def completion():
    return _load("matrix_completion")


# --- deep linear networks ------------------------------------------------------------------------------
def test_depth_does_nothing_under_ngd_and_everything_under_gd(depth):
    rows = depth.depth_rows()
    for n, ngd, gd in rows:
        if n == 1:                                  # π is the identity: both exact
            assert ngd.verdict == gd.verdict == "exact"
            continue
        assert ngd.verdict == "order-p" and 0.9 < ngd.slope < 1.4, (n, ngd)
        assert gd.verdict == "not-invariant", (n, gd)
        assert gd.discrepancy[-1] > 10 * ngd.discrepancy[-1]
        halvings = np.asarray(ngd.discrepancy[:-1]) / np.asarray(ngd.discrepancy[1:])
        assert np.all(halvings > 1.8)               # the gap halves with the learning rate


def test_submersion_harness_needs_a_start_in_the_big_space(depth):
    pi, psi0 = depth.deep_start(2)
    opt = get("ngd", metric=depth.FISHER, pinv=True)
    with pytest.raises(ValueError, match="pass psi0"):
        discrepancy(opt, depth.loss, depth.W0.ravel(), pi, [0.1], 0.2)
    with pytest.raises(ValueError, match="theta0 must equal g"):
        discrepancy(opt, depth.loss, np.zeros(6), pi, [0.1], 0.2, psi0=psi0)
    with pytest.raises(ShapeError, match="psi0 must have shape"):
        discrepancy(opt, depth.loss, None, pi, [0.1], 0.2, psi0=np.ones(4))
    res = discrepancy(opt, depth.loss, depth.W0.ravel(), pi, [0.1], 0.2, psi0=psi0)
    assert res.n_steps == (2,) and 0.0 < res.discrepancy[0] < 0.1      # O(lr) after two steps


# --- logistic regression ---------------------------------------------------------------------------------
def test_fisher_is_the_hessian_for_the_logistic_loss(logistic):
    w = np.array([0.7, -1.3])
    np.testing.assert_allclose(logistic.fisher(w), autograd.hessian(logistic.loss)(w), atol=1e-14)


def test_ngd_flow_freezes_the_gradient_direction_and_misses_the_max_margin(logistic):
    sol = logistic.ngd_flow(t1=15.0)
    assert sol.status == "success"
    grad = autograd.grad(logistic.loss)
    g0 = grad(np.zeros(2))
    for t, w in zip(sol.ts[1:], sol.ys[0][1:]):
        g = grad(np.asarray(w))
        # dopri5 at rtol 1e-10: the relative error of ∇L(t) e^t stays below 1e-6 up to t = 15
        np.testing.assert_allclose(g * np.exp(t), g0, rtol=1e-6, atol=1e-9 * np.linalg.norm(g0))
    u = logistic.max_margin_direction()
    np.testing.assert_allclose(u, [1.0, 0.0], atol=1e-6)           # the support points (1, ±0.5)
    angles = [logistic.angle(np.asarray(w), u) for w in sol.ys[0][len(sol.ts) // 2:]]
    assert min(angles) > 30.0                                      # NGD runs off at ~33.6°
    assert abs(angles[-1] - angles[-2]) < 0.1                     # ... and has settled


def test_gradient_descent_approaches_the_max_margin_direction(logistic):
    u = logistic.max_margin_direction()
    gd = logistic.gd_run(t_max=1000)
    angles = [logistic.angle(gd[t], u) for t in (10, 100, 1000)]
    assert angles[0] > angles[1] > angles[2] and angles[2] < 10.0


# --- matrix completion -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def completion_results(completion):
    return completion.results()


def test_gd_at_depth_three_recovers_the_matrix_and_beats_every_ngd_run(completion_results):
    res = completion_results
    gd3 = res["gd", 3][0]
    assert gd3 < 0.01                                           # recovered (measured 0.0019)
    for d in (1, 2, 3):
        assert res["ngd", d][0] > 0.9                            # unobserved entries barely move
        assert res["ngd", d][1] < 1e-6                           # ... although NGD fits the data
        assert res["ngd", d][0] > 100 * gd3
    assert res["gd", 1][0] == pytest.approx(res["ngd", 1][0], abs=1e-3)   # depth 1: both frozen
    sv = res["gd", 3][2]
    assert sv[1] < 1e-2 * sv[0]                                  # low rank


def test_ngd_unobserved_entries_do_not_depend_on_depth(completion, completion_results):
    """Invariance: the natural-gradient flow of every depth pushes forward to the depth-1 flow, so
    the unobserved entries stay at their (depth-dependent, tiny) start: W₀ = 0.1^N I."""
    for d in (1, 2, 3):
        w = completion_results["ngd", d][3]
        off = ~completion.MASK
        np.testing.assert_allclose(w[off], (completion.INIT ** d * np.eye(completion.N))[off], atol=0.05)
