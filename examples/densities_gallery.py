"""Densities in two charts: naive MAP vs invariant mode, naive vs invariant Laplace.

A density w.r.t. Lebesgue measure picks up |det J| under a change of chart, so its mode (the
MAP estimate) moves. The density w.r.t. the volume of a metric, p / √det G, is a scalar: its
mode is the same point in every chart. Five cases:

1. log-normal: θ ~ N(0, 1) seen in ψ = e^θ (metric: the Euclidean metric of θ, pulled back);
2. Beta(2, 5) for a probability x and its logit z (metric: Bernoulli Fisher, i.e. Jeffreys);
3. the variance v vs the log-variance s = log v of a Gaussian likelihood (metric: Fisher);
4. a Bayesian logistic-regression posterior over w ∈ R² and over polar weights (r, φ)
   (metric: the Fisher information of the model);
5. von Mises–Fisher on the sphere in spherical coordinates (metric: the round sphere, geomstats).

Run:  python3 examples/densities_gallery.py [--plot docs/img/densities_gallery.png]
(--plot FILE writes an overview to FILE and one figure per case to FILE-stem_<case>.png,
 e.g. docs/img/densities_gallery_lognormal.png)
"""

import argparse
import math
import pathlib

import autograd.numpy as np
import numpy as onp
import scipy.integrate
import scipy.special

import rgeom
from rgeom.densities import Beta, Gaussian, chart_metric, fisher_metric, hessian_metric, laplace, mode

LOG_CHART = rgeom.maps.Exp().inv                                   # θ = g(ψ) = log ψ
SIGMOID = rgeom.maps.from_functions(lambda z: 1.0 / (1.0 + np.exp(-z)),
                                    lambda x: np.log(x) - np.log1p(-x), dim=1, name="sigmoid")


def fmt(x):
    return "[" + ", ".join(f"{round(v, 8) + 0.0:.8f}" for v in onp.atleast_1d(onp.asarray(x, dtype=float))) + "]"


def row(label, value):
    print(f"  {label:<58s} {value}")


# --- 1. log-normal ---------------------------------------------------------------------------------
def lognormal():
    print("1. θ ~ N(0, 1), ψ = e^θ  (metric: Euclidean metric of θ pulled back, G_ψ = 1/ψ²)")
    p = Gaussian([0.0], [[1.0]])
    q, G = rgeom.pullback(p, LOG_CHART), chart_metric(LOG_CHART, dim=1)
    x0 = np.array([2.0])
    naive, inv = mode(q, x0), mode(q, x0, metric=G)
    row("naive MAP in θ, mapped to ψ (e^0)", fmt(mode(p, np.array([0.5])).pullback(LOG_CHART).point))
    row("naive MAP in ψ  (e^(μ−σ²))", fmt(naive.point))
    row("invariant mode in ψ  (e^μ = φ(θ*))", fmt(inv.point))
    ln, li = laplace(q, mode=naive), laplace(q, metric=G, mode=inv)
    row("naive Laplace precision in ψ  (e²)", fmt(ln.eigenvalues))
    row("invariant Laplace precision, metric units  (1/σ²)", fmt(li.eigenvalues))
    row("log marginal: naive / invariant / exact", f"{ln.log_marginal_likelihood:.8f} / "
        f"{li.log_marginal_likelihood:.8f} / 0")
    return dict(q=q, G=G, naive=naive, inv=inv, ln=ln, li=li)


