"""Fisher, generalized Gauss–Newton and empirical Fisher metrics of a model on data, matrix-free.

All three are pullbacks of an output-space curvature along the network's Jacobian,
``G(θ) = (1/N) Σₙ Jₙᵀ Mₙ Jₙ`` with ``Jₙ = ∂f(θ, xₙ)/∂θ`` (shape ``(C, D)``):

=======================  ==========================================================  ===========
metric                   output-space matrix ``Mₙ``                                   class
=======================  ==========================================================  ===========
GGN                      ``Λ(fₙ) = ∂²ℓ/∂f²`` (closed form, or autodiff for callables)  :class:`GGN`
Fisher (exact)           ``E_{y∼p(·|fₙ)}[∇_fℓ ∇_fℓᵀ]`` = ``Λ(fₙ)`` (canonical links)     :class:`Fisher`
Fisher (Monte-Carlo)     ``(1/S) Σ_s ∇_fℓ(fₙ, ŷₛ) ∇_fℓ(fₙ, ŷₛ)ᵀ``, ``ŷₛ ∼ p(·|fₙ)`` seeded  :class:`Fisher`
empirical Fisher         ``∇_fℓ(fₙ, yₙ) ∇_fℓ(fₙ, yₙ)ᵀ`` (the data labels)              :class:`EmpiricalFisher`
=======================  ==========================================================  ===========

A product ``G u`` is one JVP, an output-space product and one VJP per batch: no ``D × D`` matrix.
Their diagonals (:class:`rgeom.metrics.fisher_diagonal.DiagonalFisher`) come from per-sample Jacobian rows, chunked.

Because they come from the output space, these metrics are chart-free: computed in rescaled
coordinates they *are* the pullback (Dinh rescaling needs no bookkeeping). The same fact makes
them singular along the network's symmetry directions (ReLU neuron rescaling, the softmax's
constant shift, dead units): ``mv`` is exact, but there is no exact ``solve``/``logdet``; use the
spectral engine (which works on the metric's range) or ``damping`` (reported; it breaks
invariance).
"""

import numpy as np

from .._checks import check_dense_size, concrete
from ..errors import NotPositiveDefiniteError
from .base import Metric, MetricAt

#: Default budget (number of float entries) for one chunk of per-sample Jacobian rows.
JACOBIAN_CHUNK_ENTRIES = 2 ** 23


def _problem(model, loss, data, batch_size=None, progress=None):
    from ..models.problem import Problem

    if isinstance(model, Problem):
        if loss is not None or data is not None:
            raise TypeError("pass either a Problem or (model, loss, data), not both.")
        return model
    if loss is None or data is None:
        raise TypeError("a curvature metric needs a Problem or model, loss and data.")
    return Problem(model, loss, data, batch_size=batch_size, progress=progress)


def linearize(bk, f, x):
    """``(f(x), u ↦ Df(x) u, w ↦ Df(x)ᵀ w)`` with the forward pass done once where possible.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.backend import get_backend
    >>> bk = get_backend("autograd")
    >>> val, jvp, vjp = linearize(bk, lambda x: x ** 2, np.array([1.0, 3.0]))
    >>> jvp(np.ones(2)).tolist(), vjp(np.ones(2)).tolist()
    ([2.0, 6.0], [2.0, 6.0])
    """
    if bk.name == "jax":
        import jax

        value, jvp_fn = jax.linearize(f, x)
        transpose = jax.linear_transpose(jvp_fn, x)
        return value, jvp_fn, lambda w: transpose(w)[0]
    if bk.name == "torch":
        import torch.func

        value, pullback = torch.func.vjp(f, x)
        return value, (lambda u: torch.func.jvp(f, (x,), (u,))[1]), (lambda w: pullback(w)[0])
    import warnings

    from autograd import make_vjp

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Output seems independent of input", UserWarning)
        pullback, value = make_vjp(f)(x)
        transpose, _ = make_vjp(pullback)(bk.xp.zeros_like(value))
    return value, transpose, pullback


