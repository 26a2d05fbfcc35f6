"""Densities, naive vs invariant modes, Laplace approximations: closed forms on every backend.

Every expected value is derived by hand (comments) or computed independently (scipy.stats,
scipy.optimize.brentq, quadrature); none comes from rgeom itself.

Tolerances (float64): modes are polished by Newton steps to |∇ log p| <= 1e-9 (in practice ~1e-15),
so mode coordinates of order 1 are checked to 1e-10; Hessian eigenvalues, which also go through one
more autodiff level, to 1e-8 relative; Monte Carlo checks use 5 standard errors of the estimate
(seeded, so deterministic).
"""

import math

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import scipy.stats

import rgeom
from rgeom.densities import (
    Beta,
    Covariance,
    Dirichlet,
    Gamma,
    Gaussian,
    LogNormal,
    chart_metric,
    fisher_metric,
    hessian_metric,
    laplace,
    mode,
    pullback_samples,
    pushforward_samples,
)

LOG_CHART = rgeom.maps.Exp().inv          # θ = g(ψ) = log ψ  (ψ = e^θ)


class Sigmoid(rgeom.maps.Elementwise):
    """x = g(z) = σ(z): the logit chart of (0, 1), with closed-form tangents (cheap under JIT)."""

    dim = 1

    def _f(self, xp, z):
        return 1.0 / (1.0 + xp.exp(-z))

    def _finv(self, xp, x):
        return xp.log(x) - xp.log1p(-x)

    def _df(self, xp, z):
        s = 1.0 / (1.0 + xp.exp(-z))
        return s * (1.0 - s)


SIGMOID = Sigmoid()
MODE_TOL = 1e-10
EIG_RTOL = 1e-8


def lognormal_problem(mu, sigma):
    """θ ~ N(μ, σ²) seen in ψ = e^θ, with the Euclidean metric of θ pulled back (G_ψ = 1/ψ²)."""
    q = rgeom.pullback(Gaussian([mu], [[sigma ** 2]]), LOG_CHART)
    return q, chart_metric(LOG_CHART, dim=1)


# --- the headline example, on every backend -----------------------------------------------------
@pytest.mark.parametrize("mu, sigma", [(0.0, 1.0), (0.3, 0.7)])
def test_lognormal_modes_and_laplace(bk, to_np, mu, sigma):
    q, G = lognormal_problem(mu, sigma)
    x0 = bk.asarray(np.array([2.0]))
    naive, inv = mode(q, x0), mode(q, x0, metric=G)
    assert naive.converged and inv.converged and naive.backend == bk.name
    # −log q = (u − μ)²/2σ² + u + c with u = log ψ: stationary at u = μ − σ².
    assert to_np(naive.point)[0] == pytest.approx(math.exp(mu - sigma ** 2), rel=MODE_TOL)
    # q / √det G = N(log ψ; μ, σ²): maximal at ψ = e^μ = φ(θ*).
    assert to_np(inv.point)[0] == pytest.approx(math.exp(mu), rel=MODE_TOL)
    if (mu, sigma) == (0.0, 1.0):
        assert round(float(to_np(naive.point)[0]), 8) == 0.36787944
    lap_n, lap_i = laplace(q, mode=naive), laplace(q, metric=G, mode=inv)
    # naive: ∂²(−log q) = [1/σ² − ((u−μ)/σ² + 1)]/ψ² = 1/(σ² ψ̂²) at the naive mode.
    naive_prec = math.exp(-2 * (mu - sigma ** 2)) / sigma ** 2
    assert lap_n.eigenvalues[0] == pytest.approx(naive_prec, rel=EIG_RTOL)
    if (mu, sigma) == (0.0, 1.0):
        assert lap_n.eigenvalues[0] == pytest.approx(math.e ** 2, rel=EIG_RTOL)
    # invariant: G⁻¹ Hess = ψ² · 1/(σ² ψ²) = 1/σ² (metric units).
    assert lap_i.eigenvalues[0] == pytest.approx(1.0 / sigma ** 2, rel=EIG_RTOL)
    # log Z: invariant is exact (0, the θ-chart Gaussian computation); naive gives −σ²/2.
    assert lap_i.log_marginal_likelihood == pytest.approx(0.0, abs=1e-10)
    assert lap_n.log_marginal_likelihood == pytest.approx(-0.5 * sigma ** 2, abs=1e-10)
    # tensors: precision is a (1,1) tensor, covariance (2,0), hessian (0,2).
    assert isinstance(lap_i.precision, rgeom.Operator) and isinstance(lap_i.hessian, rgeom.BilinearForm)
    assert isinstance(lap_i.covariance, Covariance)
    assert np.asarray(lap_i.covariance)[0, 0] == pytest.approx(sigma ** 2 * math.exp(2 * mu), rel=EIG_RTOL)
    # samples come back on the backend; invariant ones are e^(μ + σ z) (flat chart: closed form)
    s_i, s_n = lap_i.sample(5, seed=0), lap_n.sample(5, seed=0)
    z = lap_i.tangent_samples(5, seed=0)[:, 0] / to_np(inv.point)[0]   # v = ψ* σ z
    assert np.allclose(to_np(s_i)[:, 0], np.exp(mu + z), rtol=1e-12)
    assert np.allclose(to_np(s_n)[:, 0], to_np(naive.point)[0] + lap_n.tangent_samples(5, seed=0)[:, 0], rtol=1e-12)
    assert bk.name == "autograd" or (bk.owns(s_i) and bk.owns(s_n))