def plot_lognormal(r, a, b):
    th = onp.linspace(-4, 4, 400)
    a.plot(th, onp.exp(-th ** 2 / 2) / math.sqrt(2 * math.pi), color="k", label="p(θ) (Lebesgue = volume)")
    a.axvline(0.0, color="C2", ls="-", label="naive = invariant mode θ* = 0")
    a.axvline(-1.0, color="C1", ls=":", label="naive ψ-MAP mapped to θ (−1)")
    a.set(xlabel="θ", title="chart θ (G = 1)")
    a.legend(fontsize=8)
    ps = onp.linspace(1e-3, 5, 600)
    q = onp.array([math.exp(float(r["q"].log_prob(onp.array([x])))) for x in ps])
    b.plot(ps, q, color="k", label="q(ψ) = p(log ψ)/ψ (Lebesgue)")
    b.plot(ps, q * ps, color="C0", ls="--", label="q/√det G = p(log ψ) (volume)")
    lam = r["ln"].eigenvalues[0]
    b.plot(ps, onp.exp(-0.5 * lam * (ps - r["naive"].numpy()[0]) ** 2) * math.sqrt(lam / (2 * math.pi)),
           color="C1", lw=1, label="naive Laplace (Gaussian in ψ)")
    samples = r["li"].sample(20000, seed=0)[:, 0]
    b.hist(samples, bins=onp.linspace(0, 5, 80), density=True, color="C2", alpha=0.25,
           label="invariant Laplace samples (geodesics)")
    b.axvline(r["naive"].numpy()[0], color="C1", ls=":", label=f"naive MAP {r['naive'].numpy()[0]:.4f}")
    b.axvline(r["inv"].numpy()[0], color="C2", label="invariant mode 1 = e^0")
    b.set(xlabel="ψ = e^θ", title="chart ψ (G = 1/ψ²)", xlim=(0, 5))
    b.legend(fontsize=8)


# --- 2. Beta in logit coordinates ------------------------------------------------------------------
def beta_logit():
    print("\n2. Beta(2, 5) for a probability x and in logit coordinates z  (metric: Bernoulli Fisher "
          "1/(x(1−x)), volume = Jeffreys measure)")
    p = Beta(2.0, 5.0)
    F = fisher_metric(lambda x: 1.0 / (x * (1.0 - x)), diagonal=True, dim=1)
    q, Fz = rgeom.pullback(p, SIGMOID), rgeom.pullback(F, SIGMOID)
    x0, z0 = np.array([0.5]), np.array([0.0])
    nx, nz = mode(p, x0), mode(q, z0)
    ix, iz = mode(p, x0, metric=F), mode(q, z0, metric=Fz)
    row("naive MAP in x  ((a−1)/(a+b−2) = 0.2)", fmt(nx.point))
    row("naive MAP in z, as x  (a/(a+b) = 0.2857)", fmt(SIGMOID(nz.point)))
    row("invariant mode in x  ((a−½)/(a+b−1) = 0.25)", fmt(ix.point))
    row("invariant mode in z, as x", fmt(SIGMOID(iz.point)))
    lx, lz = laplace(p, mode=nx), laplace(q, mode=nz)
    li, liz = laplace(p, metric=F, mode=ix), laplace(q, metric=Fz, mode=iz)
    row("precision: naive x / naive z / invariant x / invariant z (a+b−1)",
        f"{lx.eigenvalues[0]:.6f} / {lz.eigenvalues[0]:.6f} / {li.eigenvalues[0]:.6f} / {liz.eigenvalues[0]:.6f}")
    row("log marginal: naive x / naive z / invariant x, z / exact",
        f"{lx.log_marginal_likelihood:.6f} / {lz.log_marginal_likelihood:.6f} / "
        f"{li.log_marginal_likelihood:.6f}, {liz.log_marginal_likelihood:.6f} / 0")
    return dict(p=p, q=q, F=F, nx=nx, nz=nz, ix=ix, iz=iz)


def plot_beta(r, a, b):
    xs = onp.linspace(1e-3, 1 - 1e-3, 500)
    px = onp.array([math.exp(float(r["p"].log_prob(onp.array([x])))) for x in xs])
    a.plot(xs, px, color="k", label="Beta(2, 5) (Lebesgue dx)")
    a.plot(xs, px * onp.sqrt(xs * (1 - xs)), color="C0", ls="--", label="p/√F (Jeffreys measure)")
    marks = (("naive MAP in x", r["nx"].numpy()[0], "C1", ":"),
             ("naive MAP in z, mapped", float(SIGMOID(r["nz"].point)[0]), "C3", ":"),
             ("invariant mode (both charts)", r["ix"].numpy()[0], "C2", "-"))
    for label, v, c, ls in marks:
        a.axvline(v, color=c, ls=ls, label=f"{label}: {v:.4f}")
    a.set(xlabel="x", title="chart x ∈ (0, 1)")
    a.legend(fontsize=8)
    zs = onp.linspace(-6, 4, 500)
    qz = onp.array([math.exp(float(r["q"].log_prob(onp.array([z])))) for z in zs])
    sig = 1 / (1 + onp.exp(-zs))
    b.plot(zs, qz, color="k", label="density of z = logit x (Lebesgue dz)")
    b.plot(zs, qz / onp.sqrt(sig * (1 - sig)), color="C0", ls="--", label="q/√F_z (same scalar)")
    for label, v, c, ls in marks:
        zv = math.log(v / (1 - v))
        b.axvline(zv, color=c, ls=ls, label=f"{label}: z = {zv:.4f}")
    b.set(xlabel="z = logit x", title="chart z (F_z = x(1−x))")
    b.legend(fontsize=8)


