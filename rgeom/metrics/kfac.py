"""K-FAC: a Kronecker-factored Fisher / GGN metric for dense and 2-D convolution layers.

For a layer ``s = W̄ ā`` in homogeneous coordinates (``W̄ = [W | b]``, ``ā = (a; 1)``) the block of
the metric on ``W̄`` is ``A ⊗ S`` with ``A = E[ā āᵀ]`` and ``S = E[g gᵀ]``, where ``g`` runs over the
back-propagated columns of a factor ``B`` of the output-space matrix (``Λ = B Bᵀ`` for the exact
Fisher / GGN, sampled gradients for the Monte-Carlo Fisher, label gradients for the empirical
Fisher). As a quadratic form ``‖V‖² = Σ_layers tr(V̄ᵀ S V̄ A)``: a genuine metric (Luk & Grosse),
invariant under affine maps of activations and pre-activations — Dinh rescaling included —
without damping. Convolutions (KFC, Grosse & Martens 2016) use input patches: ``A`` averages
``ā āᵀ`` over samples and positions, ``S`` sums ``g gᵀ`` over positions ("expand").

At a point both factors are eigendecomposed once (float64): products, exact solves, log-dets and
the whitening ``G^{+1/2}`` then cost two small matrix products per layer. A factor's eigenvalues
``≤ rank_rtol · max`` are its kernel; the kernel of ``A ⊗ S`` (pairs with a zero factor: the softmax
shift, dead units, constant inputs) is handled as a pseudo-inverse and counted in ``kernel_dim``.
Damping ``G + δI`` keeps the Kronecker eigenbasis (exact) but breaks invariance.
"""

import numpy as np

from .._checks import check_dense_size
from ..errors import NotPositiveDefiniteError
from .base import Metric, MetricAt
from .fisher import EmpiricalFisher, Fisher, GGN, _check_damping, _problem, linearize

_SOURCES = ("exact", "mc", "empirical", "ggn")