class _OutputSpaceMetric(Metric):
    """Shared machinery: ``G = (1/N) Σₙ Jₙᵀ Mₙ Jₙ + δ I`` over the batches of a Problem."""

    short = "output-space"

    def __init__(self, model, loss=None, data=None, *, damping=0.0, batch_size=None, progress=None,
                 cache=True, range_method="auto"):
        self.problem = _problem(model, loss, data, batch_size, progress)
        self.dim = self.problem.dim
        self.backend = self.problem.backend.name
        self.damping = _check_damping(damping)
        self.cache = bool(cache)
        if range_method not in RANGE_METHODS:
            raise ValueError(f"range_method must be one of {RANGE_METHODS}, got {range_method!r}.")
        self.range_method = range_method
        self._check_loss()

    def _factor_width(self):
        """Columns of the output-space factor per sample (``K`` in ``Mₙ = Bₙ Bₙᵀ``, ``(C, K)``)."""
        return self.problem.n_out

    def factor_columns(self):
        """``N·K``: the number of columns of the factor ``G = B Bᵀ`` (``B`` of shape ``(D, N·K)``)."""
        return self.problem.n * self._factor_width()

    def _route(self):
        """How :meth:`at` gives solves and the kernel: ``"dense"``, ``"factor"`` or ``"none"`` (CG)."""
        if self.range_method != "auto":
            return self.range_method
        if self.dim <= DENSE_SOLVE_MAX_DIM:
            return "dense"
        m = self.factor_columns()
        return "factor" if m < self.dim and m * self.dim <= FACTOR_MAX_ENTRIES else "none"

    def _check_loss(self):
        pass

    # subclasses: the output-space product and (for dense / diagonal) a factor M = B Bᵀ
    def _extra(self, F, T, b):
        return None

    def _curv(self, F, T, V, extra):
        raise NotImplementedError

    def _factor(self, F, T, extra):
        raise NotImplementedError

    def matvec(self, theta, u):
        """``G(θ) u`` (differentiable in ``theta`` on its backend), shape ``(D,)``."""
        prob = self.problem
        bk, model = prob.backend, prob.model
        total = 0.0
        for b, (X, T, _) in enumerate(prob.batches):
            f = lambda th, X=X: model.apply(th, X)  # noqa: E731
            F, JU = bk.jvp(f, theta, u)
            W = self._curv(F, T, JU, self._extra(F, T, b))
            total = total + bk.vjp(f, theta, W)[1]
        out = total / prob.n
        return out + self.damping * u if self.damping else out

    def at(self, theta):
        """The metric at ``theta``: matrix-free :class:`MetricAt` (``mv``, ``diagonal``, dense ``as_matrix``).

        With the ``"factor"`` route (see :data:`RANGE_METHODS`) a :class:`FactoredAt`: exact solve,
        whitening, range projector and kernel dimension from a thin SVD of ``B``.
        """
        theta = self._check_point(theta)
        at = _OutputSpaceAt(self, theta, self.damping)
        return FactoredAt(at) if self._route() == "factor" else at

    def __repr__(self):
        extra = f", damping={self.damping:g}" if self.damping else ""
        return f"{type(self).__name__}({self.problem.model.name}, loss={self.problem.loss.name!r}{extra})"


def _check_damping(damping):
    damping = float(damping)
    if not np.isfinite(damping) or damping < 0:
        raise ValueError(f"damping must be a finite number >= 0, got {damping!r}.")
    return damping