def test_lognormal_in_theta_chart_naive_is_exact():
    """In the θ chart (a Gaussian) the naive Laplace approximation is exact; it is the chart
    that makes the naive one wrong in ψ, not the method."""
    lap = laplace(Gaussian([0.3], [[0.49]]), np.array([1.0]))
    assert lap.eigenvalues[0] == pytest.approx(1 / 0.49, rel=EIG_RTOL)
    assert lap.log_marginal_likelihood == pytest.approx(0.0, abs=1e-12)


def test_catalogue_lognormal_equals_pulled_back_gaussian(bk, to_np):
    q, _ = lognormal_problem(0.3, 0.7)
    p = LogNormal(0.3, 0.7)
    for x in (0.2, 1.0, 3.5):
        psi = bk.asarray(np.array([x]))
        assert float(to_np(p.log_prob(psi))) == pytest.approx(float(to_np(q.log_prob(psi))), rel=1e-13)


def test_beta_logit_modes_and_laplace_on_every_backend(bk, to_np):
    """Beta(2, 5) in the logit chart z, with the Bernoulli Fisher metric pulled back, per backend.

    Density of z: ∝ σ^a (1−σ)^b, naive mode σ = a/(a+b), −f'' = (a+b) σ(1−σ) = ab/(a+b);
    invariant: mode σ = (a−½)/(a+b−1), precision a + b − 1, the same as in the x chart."""
    a, b = 2.0, 5.0
    F = fisher_metric(lambda x: 1.0 / (x * (1.0 - x)), diagonal=True, dim=1)
    q, Fz = rgeom.pullback(Beta(a, b), SIGMOID), rgeom.pullback(F, SIGMOID)
    z0 = bk.asarray(np.array([0.0]))
    ln, li = laplace(q, z0), laplace(q, z0, metric=Fz)
    assert ln.mode.backend == li.mode.backend == bk.name
    assert to_np(ln.mode.point)[0] == pytest.approx(math.log(a / b), abs=MODE_TOL)
    assert to_np(li.mode.point)[0] == pytest.approx(math.log((a - 0.5) / (b - 0.5)), abs=MODE_TOL)
    assert ln.eigenvalues[0] == pytest.approx(a * b / (a + b), rel=EIG_RTOL)
    assert li.eigenvalues[0] == pytest.approx(a + b - 1, rel=EIG_RTOL)
    reference = laplace(Beta(a, b), np.array([0.5]), metric=F).log_marginal_likelihood   # x chart, autograd
    assert li.log_marginal_likelihood == pytest.approx(reference, abs=1e-10)