class KFAC(Metric):
    """The K-FAC metric of a model on data (dense and ``Conv2d`` layers).

    Parameters
    ----------
    model : Model or Problem
        With declared layers covering every parameter (:func:`rgeom.models.from_torch` finds
        ``nn.Linear`` / ``nn.Conv2d``; :func:`rgeom.models.mlp` declares its own).
    loss, data : see :class:`rgeom.metrics.fisher.GGN`.
    fisher : {"exact", "mc", "empirical", "ggn"}
        Which output-space matrix is factored: the exact Fisher (= GGN for named losses), a
        Monte-Carlo Fisher with ``mc_samples`` seeded draws, or the empirical Fisher.
    damping : float
        ``δ ≥ 0``: ``G + δ I`` (exact in the Kronecker eigenbasis). **Breaks invariance.**
    rank_rtol : float, optional
        Kernel threshold per factor, relative to the largest eigenvalue of the Jacobi-equilibrated
        factor (default ``n · eps`` of the model dtype, ``n`` the factor size — NumPy's
        matrix-rank rule; equilibration makes the rank independent of coordinate scalings).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.metrics.kfac import KFAC
    >>> X = np.random.default_rng(0).normal(size=(20, 3)); Y = np.random.default_rng(1).normal(size=(20, 2))
    >>> lin = mlp([3, 2], activation="identity")           # one linear layer + MSE: K-FAC is exact
    >>> G = KFAC(lin, "mse", (X, Y)).at(lin.theta)
    >>> from rgeom.metrics.fisher import GGN
    >>> bool(np.allclose(G.as_matrix(), GGN(lin, "mse", (X, Y)).at(lin.theta).as_matrix(), atol=1e-14))
    True
    >>> G.kernel_dim, bool(np.allclose(G.mv(G.solve(np.ones(8))), np.ones(8)))
    (0, True)
    """

    def __init__(self, model, loss=None, data=None, *, fisher="exact", mc_samples=1, seed=0,
                 damping=0.0, rank_rtol=None, batch_size=None, progress=None):
        if fisher not in _SOURCES:
            raise ValueError(f"KFAC: fisher must be one of {_SOURCES}, got {fisher!r}.")
        prob = _problem(model, loss, data, batch_size, progress)
        if fisher == "mc":
            src = Fisher(prob, mc_samples=mc_samples, seed=seed, cache=False)
        elif fisher == "empirical":
            src = EmpiricalFisher(prob, cache=False)
        elif fisher == "exact":
            src = Fisher(prob, cache=False)
        else:
            src = GGN(prob, cache=False)
        self.source, self.fisher, self.problem = src, fisher, prob
        self.dim, self.backend = prob.dim, prob.backend.name
        self.damping = _check_damping(damping)
        self.rank_rtol = rank_rtol
        layers = prob.model.layers
        if not layers:
            raise TypeError(
                f"KFAC: model {prob.model.name!r} declares no dense / conv layers; K-FAC needs them "
                "(use rgeom.models.from_torch with nn.Linear / nn.Conv2d, or rgeom.models.mlp)."
            )
        covered = set()
        for L in layers:
            covered.update(n for n in (L.weight, L.bias) if n is not None)
        missing = [n for n in prob.model.layout.names if n not in covered]
        if missing:
            raise TypeError(f"KFAC: parameters {missing} belong to no dense / conv layer; K-FAC covers "
                            "nn.Linear and nn.Conv2d (groups=1) only.")

    # -- factors ---------------------------------------------------------------------------
    def factors(self, theta):
        """Per-layer Kronecker factors ``[(A, S), ...]`` at ``theta`` (backend arrays, differentiable).

        ``A``: ``(n_in + 1, n_in + 1)`` (``+1`` with a bias), ``S``: ``(n_out, n_out)``.
        """
        prob = self.problem
        if prob.backend.name == "jax" and not _is_tracer(theta):
            import jax

            if getattr(self, "_jit_factors", None) is None:  # one compiled pass, not op by op
                self._jit_factors = jax.jit(lambda th, batches: self._factors(th, batches))
            return self._jit_factors(theta, [(X, T, n) for X, T, n in prob.batches])
        return self._factors(theta, prob.iterate("K-FAC factors"))

    def _factors(self, theta, batches):
        prob, src = self.problem, self.source
        bk, model = prob.backend, prob.model
        xp = bk.xp
        layers = model.layers
        As, Ss = [0.0] * len(layers), [0.0] * len(layers)
        for b, (X, T, n) in enumerate(batches):
            acts, shapes = {}, {}

            def record(l, a, s):
                acts[l], shapes[l] = a, tuple(s.shape)
                return s

            F = model.apply(theta, X, tap=record)
            B = src._factor(F, T, src._extra(F, T, b))
            sizes = [int(np.prod(shapes[l])) for l in range(len(layers))]
            offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

            def add(l, a, s, eps_box):
                return s + eps_box[0][offs[l]:offs[l + 1]].reshape(shapes[l])

            def f(eps):
                box = [eps]
                return model.apply(theta, X, tap=lambda l, a, s: add(l, a, s, box))

            eps0 = bk.asarray(np.zeros(int(offs[-1]), dtype=_np_dtype(model.dtype)))
            _, _, vjp = linearize(bk, f, eps0)
            for l, L in enumerate(layers):
                As[l] = As[l] + _input_second_moment(bk, L, acts[l])
            for k in range(int(B.shape[2])):
                g = vjp(B[:, :, k])
                for l, L in enumerate(layers):
                    gl = g[offs[l]:offs[l + 1]].reshape(shapes[l])
                    if L.kind == "conv2d":  # (n, out, H, W) -> (n·P, out)
                        gl = xp.reshape(xp.einsum("nchw->nhwc", gl), (-1, shapes[l][1]))
                    Ss[l] = Ss[l] + gl.T @ gl
        return [(A / prob.n, S / prob.n) for A, S in zip(As, Ss)]

    def matvec(self, theta, u):
        """``G(θ) u`` from freshly computed factors (differentiable in ``theta``)."""
        xp = self.problem.backend.xp
        fac = self.factors(theta)
        return _assemble(self.problem.model, xp, u, [lambda V, A=A, S=S: S @ V @ A for A, S in fac],
                         self.damping)

    def at(self, theta):
        """The K-FAC metric at ``theta``: eigendecomposed factors (:class:`KFACAt`)."""
        theta = self._check_point(theta)
        bk = self.problem.backend
        fac = [(bk.to_numpy(A).astype(np.float64), bk.to_numpy(S).astype(np.float64)) for A, S in self.factors(theta)]
        return KFACAt(theta, bk, self.problem.model, fac, damping=self.damping, rank_rtol=self.rank_rtol)

    def __repr__(self):
        extra = f", damping={self.damping:g}" if self.damping else ""
        return f"KFAC({self.problem.model.name}, fisher={self.fisher!r}{extra})"


def _is_tracer(x):
    return "Tracer" in type(x).__name__


def _np_dtype(dtype):
    return np.dtype(str(dtype).replace("torch.", ""))