class GGN(_OutputSpaceMetric):
    """The generalized Gauss–Newton matrix ``(1/N) Σ Jₙᵀ ∂²ℓ/∂f² Jₙ`` (matrix-free).

    Parameters
    ----------
    model : Model or Problem
    loss : str, Loss or callable
        For a callable the output Hessian comes from autodiff; it must be positive semidefinite
        (convex in the output), else :class:`~rgeom.errors.NotPositiveDefiniteError` from
        :meth:`~MetricAt.as_matrix` / :meth:`diagonal`.
    data : arrays, file or iterable of batches
    damping : float
        ``δ ≥ 0`` added as ``δ I``; reported in ``repr`` and results. **Breaks invariance.**
    batch_size : int, optional
    progress : bool, optional
    cache : bool
        Keep each batch's linearisation at the point (one forward pass per batch per ``at``).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.metrics.fisher import GGN
    >>> X = np.random.default_rng(0).normal(size=(8, 3)); y = np.arange(8) % 2
    >>> net = mlp([3, 4, 2], activation="tanh")
    >>> G = GGN(net, "cross-entropy", (X, y)).at(net.theta)
    >>> Gd = G.as_matrix()
    >>> u = np.ones(net.dim)
    >>> bool(np.allclose(G.mv(u), Gd @ u, rtol=1e-10, atol=1e-14))
    True
    """

    short = "ggn"

    def __init__(self, model, loss=None, data=None, *, damping=0.0, batch_size=None, progress=None, cache=True,
                 range_method="auto"):
        super().__init__(model, loss, data, damping=damping, batch_size=batch_size, progress=progress, cache=cache,
                         range_method=range_method)

    def _curv(self, F, T, V, extra):
        return self.problem.loss.hess_mv(self.problem.ops, F, V, T)

    def _factor(self, F, T, extra):
        return _loss_factor(self.problem, F, T)


class Fisher(_OutputSpaceMetric):
    """The Fisher information metric of the model's predictive distribution.

    ``mc_samples=None`` (default) uses the exact output-space expectation ``E_y[∇ℓ∇ℓᵀ] = Λ(f)``;
    ``mc_samples=S`` draws ``S`` targets per sample from ``p(·|f)`` (seeded, redrawn identically
    for every ``at``: a fixed positive semidefinite operator, unbiased for the exact Fisher).

    Parameters
    ----------
    model, loss, data, damping, batch_size, progress, cache
        As :class:`GGN`; ``loss`` must be a likelihood (a named loss).
    mc_samples : int, optional
    seed : int
        Seed of the Monte-Carlo targets.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.metrics.fisher import Fisher, GGN
    >>> X = np.random.default_rng(0).normal(size=(8, 3)); y = np.arange(8) % 2
    >>> net = mlp([3, 4, 2], activation="tanh")
    >>> F = Fisher(net, "cross-entropy", (X, y)).at(net.theta).as_matrix()
    >>> bool(np.allclose(F, GGN(net, "cross-entropy", (X, y)).at(net.theta).as_matrix()))
    True
    """

    short = "fisher"

    def __init__(self, model, loss=None, data=None, *, mc_samples=None, seed=0, damping=0.0, batch_size=None,
                 progress=None, cache=True, range_method="auto"):
        kwargs = dict(damping=damping, batch_size=batch_size, progress=progress, cache=cache,
                      range_method=range_method)
        if mc_samples is not None and (int(mc_samples) != mc_samples or mc_samples < 1):
            raise ValueError(f"Fisher: mc_samples must be None or a positive integer, got {mc_samples!r}.")
        self.mc_samples = None if mc_samples is None else int(mc_samples)
        self.seed = int(seed)
        super().__init__(model, loss, data, **kwargs)
        if self.mc_samples is not None:
            self.short = "mc-fisher"

    def _factor_width(self):
        return self.problem.n_out if self.mc_samples is None else self.mc_samples

    def _check_loss(self):
        if not self.problem.loss.likelihood:
            raise TypeError(
                f"Fisher: the loss {self.problem.loss.name!r} is not a named likelihood; the Fisher "
                "needs p(y|f). Use GGN or EmpiricalFisher for a user loss."
            )

    def _extra(self, F, T, b):
        if self.mc_samples is None:
            return None
        Fc = concrete(F)
        if Fc is None:
            raise TypeError("Monte-Carlo Fisher: outputs must be concrete to draw targets (no tracing).")
        rng = np.random.default_rng([self.seed, b])
        prob = self.problem
        S = self.mc_samples
        Y = prob.loss.sample(Fc, rng, S)
        Ys = prob.backend.asarray(Y.astype(Fc.dtype))
        return prob.loss.output_grad_many(prob.ops, F, Ys) / np.sqrt(S)  # (n, C, S)

    def _curv(self, F, T, V, extra):
        if extra is None:
            return self.problem.loss.hess_mv(self.problem.ops, F, V, T)
        return _apply_factor(self.problem.backend.xp, extra, V)

    def _factor(self, F, T, extra):
        return _loss_factor(self.problem, F, T) if extra is None else extra


