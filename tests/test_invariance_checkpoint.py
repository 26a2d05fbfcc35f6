"""Invariance on a real trained network: the bundled digits ReLU MLP and its Dinh-rescaled twins.

For α ∈ {0.1, 10, 100} the twin ``(αW₁, αb₁, W₂/α, b₂)`` computes the same function. Its Fisher,
GGN and K-FAC metrics are computed *directly in the twin's coordinates* (no bookkeeping); the
Euclidean metric of the original chart is pulled back along the rescaling. The naive trace and top
eigenvalue move by orders of magnitude; every invariant measure stays put.

Dense path: the Hessian and each metric are dense float64 matrices in each chart, the generalized
problem is solved on the metric's range by ``rgeom.linalg.dense_eigh`` after Jacobi equilibration
(so the rank decision does not depend on the chart's scaling). Tolerance 1e-6 relative for trace
and top eigenvalue (rounding of a D = 1210 Hessian and metric, amplified by the ≤1e8 change of
scale at α = 100, is ~1e-9). The log-determinant: eigenvalues that are zero to rounding (~1e-17)
make log|det| = −∞; the pseudo-log-det over the others and the count of zeros are compared
(1e-6 relative). Stochastic path: K-FAC whitening + Lanczos / Hutch++ in each
chart, equal within the reported standard errors (3σ) and the Lanczos tolerance.
"""

import numpy as np
import pytest

from rgeom.linalg import dense_eigh
from rgeom.metrics import Euclidean, Pullback
from rgeom.metrics.fisher import GGN, Fisher
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, dinh_rescaling

pytestmark = pytest.mark.slow
ALPHAS = (0.1, 10.0, 100.0)


def _backend():
    import importlib.util

    return "torch" if importlib.util.find_spec("torch") else "autograd"


def equilibrated_eigh(H, G):
    d = np.diag(G).copy()
    live = d > 0
    s = 1.0 / np.sqrt(d[live])
    Ht = H[np.ix_(live, live)] * s[:, None] * s[None, :]
    Gt = G[np.ix_(live, live)] * s[:, None] * s[None, :]
    res = dense_eigh(Ht, Gt)
    return res.eigenvalues, res.kernel_dim + int((~live).sum())


@pytest.fixture(scope="module")
def charts():
    """Dense H and metrics at the checkpoint (α = 1) and at each twin."""
    from rgeom.data import load_demo

    model, data = load_demo(_backend())
    prob = Problem(model, "cross-entropy", data)
    bk = prob.backend
    out = {}
    for alpha in (1.0,) + ALPHAS:
        g = dinh_rescaling(model, 0, alpha)
        psi = g.inverse(model.theta)
        p = prob.with_model(model.with_theta(psi))
        H = np.asarray(bk.to_numpy(bk.hessian(p.objective, psi)), dtype=np.float64)
        mats = {"fisher": Fisher(p), "ggn": GGN(p), "kfac": KFAC(p),
                "euclidean": Pullback(Euclidean(p.dim), g)}
        out[alpha] = {"H": H, "loss": p.loss_value(), "p": p, "psi": psi, "g": g,
                      **{k: np.asarray(bk.to_numpy(m.at(psi).as_matrix()), dtype=np.float64) for k, m in mats.items()}}
    return out


def test_twins_are_the_same_function(charts):
    for alpha in ALPHAS:
        assert abs(charts[alpha]["loss"] - charts[1.0]["loss"]) < 1e-12


def test_naive_measures_change_by_orders_of_magnitude(charts):
    t0 = np.trace(charts[1.0]["H"])
    l0 = np.linalg.eigvalsh(charts[1.0]["H"])[-1]
    for alpha in (0.1, 100.0):
        H = charts[alpha]["H"]
        assert max(np.trace(H) / t0, t0 / np.trace(H)) > 50
        assert max(np.linalg.eigvalsh(H)[-1] / l0, l0 / np.linalg.eigvalsh(H)[-1]) > 50


def pseudo_logdet(lam):
    """``(Σ log|λ|`` over eigenvalues above the rounding floor, number below it``)``.

    Eigenvalues below ``1e-9 · max|λ|`` are zero to rounding (they come out at ~1e-17: directions
    where the Hessian vanishes exactly but the metric does not); the true log|det| is then −∞ and
    only the pseudo-log-det and the zero count are meaningful.
    """
    a = np.abs(lam)
    live = a > 1e-9 * a.max()
    return float(np.sum(np.log(a[live]))), int((~live).sum())


@pytest.mark.parametrize("metric", ["fisher", "ggn", "kfac", "euclidean"])
def test_invariant_measures_are_equal_in_every_chart(charts, metric):
    ref, k0 = equilibrated_eigh(charts[1.0]["H"], charts[1.0][metric])
    logdet0, zeros0 = pseudo_logdet(ref)
    for alpha in ALPHAS:
        lam, k = equilibrated_eigh(charts[alpha]["H"], charts[alpha][metric])
        assert k == k0
        assert abs(lam.sum() - ref.sum()) <= 1e-6 * np.abs(ref).sum(), (alpha, lam.sum(), ref.sum())
        assert abs(lam[-1] - ref[-1]) <= 1e-6 * abs(ref[-1])
        logdet, zeros = pseudo_logdet(lam)
        assert zeros == zeros0 and abs(logdet - logdet0) <= 1e-6 * abs(logdet0), (alpha, logdet, logdet0)