def _input_second_moment(bk, L, a):
    """``Σ ā āᵀ`` over the samples (and ``/P`` patches) of one batch."""
    xp = bk.xp
    if L.kind == "conv2d":
        from ..models.torch_adapter import _unfold

        cols = _unfold(a, L.conv)  # (n, P, cin·kh·kw)
        P = cols.shape[1]
        a2 = xp.reshape(cols, (-1, cols.shape[2]))
        scale = 1.0 / P
    else:
        a2 = xp.reshape(a, (a.shape[0], -1))
        scale = 1.0
    if L.bias is not None:
        a2 = xp.concatenate([a2, xp.ones_like(a2[:, :1])], 1)
    return scale * (a2.T @ a2)


def _blocks(model, L, u):
    """The homogeneous weight block ``V̄ = [W | b]`` (out, in(+1)) of layer ``L`` in vector ``u``."""
    lay = model.layout
    W = u[lay.index(L.weight)]
    out = lay.shapes[lay.names.index(L.weight)][0]
    W = W.reshape((out, -1))
    if L.bias is None:
        return W
    b = u[lay.index(L.bias)].reshape((out, 1))
    return model.backend.xp.concatenate([W, b], 1)


def _assemble(model, xp, u, ops, damping=0.0):
    """Apply ``ops[l]`` to each layer block of ``u`` and pack the results in layout order."""
    pieces = {}
    for L, op in zip(model.layers, ops):
        R = op(_blocks(model, L, u))
        n_w = R.shape[1] - (1 if L.bias is not None else 0)
        pieces[L.weight] = xp.reshape(R[:, :n_w], (-1,))
        if L.bias is not None:
            pieces[L.bias] = R[:, n_w]
    out = xp.concatenate([pieces[n] for n in model.layout.names])
    if isinstance(damping, (int, float)) and damping == 0:
        return out
    return out + damping * u


def _eig_with_kernel(M, eps, rank_rtol):
    """Eigenpairs of a PSD factor and its kernel mask (ascending; kernel eigenvalues set to 0).

    The rank is decided on the Jacobi-equilibrated factor ``D^{-1/2} M D^{-1/2}`` (zero-diagonal
    coordinates are kernel outright), so it does not change when coordinates are rescaled — e.g.
    the hidden units of a Dinh-rescaled layer — and the kernel is then the span of ``M``'s
    smallest eigenvectors of that count.
    """
    M = 0.5 * (M + M.T)
    n = M.shape[0]
    lam, Q = np.linalg.eigh(M)
    d = np.diag(M).copy()
    live = d > 0
    rtol = n * eps if rank_rtol is None else float(rank_rtol)
    rank = 0
    if live.any():
        s = 1.0 / np.sqrt(d[live])
        mu = np.linalg.eigvalsh(M[np.ix_(live, live)] * s[:, None] * s[None, :])
        rank = int(np.sum(mu > rtol * max(mu[-1], 0.0)))
    if lam[0] < -1e3 * rtol * max(abs(lam[-1]), np.finfo(float).tiny):
        raise NotPositiveDefiniteError(f"K-FAC factor is not positive semi-definite (eigenvalue {lam[0]:.3g}).")
    kernel = np.arange(n) < n - rank
    return np.where(kernel, 0.0, lam), Q, kernel