class EmpiricalFisher(_OutputSpaceMetric):
    """The empirical Fisher ``(1/N) Σ ∇θℓₙ ∇θℓₙᵀ`` with the data's own labels (matrix-free).

    Not a pullback of a metric of the predictive distribution: it depends on the labels and
    vanishes where the model interpolates. Offered for comparison.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp, Problem
    >>> from rgeom.metrics.fisher import EmpiricalFisher
    >>> X = np.random.default_rng(0).normal(size=(8, 3)); y = np.arange(8) % 2
    >>> prob = Problem(mlp([3, 4, 2], activation="tanh"), "cross-entropy", (X, y))
    >>> g = np.stack([prob.backend.grad(lambda th: Problem(prob.model, "cross-entropy",
    ...     (X[i:i + 1], y[i:i + 1])).objective(th), prob.model.theta) for i in range(8)])
    >>> E = EmpiricalFisher(prob).at(prob.model.theta).as_matrix()
    >>> bool(np.allclose(E, g.T @ g / 8, rtol=1e-10, atol=1e-14))
    True
    """

    short = "empirical-fisher"

    def _factor_width(self):
        return 1

    def _extra(self, F, T, b):
        prob = self.problem
        return prob.loss.output_grad(prob.ops, F, T)[:, :, None]

    def _curv(self, F, T, V, extra):
        return _apply_factor(self.problem.backend.xp, extra, V)

    def _factor(self, F, T, extra):
        return extra


def _apply_factor(xp, B, V):
    """``B (Bᵀ V)`` per sample: ``(n, C, K), (n, C) -> (n, C)``."""
    return xp.einsum("nck,nk->nc", B, xp.einsum("nck,nc->nk", B, V))


def _loss_factor(prob, F, T):
    """A factor ``B`` of the loss's output Hessian ``Λ = B Bᵀ``, shape ``(n, C, K)``."""
    loss, bk = prob.loss, prob.backend
    try:
        return loss.hess_sqrt(prob.ops, F)
    except NotImplementedError:
        pass
    # user loss: dense per-sample Λ by autodiff, then an eigen-factor (must be PSD)
    Fn = bk.to_numpy(F)
    n, C = Fn.shape
    cols = []
    for c in range(C):
        E = np.zeros((n, C))
        E[:, c] = 1.0
        cols.append(bk.to_numpy(loss.hess_mv(prob.ops, F, bk.asarray(E.astype(Fn.dtype)), T)))
    Lam = np.stack(cols, 2)  # (n, C, C)
    Lam = 0.5 * (Lam + np.swapaxes(Lam, 1, 2))
    lam, Q = np.linalg.eigh(Lam)
    scale = max(np.abs(lam).max(), np.finfo(float).tiny)
    if lam.min() < -1e-10 * scale:
        raise NotPositiveDefiniteError(
            f"GGN: the output Hessian of loss {loss.name!r} is indefinite (smallest eigenvalue "
            f"{lam.min():.3g}); the GGN is a metric only for losses convex in the output."
        )
    B = Q * np.sqrt(np.clip(lam, 0.0, None))[:, None, :]
    return bk.asarray(B.astype(Fn.dtype))


#: Output-space metrics up to this dimension also get an exact dense pseudo-inverse ``solve``,
#: ``kernel_dim`` and ``kernel_basis`` (one dense matrix and one ``eigh``, computed on first use).
DENSE_SOLVE_MAX_DIM = 2000
#: Above :data:`DENSE_SOLVE_MAX_DIM`, ``range_method="auto"`` factors ``G = B Bᵀ`` when ``B``
#: (``D × N·K``) is thin (``N·K < D``) and has at most this many entries (2²⁵ float64 = 256 MiB).
FACTOR_MAX_ENTRIES = 2 ** 25
#: ``range_method`` values: ``"auto"``; ``"dense"`` (the ``D × D`` matrix and ``eigh``, small ``D``);
#: ``"factor"`` (thin SVD of ``B = [Jₙᵀ Bₙ]/√N``, ``D × N·K``: exact range, kernel, solve and
#: whitening in ``O(D (N·K)²)``); ``"none"`` (``mv`` only: the engine solves by conjugate gradients).
RANGE_METHODS = ("auto", "dense", "factor", "none")