# --- 3. variance vs log-variance of a Gaussian likelihood -----------------------------------------
N_OBS, ALPHA, BETA = 10, 2.0, 1.0
Y = onp.random.default_rng(1).normal(0.0, math.sqrt(2.0), N_OBS)
S = float(onp.sum(Y ** 2))


def log_posterior_v(v):
    """Unnormalized posterior of the variance: N(0, v) likelihood × InvGamma(α, β) prior (dv)."""
    v = v[0]
    return (-0.5 * N_OBS * np.log(2 * np.pi * v) - 0.5 * S / v + ALPHA * np.log(BETA)
            - scipy.special.gammaln(ALPHA) - (ALPHA + 1) * np.log(v) - BETA / v)


def gaussian_variance():
    print(f"\n3. variance v vs log-variance s = log v: n = {N_OBS} draws of N(0, 2), prior "
          f"InvGamma({ALPHA:g}, {BETA:g})  (metric: Fisher n/(2v²))")
    a1, b1 = ALPHA + N_OBS / 2, BETA + S / 2                         # conjugate posterior
    p = rgeom.Density(lambda v: log_posterior_v(v) if v[0] > 0 else -np.inf, dim=1)   # -inf for v <= 0
    F = fisher_metric(lambda v: N_OBS / (2 * v ** 2), diagonal=True, dim=1)
    exp_map = rgeom.maps.Exp()                                      # v = e^s
    q, Fs = rgeom.pullback(p, exp_map), rgeom.pullback(F, exp_map)  # Fs = n/2, constant
    nv, ns = mode(p, np.array([1.0])), mode(q, np.array([0.0]))
    iv, is_ = mode(p, np.array([1.0]), metric=F), mode(q, np.array([0.0]), metric=Fs)
    row(f"naive MAP in v  (β'/(α'+1) = {b1 / (a1 + 1):.8f})", fmt(nv.point))
    row(f"naive MAP in s, as v  (β'/α' = {b1 / a1:.8f})", fmt(onp.exp(ns.numpy())))
    row("invariant mode in v (Jeffreys)", fmt(iv.point))
    row("invariant mode in s, as v", fmt(onp.exp(is_.numpy())))
    exact = (-0.5 * N_OBS * math.log(2 * math.pi) + ALPHA * math.log(BETA) - scipy.special.gammaln(ALPHA)
             + scipy.special.gammaln(a1) - a1 * math.log(b1))
    lv, ls_ = laplace(p, mode=nv), laplace(q, mode=ns)
    li, lis = laplace(p, metric=F, mode=iv), laplace(q, metric=Fs, mode=is_)
    row("log evidence: naive v / naive s", f"{lv.log_marginal_likelihood:.6f} / {ls_.log_marginal_likelihood:.6f}")
    row("log evidence: invariant v / invariant s / exact",
        f"{li.log_marginal_likelihood:.6f} / {lis.log_marginal_likelihood:.6f} / {exact:.6f}")
    return dict(p=p, q=q, nv=nv, ns=ns, iv=iv)


def plot_variance(r, a, b):
    vs = onp.linspace(0.05, 4, 500)
    pv = onp.array([math.exp(float(r["p"].log_prob(onp.array([v])))) for v in vs])
    a.plot(vs, pv / onp.trapezoid(pv, vs), color="k", label="posterior of v (Lebesgue dv)")
    w = pv * vs
    a.plot(vs, w / onp.trapezoid(w, onp.log(vs)), color="C0", ls="--", label="p/√F (w.r.t. dv/v)")
    marks = (("naive MAP in v", r["nv"].numpy()[0], "C1", ":"),
             ("naive MAP in s, mapped", float(onp.exp(r["ns"].numpy()[0])), "C3", ":"),
             ("invariant mode", r["iv"].numpy()[0], "C2", "-"))
    for label, v, c, ls in marks:
        a.axvline(v, color=c, ls=ls, label=f"{label}: {v:.4f}")
    a.set(xlabel="v (variance)", title="chart v")
    a.legend(fontsize=8)
    ss = onp.log(vs)
    qs = pv * vs
    b.plot(ss, qs / onp.trapezoid(qs, ss), color="k", label="posterior of s = log v (ds)")
    for label, v, c, ls in marks:
        b.axvline(math.log(v), color=c, ls=ls, label=f"{label}: s = {math.log(v):.4f}")
    b.set(xlabel="s = log v", title="chart s (Fisher n/2: constant)")
    b.legend(fontsize=8)