def test_float32_mode_converges_at_its_own_precision():
    torch = pytest.importorskip("torch")
    q, G = lognormal_problem(0.0, 1.0)
    m = mode(q, torch.tensor([2.0], dtype=torch.float32), metric=G)
    assert m.converged and m.dtype == "float32" and m.point.dtype == torch.float32
    assert float(m.point[0]) == pytest.approx(1.0, abs=1e-6)         # float32: ~1e-7 relative


# --- catalogue: log-densities vs scipy.stats on every backend ------------------------------------
CATALOGUE = [
    (Gaussian([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]]),
     lambda x: scipy.stats.multivariate_normal([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]]).logpdf(x),
     [[0.1, 0.2], [2.0, -3.0]], []),
    (LogNormal([0.1, -0.4], [0.5, 1.2]),
     lambda x: scipy.stats.lognorm.logpdf(x, [0.5, 1.2], scale=np.exp([0.1, -0.4])).sum(),
     [[0.3, 2.0], [1.5, 0.01]], [[-0.1, 1.0], [1.0, 0.0]]),
    (Beta(2.5, 0.7), lambda x: scipy.stats.beta.logpdf(x[0], 2.5, 0.7), [[0.3], [0.97]], [[-0.2], [1.0], [1.4]]),
    (Gamma(3.0, 2.0), lambda x: scipy.stats.gamma.logpdf(x[0], 3.0, scale=0.5), [[0.4], [5.0]], [[0.0], [-1.0]]),
    (Dirichlet([2.0, 3.0, 1.5]),
     lambda x: scipy.stats.dirichlet.logpdf(np.append(x, 1 - x.sum()), [2.0, 3.0, 1.5]),
     [[0.2, 0.3], [0.05, 0.9]], [[0.6, 0.5], [-0.1, 0.5], [0.3, 0.0]]),
]


@pytest.mark.parametrize("p, ref, inside, outside", CATALOGUE, ids=lambda v: repr(v)[:18])
def test_catalogue_log_prob_matches_scipy(bk, to_np, p, ref, inside, outside):
    for x in inside:
        xb = bk.asarray(np.array(x))
        assert float(to_np(p.log_prob(xb))) == pytest.approx(ref(np.array(x)), rel=1e-12, abs=1e-12)
        assert p.in_support(xb)
    for x in outside:
        xb = bk.asarray(np.array(x))
        assert float(to_np(p.log_prob(xb))) == -np.inf and not p.in_support(xb)
        # −inf outside, with a finite (zero) gradient: optimizers can reject such steps cleanly.
        assert np.all(to_np(bk.grad(p.log_prob, xb)) == 0.0)


@pytest.mark.parametrize("p, mean", [
    (Gaussian([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]]), [0.5, -1.0]),
    (LogNormal(0.2, 0.5), [math.exp(0.2 + 0.125)]),
    (Beta(2.0, 5.0), [2.0 / 7.0]),
    (Gamma(3.0, 2.0), [1.5]),
    (Dirichlet([2.0, 3.0, 1.5]), [2.0 / 6.5, 3.0 / 6.5]),
], ids=repr)
def test_catalogue_samples_have_the_right_mean(p, mean):
    x = p.sample(20000, seed=3)
    assert x.shape == (20000, p.dim) and all(p.in_support(xi) for xi in x[:200])
    se = x.std(axis=0) / math.sqrt(x.shape[0])
    assert np.all(np.abs(x.mean(axis=0) - mean) <= 5 * se)
    assert np.array_equal(p.sample(5, seed=3), p.sample(5, seed=3))