class _OutputSpaceAt(MetricAt):
    """An output-space metric frozen at ``θ``: exact matrix-free ``mv``; dense and diagonal views.

    For ``D ≤ DENSE_SOLVE_MAX_DIM`` also an exact ``solve`` (the inverse on the range, zero on the
    kernel), ``kernel_dim`` and ``kernel_basis()``, from the dense matrix; the rank is decided on
    the Jacobi-equilibrated matrix (``diag = 1``), so it does not change when coordinates are
    rescaled. Above that size the metric is ``mv``-only (the engine uses conjugate gradients).
    """

    tags = frozenset({"psd"})

    def __init__(self, metric, theta, damping):
        prob = metric.problem
        super().__init__(theta, prob.backend)
        self.metric, self.problem, self.damping = metric, prob, float(damping)
        self.dtype = str(getattr(theta, "dtype", "float64")).replace("torch.", "")
        self._lin = []
        self._jit_mv = None
        if prob.backend.name == "jax":
            # one compiled product (eager JAX would dispatch and compile op by op)
            import jax

            self._extras = [metric._extra(prob.model.apply(theta, X), T, b)
                            for b, (X, T, _) in enumerate(prob.batches)]
            if getattr(metric, "_jit_mv_all", None) is None:  # compiled once per metric
                metric._jit_mv_all = jax.jit(lambda th, u, batches, extras, at=self: at._mv_traced(th, u, batches, extras))
            mv_all = metric._jit_mv_all
            batches = [(X, T) for X, T, _ in prob.batches]
            self._jit_mv = lambda u: mv_all(theta, u, batches, self._extras)
        elif metric.cache:
            for b, (X, T, _) in enumerate(prob.batches):
                F, jvp, vjp = linearize(prob.backend, lambda th, X=X: prob.model.apply(th, X), theta)
                self._lin.append((F, jvp, vjp, metric._extra(F, T, b)))
        self.counts = {"mv": 0}

    def _mv_traced(self, theta, u, batches, extras):
        bk, model, metric = self.backend, self.problem.model, self.metric
        total = 0.0
        for (X, T), extra in zip(batches, extras):
            f = lambda th, X=X: model.apply(th, X)  # noqa: E731
            F, JU = bk.jvp(f, theta, u)
            total = total + bk.vjp(f, theta, metric._curv(F, T, JU, extra))[1]
        return total / self.problem.n

    def mv(self, u):
        """``G u``, shape ``(D,)``: one JVP and one VJP per batch (no ``D × D`` matrix)."""
        u = self._check_arg(u, "u")
        self.counts["mv"] += 1
        prob, metric, bk = self.problem, self.metric, self.backend
        total = 0.0
        if self._jit_mv is not None:
            out = self._jit_mv(u)
            return out + self.damping * u if self.damping else out
        if self._lin:
            for (X, T, _), (F, jvp, vjp, extra) in zip(prob.batches, self._lin):
                total = total + vjp(metric._curv(F, T, jvp(u), extra))
        else:
            for b, (X, T, _) in enumerate(prob.batches):
                f = lambda th, X=X: prob.model.apply(th, X)  # noqa: E731
                F, JU = bk.jvp(f, self.point, u)
                total = total + bk.vjp(f, self.point, metric._curv(F, T, JU, metric._extra(F, T, b)))[1]
        out = total / prob.n
        return out + self.damping * u if self.damping else out

    @property
    def exact_solve(self):
        """Whether :meth:`solve` is available (the ``"dense"`` route: small ``D``, dense pseudo-inverse)."""
        return self.metric._route() == "dense"

    def _spectral(self):
        if getattr(self, "_spec", None) is None:
            if not self.exact_solve:
                raise NotImplementedError(
                    f"{type(self.metric).__name__}: no exact solve / kernel above D = {DENSE_SOLVE_MAX_DIM} "
                    f"(D = {self.dim}); the metric is singular along the network's symmetries: use the "
                    "spectral engine rgeom.linalg (range / CG), K-FAC, or a damped metric.")
            G = np.asarray(self.backend.to_numpy(self.as_matrix()), dtype=np.float64)
            d = np.diag(G).copy()
            live = d > 0
            s = 1.0 / np.sqrt(d[live])
            mu, U = np.linalg.eigh(G[np.ix_(live, live)] * s[:, None] * s[None, :])
            keep = mu > live.sum() * np.finfo(np.float64).eps * max(mu[-1], 0.0) if mu.size else mu > 0
            K = np.zeros((self.dim, int((~keep).sum()) + int((~live).sum())))
            K[np.ix_(live, np.arange((~keep).sum()))] = U[:, ~keep] * s[:, None]  # G = S⁻¹G̃S⁻¹: v = S ṽ
            K[np.flatnonzero(~live), (~keep).sum() + np.arange((~live).sum())] = 1.0
            self._spec = {"live": live, "s": s, "U": U[:, keep], "mu": mu[keep],
                          "kernel": np.linalg.qr(K)[0] if K.shape[1] else K}
        return self._spec

    @property
    def kernel_dim(self):
        """Dimension of the kernel (small ``D``; ``None`` above :data:`DENSE_SOLVE_MAX_DIM`)."""
        return self._spectral()["kernel"].shape[1] if self.exact_solve else None

    def kernel_basis(self):
        """Orthonormal basis of the kernel, NumPy ``(D, kernel_dim)`` (``"dense"`` route; else ``None``)."""
        return self._spectral()["kernel"] if self.exact_solve else None

    def solve(self, w):
        """``G⁺ w``: the inverse on the range (in the equilibrated coordinates), zero on the kernel."""
        sp = self._spectral()
        w = self._check_arg(w, "w")
        wn = np.asarray(self.backend.to_numpy(w), dtype=np.float64)
        x = np.zeros(self.dim)
        y = sp["s"] * wn[sp["live"]]
        x[sp["live"]] = sp["s"] * (sp["U"] @ ((sp["U"].T @ y) / sp["mu"]))
        return self.backend.asarray(x.astype(self.backend.to_numpy(self.point).dtype))

    def logdet(self):
        raise NotImplementedError(
            f"{type(self.metric).__name__}: no exact log-det matrix-free; use rgeom.linalg's "
            "stochastic Lanczos quadrature, or as_matrix() on small problems."
        )

    def damped(self, delta):
        """The same metric at the same point plus ``δ I`` (breaks invariance)."""
        out = _OutputSpaceAt.__new__(_OutputSpaceAt)
        out.__dict__.update(self.__dict__)  # shares the linearisation / compiled product
        out.damping = self.damping + _check_damping(delta)
        out.counts = {"mv": 0}
        out._spec = None
        return out

    def factor_rows(self, *, chunk_entries=JACOBIAN_CHUNK_ENTRIES):
        """Yield NumPy blocks ``R`` (rows, D) with ``G = (1/N) Σ RᵀR + δI`` (per-sample Jacobian rows)."""
        prob, metric, bk = self.problem, self.metric, self.backend
        xp = bk.xp
        for b, (X, T, n) in enumerate(prob.batches):
            F = self._lin[b][0] if self._lin else prob.model.apply(self.point, X)
            extra = self._lin[b][3] if self._lin else self._extras[b] if bk.name == "jax" else metric._extra(F, T, b)
            B = metric._factor(F, T, extra)
            K = int(B.shape[2])
            step = max(1, int(chunk_entries // max(1, K * self.dim)))
            if bk.name == "autograd":  # its jacobian loops over outputs: keep each backward pass small
                step = min(step, 8)
            for i in range(0, n, step):
                Bc = B[i:i + step]
                Xc = X[i:i + step]
                if bk.name == "jax":
                    J = bk.to_numpy(self._jax_rows()(self.point, Xc, Bc))
                else:
                    fn = lambda th, Xc=Xc, Bc=Bc: xp.einsum("nc,nck->nk", prob.model.apply(th, Xc), Bc)  # noqa: E731
                    J = bk.to_numpy(bk.jacobian(fn, self.point))
                yield J.reshape(-1, self.dim).astype(np.float64)

    def _jax_rows(self):
        metric = self.metric  # compiled once per metric, reused at every point
        if getattr(metric, "_rows_fn", None) is None:
            import jax

            apply, xp = self.problem.model.apply, self.backend.xp
            metric._rows_fn = jax.jit(jax.jacrev(lambda th, Xc, Bc: xp.einsum("nc,nck->nk", apply(th, Xc), Bc)))
        return metric._rows_fn

    def as_matrix(self, *, max_dense_dim=None):
        """Dense ``G`` (``(D, D)``, backend array) from per-sample Jacobian rows (small ``D`` only)."""
        check_dense_size(self.dim, max_dense_dim, f"{type(self.metric).__name__}.as_matrix")
        G = np.zeros((self.dim, self.dim))
        for R in self.factor_rows():
            G += R.T @ R
        G /= self.problem.n
        G = 0.5 * (G + G.T)
        if self.damping:
            G[np.diag_indices_from(G)] += self.damping
        return self.backend.asarray(G.astype(self.backend.to_numpy(self.point).dtype))

    def diagonal(self):
        """``diag G`` (``(D,)``, backend array), exact, from per-sample Jacobian rows."""
        d = self._diagonal_numpy()
        return self.backend.asarray(d.astype(self.backend.to_numpy(self.point).dtype))

    def _diagonal_numpy(self):
        d = np.zeros(self.dim)
        for R in self.factor_rows():
            d += np.einsum("rd,rd->d", R, R)
        return d / self.problem.n + self.damping


class FactoredAt(MetricAt):
    """An output-space metric at ``θ`` through its thin factor ``G = B Bᵀ (+ δI)``.

    ``B = [J₁ᵀB₁, …, J_Nᵀ B_N] / √N`` (``D × m``, ``m = N·K``) comes from the per-sample Jacobian
    rows of :meth:`_OutputSpaceAt.factor_rows`. Its rank is decided chart-independently, like the
    dense reference (:func:`rgeom.linalg.dense.equilibrated_range`): singular values of the
    Jacobi-equilibrated ``S B`` (``S = diag(G)^{-1/2}``) with ``σ̃² ≤ n ε · max σ̃²`` are zero. The
    range ``ran G = S⁻¹ ran(S B)`` gets an orthonormal basis ``Q`` (``D × r``), and
    ``G = U diag(λ) Uᵀ`` with ``U = Q P`` from the ``r × r`` eigenproblem of ``(QᵀB)(QᵀB)ᵀ``. Then,
    exactly and in ``O(D r)`` per product:

    * ``solve`` the Moore–Penrose ``G⁺`` (``(G + δI)⁻¹`` when damped), ``whiten`` ``G^{+1/2}``,
      ``unwhiten`` ``G^{1/2}``, ``project`` ``U Uᵀ`` (the identity when damped);
    * ``kernel_dim = D − r`` (0 when damped), ``logdet`` the log pseudo-determinant.

    The spectral engine then works in whitened coordinates (no conjugate gradients). Cost: the
    ``m`` Jacobian rows (``m`` backward passes) and an ``O(D m²)`` SVD, once per point; memory
    ``D m`` floats (see :data:`FACTOR_MAX_ENTRIES`). ``mv`` stays the exact matrix-free product.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.metrics.fisher import Fisher
    >>> X = np.random.default_rng(0).normal(size=(4, 3)); y = np.arange(4) % 2
    >>> net = mlp([3, 5, 2], activation="tanh")                   # D = 32 > N·C = 8
    >>> G = Fisher(net, "cross-entropy", (X, y), range_method="factor").at(net.theta)
    >>> G.kernel_dim                                               # rank N·(C − 1) = 4
    28
    >>> Gd = np.asarray(G.as_matrix())
    >>> x = np.random.default_rng(1).normal(size=32)
    >>> bool(np.allclose(G.solve(x), np.linalg.pinv(Gd, rcond=1e-10) @ x, atol=1e-8))
    True
    """

    tags = frozenset({"psd"})

    def __init__(self, at, *, _factors=None):
        super().__init__(at.point, at.backend)
        self.inner, self.metric, self.damping = at, at.metric, float(at.damping)
        self.dtype = at.dtype
        self._np_dtype = self.backend.to_numpy(self.point).dtype
        self.U, self.lam = _factors if _factors is not None else self._factorise(at)
        self.rank = int(self.lam.size)
        self.kernel_dim = 0 if self.damping else self.dim - self.rank
        self.counts = at.counts

    @staticmethod
    def _factorise(at):
        from ..linalg.dense import default_rank_rtol

        B = np.concatenate(list(at.factor_rows()), 0).T / np.sqrt(at.problem.n)  # (D, m)
        dg = np.einsum("dm,dm->d", B, B)
        live = dg > 0
        s = np.sqrt(dg[live])
        Ut, sig, _ = np.linalg.svd(B[live] / s[:, None], full_matrices=False)
        mu = sig ** 2
        top = mu[0] if mu.size else 0.0
        keep = mu > default_rank_rtol(int(live.sum())) * top if top > 0 else np.zeros(mu.size, bool)
        Q = np.zeros((at.dim, int(keep.sum())))
        Q[live] = Ut[:, keep] * s[:, None]  # ran G = S⁻¹ ran(S B)
        if not Q.shape[1]:
            return Q, np.zeros(0)
        Q = np.linalg.qr(Q)[0]
        C = Q.T @ B
        lam, P = np.linalg.eigh(C @ C.T)
        return Q @ P, np.maximum(lam, np.finfo(np.float64).tiny)

    def _np(self, x, name):
        x = self._check_arg(x, name)
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)

    def _spectral_fn(self, x, power, name):
        """``U f(λ+δ) Uᵀ x + f(δ) (I − UUᵀ) x`` with ``f(t) = t^power`` (``f(0) = 0`` on the kernel)."""
        x = self._np(x, name)
        c = self.U.T @ x
        out = self.U @ (c * (self.lam + self.damping) ** power)
        if self.damping:
            out = out + self.damping ** power * (x - self.U @ c)
        return self.backend.asarray(out.astype(self._np_dtype))

    def mv(self, u):
        """``G u`` (the exact matrix-free product), shape ``(D,)``."""
        return self.inner.mv(u)

    def solve(self, w):
        """``G⁺ w`` (Moore–Penrose; ``(G + δI)⁻¹ w`` when damped), shape ``(D,)``."""
        return self._spectral_fn(w, -1.0, "w")

    def whiten(self, x):
        """``G^{+1/2} x`` (symmetric), shape ``(D,)``."""
        return self._spectral_fn(x, -0.5, "x")

    def unwhiten(self, x):
        """``G^{1/2} x``, shape ``(D,)``."""
        return self._spectral_fn(x, 0.5, "x")

    def project(self, x):
        """Orthogonal projection onto the range of ``G`` (the identity when damped)."""
        if self.damping:
            return self._check_arg(x, "x")
        x = self._np(x, "x")
        return self.backend.asarray((self.U @ (self.U.T @ x)).astype(self._np_dtype))

    def kernel_basis(self):
        """``None``: the kernel (``D − r`` columns) is not formed; use :meth:`project`."""

    def logdet(self):
        """``log det G`` on its range (the log pseudo-determinant; ``log det (G + δI)`` when damped)."""
        out = float(np.sum(np.log(self.lam + self.damping)))
        return out + (self.dim - self.rank) * np.log(self.damping) if self.damping else out

    def damped(self, delta):
        """``G + δI`` from the same factorisation (breaks invariance)."""
        return FactoredAt(self.inner.damped(delta), _factors=(self.U, self.lam))

    def diagonal(self):
        """``diag G``, shape ``(D,)``."""
        return self.inner.diagonal()

    def as_matrix(self, *, max_dense_dim=None):
        """Dense ``G`` (small ``D`` only)."""
        return self.inner.as_matrix(max_dense_dim=max_dense_dim)