def test_kfac_kernel_holds_no_curvature_and_fisher_kernel_reports_it(charts):
    """K-FAC's kernel (softmax shift, dead units, blank pixels) is an exact symmetry: H vanishes on
    it even off a critical point. The Fisher kernel also holds the ReLU rescalings, where
    ``H v = −Xᵀ∇L``: small but not zero at this checkpoint (a ReLU net's minimiser lies on
    activation kinks, so the gradient cannot vanish), and reported as such."""
    from rgeom.linalg import dense_eigh as de

    H = charts[1.0]["H"]
    r_k = de(H, charts[1.0]["kfac"])
    r_f = de(H, charts[1.0]["fisher"])
    assert r_k.hessian_kernel_norm < 1e-9 * np.linalg.norm(H)
    assert r_f.kernel_dim > r_k.kernel_dim
    assert r_f.hessian_kernel_norm > 1e3 * r_k.hessian_kernel_norm


def test_metrics_computed_in_the_twin_are_pullbacks(charts):
    """Fisher / GGN / K-FAC computed directly at ψ equal Jᵀ G(θ) J: no bookkeeping needed."""
    for alpha in ALPHAS:
        J = np.diag(charts[alpha]["g"].factors)
        for metric in ("fisher", "ggn", "kfac"):
            ref = J @ charts[1.0][metric] @ J
            assert np.abs(charts[alpha][metric] - ref).max() <= 1e-9 * np.abs(ref).max()


def test_stochastic_path_agrees_within_reported_error(charts):
    from rgeom.flatness import flatness

    res = {}
    for alpha in (1.0, 10.0):
        c = charts[alpha]
        res[alpha] = flatness(c["p"].objective, c["psi"], KFAC(c["p"]), method="lanczos",
                              measures=["max_eigenvalue", "trace"], n_probes=40, christoffel=False,
                              tol=1e-8, seed=0, progress=False)
    a, b = res[1.0], res[10.0]
    assert a.converged and b.converged and a.kernel_dim == b.kernel_dim
    assert abs(a.max_eigenvalue - b.max_eigenvalue) <= 1e-6 * abs(a.max_eigenvalue)
    se = np.hypot(a.measures["trace"].stderr, b.measures["trace"].stderr)
    assert abs(a.trace - b.trace) <= 3 * se + 1e-9 * abs(a.trace)
    lam, _ = equilibrated_eigh(charts[1.0]["H"], charts[1.0]["kfac"])
    assert abs(a.max_eigenvalue - lam[-1]) <= 1e-6 * abs(lam[-1])  # the matrix-free value is right
    assert abs(a.trace - lam.sum()) <= 3 * a.measures["trace"].stderr + 1e-9 * abs(lam.sum())


@pytest.mark.parametrize("metric", ["fisher", "ggn", "kfac", "euclidean"])
def test_dense_eigh_rank_decision_is_chart_independent(charts, metric):
    """``dense_eigh`` on the raw matrices of each chart (no equilibration by the caller): the kernel
    found and the eigenvalues do not move with α (before the fix a raw relative threshold turned a
    K-FAC kernel of 249 into 951 at α = 100). 1e-6 relative, as above."""
    ref = dense_eigh(charts[1.0]["H"], charts[1.0][metric], complement="equilibrated")
    for alpha in ALPHAS:
        res = dense_eigh(charts[alpha]["H"], charts[alpha][metric], complement="equilibrated")
        # the rank decision alone: the same kernel with either complement
        assert dense_eigh(charts[alpha]["H"], charts[alpha][metric]).kernel_dim == ref.kernel_dim
        assert res.kernel_dim == ref.kernel_dim, (alpha, res.kernel_dim, ref.kernel_dim)
        np.testing.assert_allclose(res.eigenvalues, ref.eigenvalues, rtol=0,
                                   atol=1e-6 * np.abs(ref.eigenvalues).max())


def test_flatness_with_christoffel_term_is_invariant_in_every_chart(charts):
    """The product path end to end: ``compare_flatness`` (dense, Christoffel term kept: the
    checkpoint is not critical, |grad|_G* ≈ 0.02) with each metric computed in each chart. The
    naive trace moves by orders of magnitude; trace, top eigenvalue, log pseudo-determinant, the
    zero count and the kernel dimension stay equal (1e-6 relative: float64 rounding of D = 1210
    dense matrices amplified by the ≤ 1e8 change of scale at α = 100)."""
    from rgeom.flatness import compare_flatness

    def metrics(c):
        p = c["p"]
        return {"fisher": Fisher(p), "ggn": GGN(p), "kfac": KFAC(p),
                "euclidean": Pullback(Euclidean(p.dim), c["g"])}

    ref = {}
    for alpha in (1.0,) + ALPHAS:
        c = charts[alpha]
        for name, G in metrics(c).items():
            if name in ("fisher", "ggn") and alpha not in (1.0, 100.0):
                continue  # the slowest Christoffel matrices: the extreme chart suffices
            cmp = compare_flatness(c["p"].objective, c["psi"], G, method="dense", progress=False)
            inv = cmp.invariant
            assert inv.christoffel and inv.invariant and "Christoffel" in inv.route
            vals = (inv.trace, inv.max_eigenvalue, inv.logdet, inv.zero_eigenvalues.value, inv.kernel_dim,
                    cmp.naive.trace)
            if alpha == 1.0:
                ref[name] = vals
                continue
            r = ref[name]
            for got, want in zip(vals[:3], r[:3]):
                assert abs(got - want) <= 1e-6 * abs(want), (name, alpha, got, want)
            assert vals[3:5] == r[3:5], (name, alpha)
            if alpha in (0.1, 100.0):
                assert max(vals[5] / r[5], r[5] / vals[5]) > 50