# --- 4. Bayesian logistic regression under two parametrizations -----------------------------------
_rng = onp.random.default_rng(4)
X_LR = _rng.normal(size=(30, 2)) * onp.array([1.0, 0.6])
Y_LR = (_rng.uniform(size=30) < 1 / (1 + onp.exp(-(X_LR @ onp.array([1.5, -1.0]))))).astype(float)
PRIOR_SD = 2.0


def nll(w):
    z = X_LR @ w
    return np.sum(np.logaddexp(0.0, z) - Y_LR * z)


def log_posterior_w(w):
    """Unnormalized posterior: Bernoulli likelihood × N(0, 2² I) prior (Lebesgue dw)."""
    return -nll(w) - 0.5 * np.sum(w ** 2) / PRIOR_SD ** 2 - np.log(2 * np.pi * PRIOR_SD ** 2)


def logistic_regression():
    print("\n4. Bayesian logistic regression, w ∈ R² vs polar weights (r, φ)  (metric: Fisher "
          "Σσ(1−σ)xxᵀ, i.e. Jeffreys)")
    polar = rgeom.maps.Polar()
    p = rgeom.Density(log_posterior_w, dim=2)
    F = hessian_metric(nll, dim=2)                       # canonical link: observed = Fisher
    q, Fp = rgeom.pullback(p, polar), rgeom.pullback(F, polar)
    w0, psi0 = np.array([0.5, -0.5]), polar.inverse(np.array([0.5, -0.5]))
    nw, npol = mode(p, w0), mode(q, psi0)
    iw, ipol = mode(p, w0, metric=F), mode(q, psi0, metric=Fp)
    row("naive MAP in w", fmt(nw.point))
    row("naive MAP in (r, φ), as w", fmt(polar(npol.point)))
    row("invariant mode in w", fmt(iw.point))
    row("invariant mode in (r, φ), as w", fmt(polar(ipol.point)))
    lo, hi = -8.0, 8.0
    exact, err = scipy.integrate.dblquad(lambda b, a: math.exp(float(log_posterior_w(onp.array([a, b])))),
                                         lo, hi, lo, hi, epsabs=1e-13, epsrel=1e-9)
    lw, lp = laplace(p, mode=nw), laplace(q, mode=npol)
    li, lip = laplace(p, metric=F, mode=iw), laplace(q, metric=Fp, mode=ipol)
    row("log evidence: naive w / naive (r, φ)", f"{lw.log_marginal_likelihood:.6f} / {lp.log_marginal_likelihood:.6f}")
    row("log evidence: invariant w / invariant (r, φ) / quadrature",
        f"{li.log_marginal_likelihood:.6f} / {lip.log_marginal_likelihood:.6f} / {math.log(exact):.6f}")
    row("precision eigenvalues, invariant w / (r, φ)", f"{fmt(li.eigenvalues)} / {fmt(lip.eigenvalues)}")
    return dict(p=p, q=q, polar=polar, nw=nw, npol=npol, iw=iw)