# --- closed-form modes: naive and invariant, in two charts ----------------------------------------
def test_beta_modes_in_two_charts_and_fisher_metric():
    a, b = 2.0, 5.0
    p = Beta(a, b)
    F = fisher_metric(lambda x: 1.0 / (x * (1.0 - x)), diagonal=True, dim=1)   # Bernoulli Fisher
    q, Fz = rgeom.pullback(p, SIGMOID), rgeom.pullback(F, SIGMOID)
    x0, z0 = np.array([0.5]), np.array([0.0])
    # naive: (a−1)/(a+b−2) in x; in z the density is ∝ x^a (1−x)^b: mode x = a/(a+b).
    assert mode(p, x0).point[0] == pytest.approx((a - 1) / (a + b - 2), abs=MODE_TOL)
    assert SIGMOID(mode(q, z0).point)[0] == pytest.approx(a / (a + b), abs=MODE_TOL)
    # invariant (Jeffreys measure ∝ (x(1−x))^(−½)): (a−½)/(a+b−1) in both charts.
    inv_x, inv_z = mode(p, x0, metric=F), mode(q, z0, metric=Fz)
    assert inv_x.point[0] == pytest.approx((a - 0.5) / (a + b - 1), abs=MODE_TOL)
    assert SIGMOID(inv_z.point)[0] == pytest.approx(inv_x.point[0], abs=MODE_TOL)
    assert inv_z.log_density == pytest.approx(inv_x.log_density, abs=1e-12)   # a scalar
    assert inv_z.gradient_norm < 1e-9
    # invariant precision: in z, −f'' = (a+b−1) σ(1−σ) and G_z = σ(1−σ): E = a + b − 1.
    for lap in (laplace(p, x0, metric=F), laplace(q, z0, metric=Fz)):
        assert lap.eigenvalues[0] == pytest.approx(a + b - 1, rel=EIG_RTOL)
    # the Mode of x carried to the z chart is the z-chart invariant mode (and the naive one is not)
    carried = mode(p, x0, metric=F).pullback(SIGMOID)
    assert carried.mapped and carried.point[0] == pytest.approx(inv_z.point[0], abs=1e-9)
    assert abs(mode(p, x0).pullback(SIGMOID).point[0] - mode(q, z0).point[0]) > 0.1


def test_gamma_modes_with_log_chart_metric():
    k, rate = 3.0, 2.0
    p, G = Gamma(k, rate), chart_metric(LOG_CHART, dim=1)
    x0 = np.array([1.0])
    assert mode(p, x0).point[0] == pytest.approx((k - 1) / rate, abs=MODE_TOL)
    # p / √det G = p · x ∝ x^k e^(−βx): mode k/β; in s = log x, −f'' = β e^s = k, G_s = 1.
    assert mode(p, x0, metric=G).point[0] == pytest.approx(k / rate, abs=MODE_TOL)
    assert laplace(p, x0, metric=G).eigenvalues[0] == pytest.approx(k, rel=EIG_RTOL)


def test_dirichlet_modes_with_categorical_fisher_metric():
    alpha = np.array([2.0, 3.0, 4.0])
    p = Dirichlet(alpha)
    # Fisher of the categorical model in (x1, x2): diag(1/xᵢ) + 1/x₃ 11ᵀ, det = 1/(x1 x2 x3).
    F = fisher_metric(lambda x: anp.diag(1.0 / x) + 1.0 / (1.0 - anp.sum(x)), dim=2)
    x0 = np.array([0.3, 0.3])
    assert np.allclose(mode(p, x0).point, (alpha[:2] - 1) / (alpha.sum() - 3), atol=MODE_TOL)
    assert np.allclose(mode(p, x0, metric=F).point, (alpha[:2] - 0.5) / (alpha.sum() - 1.5), atol=MODE_TOL)


def test_gaussian_invariant_mode_with_euclidean_metric_is_the_mean():
    p = Gaussian([0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]])
    m = mode(p, np.zeros(2), metric=rgeom.metrics.Euclidean(2))
    assert np.allclose(m.point, [0.5, -1.0], atol=MODE_TOL) and m.measure == "riemannian"