class KFACAt(MetricAt):
    """K-FAC at one point: ``⊕_layers A ⊗ S (+ δI)`` with eigendecomposed factors.

    ``mv`` is the exact Kronecker product; ``solve`` is ``G⁺`` (pseudo-inverse on the kernel),
    ``whiten`` ``G^{+1/2}``, ``unwhiten`` ``G^{1/2}``, ``project`` the orthogonal projector on the
    range, ``logdet`` the log (pseudo-)determinant, ``kernel_dim`` the kernel's dimension.

    Attributes
    ----------
    factors : list of (A, S)
        float64 NumPy factors per layer.
    kernel_dim : int
    damping : float
    """

    tags = frozenset({"kronecker", "psd"})

    def __init__(self, point, backend, model, factors, *, damping=0.0, rank_rtol=None):
        super().__init__(point, backend)
        self.model, self.factors = model, factors
        self.damping = _check_damping(damping)
        self.rank_rtol = rank_rtol
        self._dtype = backend.to_numpy(point).dtype
        eps = np.finfo(np.float32 if self._dtype == np.float32 else np.float64).eps
        self._eig, self._arrays = [], []
        kdim = 0
        for A, S in factors:
            for name, M in (("A", A), ("S", S)):
                if not np.all(np.isfinite(M)):
                    raise NotPositiveDefiniteError(f"K-FAC factor {name} has non-finite entries.")
            la, Qa, za = _eig_with_kernel(A, eps, rank_rtol)
            ls, Qs, zs = _eig_with_kernel(S, eps, rank_rtol)
            lam = ls[:, None] * la[None, :] + self.damping  # eigenvalues of the block, (out, in)
            kernel = (zs[:, None] | za[None, :]) if not self.damping else np.zeros(lam.shape, bool)
            kdim += int(kernel.sum())
            safe = np.where(kernel, 1.0, lam)
            to = lambda x: backend.asarray(np.ascontiguousarray(x).astype(self._dtype))  # noqa: E731
            self._eig.append({"lam": lam, "kernel": kernel})
            self._arrays.append({
                "Qa": to(Qa), "Qs": to(Qs), "A": to(A), "S": to(S),
                "inv": to(np.where(kernel, 0.0, 1.0 / safe)),
                "isqrt": to(np.where(kernel, 0.0, 1.0 / np.sqrt(safe))),
                "sqrt": to(np.where(kernel, 0.0, np.sqrt(np.clip(lam, 0.0, None)))),
                "range": to((~kernel).astype(np.float64)),
            })
        self.kernel_dim = kdim

    def _run(self, key, x):
        x = self._check_arg(x, "x")
        if self.backend.name != "jax":
            return self._apply(key, x, self._arrays)
        import jax

        cache = self.model.__dict__.setdefault("_kfac_jit", {})
        if key not in cache:  # compiled once per model and operation
            cache[key] = jax.jit(lambda x, arrays, damping, at=self, key=key: at._apply(key, x, arrays, damping))
        return cache[key](x, self._arrays, self.damping)

    def _apply(self, key, x, arrays, damping=None):
        damping = self.damping if damping is None else damping
        if key == "mv":
            return _assemble(self.model, self.backend.xp, x, [lambda V, d=d: d["S"] @ V @ d["A"] for d in arrays],
                             damping)
        return _assemble(self.model, self.backend.xp, x,
                         [lambda V, d=d: d["Qs"] @ ((d["Qs"].T @ V @ d["Qa"]) * d[key]) @ d["Qa"].T for d in arrays])

    def _spectral(self, x, key):
        return self._run(key, x)

    def mv(self, u):
        """``G u`` (exact Kronecker products), shape ``(D,)``."""
        return self._run("mv", u)

    def solve(self, w):
        """``G⁺ w``: the inverse on the range, zero on the kernel."""
        return self._spectral(w, "inv")

    def whiten(self, x):
        """``G^{+1/2} x`` (symmetric)."""
        return self._spectral(x, "isqrt")

    def unwhiten(self, x):
        """``G^{1/2} x`` (symmetric)."""
        return self._spectral(x, "sqrt")

    def project(self, x):
        """Orthogonal projection onto the range of ``G``."""
        return self._spectral(x, "range")

    def logdet(self):
        """``log det G`` on the range (log pseudo-determinant when ``kernel_dim > 0``), float."""
        return float(sum(np.sum(np.log(d["lam"][~d["kernel"]])) for d in self._eig))

    def diagonal(self):
        """``diag G`` (backend array, ``(D,)``)."""
        ones = self.backend.asarray(np.ones(self.dim, dtype=self._dtype))
        xp = self.backend.xp
        return _assemble(self.model, xp, ones,
                         [lambda V, d=d: xp.diag(d["S"])[:, None] * xp.diag(d["A"])[None, :] * V
                          for d in self._arrays], self.damping)

    def eigenvalues(self):
        """All eigenvalues of ``G`` (NumPy, ``(D,)``, unsorted): products ``λ_S λ_A (+δ)``."""
        return np.concatenate([d["lam"].ravel() for d in self._eig])

    def as_matrix(self, *, max_dense_dim=None):
        check_dense_size(self.dim, max_dense_dim, "KFACAt.as_matrix")
        return super().as_matrix(max_dense_dim=max_dense_dim)

    def damped(self, delta):
        """``G + δI`` at the same point (no kernel; breaks invariance)."""
        return KFACAt(self.point, self.backend, self.model, self.factors,
                      damping=self.damping + _check_damping(delta), rank_rtol=self.rank_rtol)

    def __repr__(self):
        return f"KFACAt(D={self.dim}, layers={len(self.factors)}, kernel_dim={self.kernel_dim}, damping={self.damping:g})"