def plot_logistic(r, a, b):
    g1, g2 = onp.meshgrid(onp.linspace(-0.5, 3.5, 120), onp.linspace(-3.0, 1.0, 120))
    Z = onp.array([[float(r["p"].log_prob(onp.array([u, v]))) for u, v in zip(ru, rv)] for ru, rv in zip(g1, g2)])
    a.contourf(g1, g2, onp.exp(Z - Z.max()), levels=12, cmap="Greys")
    polar = r["polar"]
    marks = (("naive MAP in w", r["nw"].numpy(), "C1", "o"),
             ("naive MAP in (r, φ), mapped", polar(r["npol"].point), "C3", "s"),
             ("invariant mode (both charts)", r["iw"].numpy(), "C2", "*"))
    for label, w, c, m in marks:
        a.plot(w[0], w[1], m, color=c, ms=9, label=f"{label}: ({w[0]:.3f}, {w[1]:.3f})")
    a.set(xlabel="w₁", ylabel="w₂", title="chart w (posterior, Lebesgue dw)")
    a.legend(fontsize=8)
    rr, ff = onp.meshgrid(onp.linspace(0.05, 4.0, 120), onp.linspace(-1.6, 0.2, 120))
    Zq = onp.array([[float(r["q"].log_prob(onp.array([u, v]))) for u, v in zip(ru, rv)] for ru, rv in zip(rr, ff)])
    b.contourf(rr, ff, onp.exp(Zq - Zq.max()), levels=12, cmap="Greys")
    for label, w, c, m in marks:
        pp = polar.inverse(onp.asarray(w, dtype=float))
        b.plot(pp[0], pp[1], m, color=c, ms=9, label=label)
    b.set(xlabel="r = |w|", ylabel="φ = angle of w", title="chart (r, φ) (posterior × r)")
    b.legend(fontsize=8)


# --- 5. von Mises–Fisher on the sphere -------------------------------------------------------------
def von_mises_fisher():
    print("\n5. von Mises–Fisher on S², μ at polar angle 0.5, κ = 6, spherical chart (ϑ, φ)  "
          "(metric: round sphere via geomstats)")
    from rgeom.densities import VonMisesFisher

    p = VonMisesFisher([math.sin(0.5), 0.0, math.cos(0.5)], kappa=6.0)
    x0 = np.array([0.9, 0.3])
    naive, inv = mode(p, x0), mode(p, x0, metric=p.metric)
    row("naive MAP of p·sin ϑ in (ϑ, φ)", fmt(naive.point))
    row("invariant mode (= μ = (0.5, 0))", fmt(inv.point))
    li = laplace(p, metric=p.metric, mode=inv)
    row("invariant precision eigenvalues (κ, κ)", fmt(li.eigenvalues))
    row("log marginal: invariant / exact", f"{li.log_marginal_likelihood:.8f} / 0")
    return dict(p=p, naive=naive, inv=inv)


def plot_vmf(r, a, b):
    th, ph = onp.meshgrid(onp.linspace(0.01, 2.0, 150), onp.linspace(-1.2, 1.2, 150))
    vol = onp.exp(onp.array([[float(r["p"].log_prob(onp.array([t, f]))) for t, f in zip(rt, rf)]
                             for rt, rf in zip(th, ph)]))
    for ax, Z, title in ((a, vol, "density w.r.t. area (a scalar)"),
                         (b, vol * onp.sin(th), "density w.r.t. dϑ dφ (chart)")):
        ax.contourf(th, ph, Z, levels=12, cmap="Greys")
        for label, m, c, mk in (("naive MAP (chart)", r["naive"].numpy(), "C1", "o"),
                                ("invariant mode μ", r["inv"].numpy(), "C2", "*")):
            ax.plot(m[0], m[1], mk, color=c, ms=9, label=f"{label}: ϑ = {m[0]:.4f}")
        ax.set(xlabel="ϑ (polar angle)", ylabel="φ (azimuth)", title=title)
        ax.legend(fontsize=8)


# --- plotting helpers ------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


CASES = (("lognormal", lognormal, plot_lognormal), ("beta_logit", beta_logit, plot_beta),
         ("gaussian_variance", gaussian_variance, plot_variance),
         ("logistic_regression", logistic_regression, plot_logistic), ("vmf", von_mises_fisher, plot_vmf))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="save an overview figure to FILE and one "
                        "figure per case to FILE-stem_<case>.png")
    args = parser.parse_args(argv)
    results = [(name, run(), draw) for name, run, draw in CASES]
    if args.plot:
        plt = _plt()
        base = pathlib.Path(args.plot)
        overview, axes = plt.subplots(2, len(results), figsize=(5.2 * len(results), 8.4))
        for j, (name, result, draw) in enumerate(results):
            fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.0))
            draw(result, a, b)
            fig.tight_layout()
            path = base.with_name(f"{base.stem}_{name}.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            print(f"saved {path}")
            draw(result, axes[0, j], axes[1, j])
            for ax in axes[:, j]:
                ax.legend(fontsize=6)
        overview.tight_layout()
        overview.savefig(base, dpi=70)
        plt.close(overview)
        print(f"saved {base}")


if __name__ == "__main__":
    main()