# --- the Density class ---------------------------------------------------------------------------
def test_density_methods_agree_with_free_functions():
    p = LogNormal(0.3, 0.7)
    psi = np.array([1.7])
    for q in (p.pullback(LOG_CHART.inv), rgeom.pullback(p, LOG_CHART.inv)):   # θ = e^ψ: ψ = log x
        # log q(ψ) = log p(e^ψ) + ψ
        assert float(q.log_prob(psi)) == pytest.approx(float(p.log_prob(np.exp(psi))) + 1.7, rel=1e-13)
    assert float(p.pushforward(LOG_CHART).log_prob(np.exp(psi))) == pytest.approx(
        float(rgeom.pushforward(p, LOG_CHART).log_prob(np.exp(psi))), rel=1e-13)
    G = chart_metric(LOG_CHART, dim=1)
    vol = p.with_respect_to(G)
    assert vol.measure == "riemannian" and vol.with_respect_to(None) is p
    # log p_vol = log p − ½ log det G = log p + log x
    assert float(vol.log_prob(psi)) == pytest.approx(float(p.log_prob(psi)) + math.log(1.7), rel=1e-13)
    assert p.mode(np.array([1.0]), metric=G).point[0] == pytest.approx(math.exp(0.3), rel=MODE_TOL)
    assert p.laplace(np.array([1.0]), metric=G).eigenvalues[0] == pytest.approx(1 / 0.49, rel=EIG_RTOL)


def test_pulled_back_catalogue_density_samples_and_support():
    p = Beta(2.0, 5.0)
    q = p.pullback(SIGMOID)                         # logit chart: ψ = logit x
    z = q.sample(2000, seed=1)
    assert np.allclose(SIGMOID(z[7]), p.sample(2000, seed=1)[7], rtol=1e-12)
    assert np.allclose(pushforward_samples(z, SIGMOID), p.sample(2000, seed=1), rtol=1e-12)
    assert q.in_support(np.array([30.0])) and q.measure == "lebesgue"
    half = p.pullback(rgeom.maps.Scale(2.0))        # θ = 2ψ: support ψ ∈ (0, ½)
    assert half.in_support(np.array([0.2])) and not half.in_support(np.array([0.7]))
    # the pullback outside the domain of the map is −inf, not NaN (ψ < 0 for θ = log ψ)
    assert float(LogNormal().pullback(rgeom.maps.Exp()).log_prob(np.array([-3.0]))) > -np.inf
    assert float(Gaussian([0.0], [[1.0]]).pullback(LOG_CHART).log_prob(np.array([-1.0]))) == -np.inf


def test_riemannian_density_pullback_keeps_the_measure():
    G = chart_metric(LOG_CHART, dim=1)
    p = LogNormal(0.3, 0.7).with_respect_to(G)      # density w.r.t. dψ/ψ: a scalar
    h = rgeom.maps.Scale(3.0)
    q = p.pullback(h)
    assert q.measure == "riemannian" and isinstance(q.metric, rgeom.metrics.Pullback)
    assert float(q.log_prob(np.array([0.5]))) == pytest.approx(float(p.log_prob(np.array([1.5]))), rel=1e-14)


# --- Laplace: sampling ---------------------------------------------------------------------------
def test_naive_laplace_samples_are_the_chart_gaussian():
    p = Dirichlet([4.0, 6.0, 5.0])
    lap = laplace(p, np.array([0.3, 0.3]))
    x = lap.sample(40000, seed=11)
    cov = np.asarray(lap.covariance)
    assert np.allclose(cov, np.linalg.inv(np.asarray(lap.hessian)), rtol=1e-10)
    se = np.sqrt(np.diag(cov) / x.shape[0])
    assert np.all(np.abs(x.mean(0) - lap.mode.point) <= 5 * se)
    # sample covariance: relative standard error of a variance is √(2/n) ≈ 0.7 %; allow 5 of them
    assert np.allclose(np.cov(x.T), cov, rtol=5 * math.sqrt(2 / x.shape[0]), atol=5 * se.max() ** 2 * 10)


def test_invariant_laplace_samples_push_through_the_map():
    """Invariant Laplace of the log-normal in ψ = e^θ, sampled along geodesics of G_ψ = 1/ψ², is
    exactly the log-normal: log(samples) ~ N(μ, σ²) (KS test at the 0.1 % level, seeded)."""
    q, G = lognormal_problem(0.3, 0.7)
    lap = laplace(q, np.array([2.0]), metric=G)
    psi = lap.sample(20000, seed=5)
    assert np.all(psi > 0)
    theta = pushforward_samples(psi, LOG_CHART)[:, 0]              # θ = g(ψ) = log ψ
    assert np.allclose(theta, np.log(psi[:, 0]), rtol=1e-13)
    assert np.allclose(pullback_samples(theta[:, None], LOG_CHART)[:, 0], psi[:, 0], rtol=1e-13)
    ks = scipy.stats.kstest(theta, scipy.stats.norm(0.3, 0.7).cdf)
    assert ks.statistic < 1.95 / math.sqrt(theta.shape[0])
    # ... whereas the naive Laplace in ψ is a Gaussian in ψ (it even puts mass at ψ < 0)
    naive = laplace(q, np.array([2.0])).sample(20000, seed=5)[:, 0]
    assert np.mean(naive < 0) > 0.01


def test_invariant_laplace_sampling_with_a_curved_metric_uses_geodesics():
    """A metric that is not a pullback of a flat one: samples come from rgeom.exp, one ODE each;
    a few samples are checked against the exponential map directly."""
    G = rgeom.metrics.Diagonal(lambda x: 1.0 / x ** 2 + 0.5, dim=1)
    p = Gamma(4.0, 2.0)
    lap = laplace(p, np.array([1.0]), metric=G)
    x = lap.sample(3, seed=2, progress=False)
    v = lap.tangent_samples(3, seed=2)
    for i in range(3):
        assert x[i, 0] == pytest.approx(float(rgeom.exp(G, lap.mode.point, v[i])[0]), rel=1e-12)


# --- Covariance: a (2,0) tensor ------------------------------------------------------------------
def test_covariance_transforms_as_a_20_tensor():
    S = np.array([[2.0, 0.3], [0.3, 1.0]])
    theta = np.array([1.0, 1.0])
    cov = Covariance(theta, lambda w: S @ w, matrix=S)
    polar = rgeom.maps.Polar()
    psi = polar.inverse(theta)
    J = polar.jacobian(psi)
    Ji = np.linalg.inv(J)
    back = rgeom.pullback(cov, polar)
    assert np.allclose(np.asarray(back), Ji @ S @ Ji.T, atol=1e-12)
    assert np.allclose(back.point, psi)
    # the variance of a linear functional is chart-independent: w_ψ = Jᵀ w_θ
    w = np.array([0.4, -1.0])
    assert float(back.variance(J.T @ w)) == pytest.approx(float(cov.variance(w)), rel=1e-12)
    assert np.allclose(np.asarray(rgeom.pushforward(back, polar)), S, atol=1e-12)


# --- metric choices ------------------------------------------------------------------------------
def test_hessian_metric_is_the_logistic_fisher():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 2)), rng.integers(0, 2, 20).astype(float)

    def nll(w):
        z = X @ w
        return anp.sum(anp.logaddexp(0.0, z) - y * z)

    w = np.array([0.3, -0.2])
    s = 1.0 / (1.0 + np.exp(-X @ w))
    fisher = (X * (s * (1 - s))[:, None]).T @ X        # Σ σ(1−σ) x xᵀ, independent of y
    assert np.allclose(hessian_metric(nll, dim=2).at(w).as_matrix(), fisher, rtol=1e-12)


def test_chart_metric_requires_a_dimension_for_dimensionless_maps():
    with pytest.raises(ValueError, match="pass dim"):
        chart_metric(rgeom.maps.Exp())
    with pytest.raises(TypeError, match="Map"):
        chart_metric(lambda x: x)


# --- von Mises–Fisher through geomstats ----------------------------------------------------------
@pytest.fixture(scope="module")
def vmf():
    from rgeom.densities import VonMisesFisher

    return VonMisesFisher([math.sin(1.0), 0.0, math.cos(1.0)], kappa=4.0)   # μ at ϑ = 1, φ = 0


def test_vmf_is_normalized_on_the_sphere(vmf):
    chart = vmf.with_respect_to(None)                   # p sin ϑ dϑ dφ
    total, err = scipy.integrate.dblquad(lambda ph, th: math.exp(float(chart.log_prob(np.array([th, ph])))),
                                         0.0, math.pi, -math.pi, math.pi, epsabs=1e-10)
    assert total == pytest.approx(1.0, abs=1e-8)
    # w.r.t. the area form: κ/(4π sinh κ) e^(κ μ·x)
    x = np.array([0.7, 0.4])
    e = np.array([math.sin(0.7) * math.cos(0.4), math.sin(0.7) * math.sin(0.4), math.cos(0.7)])
    expected = math.log(4.0 / (4 * math.pi * math.sinh(4.0))) + 4.0 * e @ vmf.mu
    assert float(vmf.log_prob(x)) == pytest.approx(expected, rel=1e-13)
    assert float(vmf.log_prob(np.array([-0.1, 0.0]))) == -np.inf


def test_vmf_modes_and_laplace(vmf):
    x0 = np.array([1.3, 0.2])
    inv = vmf.mode(x0, metric=vmf.metric)
    assert np.allclose(inv.point, [1.0, 0.0], atol=MODE_TOL)
    # naive mode of p sin ϑ on φ = 0: −κ sin(ϑ − 1) + cot ϑ = 0 (pulled towards the equator)
    th = scipy.optimize.brentq(lambda t: -4.0 * math.sin(t - 1.0) + 1.0 / math.tan(t), 1.0, math.pi / 2, xtol=1e-14)
    assert np.allclose(vmf.mode(x0).point, [th, 0.0], atol=MODE_TOL)
    # invariant precision: log p = κ cos r in normal coordinates, Hess = κ I: eigenvalues (κ, κ);
    # log Z = log p(μ) + log 2π − log κ = −log(1 − e^(−2κ)).
    lap = vmf.laplace(x0, metric=vmf.metric)
    assert np.allclose(lap.eigenvalues, [4.0, 4.0], rtol=EIG_RTOL)
    assert lap.log_marginal_likelihood == pytest.approx(-math.log1p(-math.exp(-8.0)), abs=1e-10)
    # the invariant mode in another chart (φ shifted and scaled) maps back to μ
    h = rgeom.maps.Affine([[1.0, 0.0], [0.0, 2.0]], [0.0, -0.5])
    moved = vmf.pullback(h).mode(h.inverse(x0), metric=rgeom.pullback(vmf.metric, h))
    assert np.allclose(h(moved.point), [1.0, 0.0], atol=MODE_TOL)


def test_vmf_samples_and_global_rng_untouched(vmf):
    state = np.random.get_state()[1].copy()
    s = vmf.sample(20000, seed=4)
    assert np.array_equal(np.random.get_state()[1], state)
    x = np.stack([np.sin(s[:, 0]) * np.cos(s[:, 1]), np.sin(s[:, 0]) * np.sin(s[:, 1]), np.cos(s[:, 0])], 1)
    c = x @ vmf.mu                                    # E[μ·x] = coth κ − 1/κ
    assert abs(c.mean() - (1 / math.tanh(4.0) - 0.25)) <= 5 * c.std() / math.sqrt(c.size)
    assert np.array_equal(vmf.sample(3, seed=4), vmf.sample(3, seed=4))
