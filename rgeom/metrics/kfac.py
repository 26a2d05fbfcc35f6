"""K-FAC: the Kronecker-factored metric of a network, and its natural gradient (the K-FAC update).

For a dense or 2-D convolution layer ``s = W̄ ā`` in homogeneous coordinates (``W̄ = [W | b]``,
``ā = (a; 1)``) the block of the metric on ``W̄`` is ``A ⊗ S`` with ``A = E[ā āᵀ]`` and
``S = E[g gᵀ]``, where ``g`` runs over the back-propagated columns of a factor ``B`` of the
output-space matrix (``Λ = B Bᵀ`` for the exact Fisher / GGN, sampled gradients for the
Monte-Carlo Fisher, label gradients for the empirical Fisher). As a quadratic form

    ‖V‖²_G = Σ_layers tr(V̄ᵀ S V̄ A),

a genuine Riemannian metric (Luk & Grosse 2018) whose natural gradient is, layer by layer, the
K-FAC update ``S⁻¹ ∇_W̄ L A⁻¹`` (:meth:`KFACAt.natural_gradient`): K-FAC is the *exact* natural
gradient of this metric. Under affine maps of a layer's inputs ``ā ↦ Ω ā`` and pre-activations
``s ↦ Φ s + d`` (:mod:`rgeom.maps.activations`) the factors recomputed in the new coordinates are
``Ω A Ωᵀ`` and ``Φ⁻ᵀ S Φ⁻¹``: the metric is the pullback, its update maps as ``Φ ΔW̄ Ω⁻¹`` — centering,
whitening and Dinh rescaling included — without damping. Convolutions (KFC, Grosse & Martens
2016) use input patches: ``A`` averages ``ā āᵀ`` over samples and positions, ``S`` sums ``g gᵀ``
over positions ("expand").

**Damping** (all three break the invariance; ``rgeom`` measures by how much):

==============  ====================================================  =========================
``damping_kind``  metric                                              reference
==============  ====================================================  =========================
``"metric"``    ``A ⊗ S + δ I`` (Tikhonov on the full metric)         Levenberg–Marquardt
``"factors"``   ``(A + δ I) ⊗ (S + δ I)`` (Tikhonov on the factors)
``"factored"``  ``(A + π√δ I) ⊗ (S + √δ/π I)``,                        Martens & Grosse 2015 §6.3
                ``π² = (tr A / dim A) / (tr S / dim S)``
==============  ====================================================  =========================

**Kernel.** At a point both factors are eigendecomposed once (float64). Per layer, a product
then costs two small matrix products, an exact solve or the symmetric whitening ``G^{+1/2}`` four,
the spectral engine's whitening factor ``W = Q Λ^{+1/2}`` in eigen-coordinates
(:meth:`KFACAt.whiten_factor`) two, and the log-det none. A factor's eigenvalues
``≤ rank_rtol · max`` (on the Jacobi-equilibrated factor) are its kernel. One kernel is *known*
and harmless: the softmax's constant shift (cross-entropy: ``S`` of the output layer
annihilates ``1``), a symmetry of the model for every input; there the update is the
pseudo-inverse. Every other kernel — inputs constant on the data (always-zero pixels), dead or
constant units, collinear activations, too few samples — is a property of *this data set*: the
update is then not unique, and the pseudo-inverse's choice depends on the coordinates (it breaks
the invariance). Without damping :meth:`KFACAt.solve`, :meth:`~KFACAt.natural_gradient` and
:meth:`~KFACAt.logdet` then raise :class:`~rgeom.errors.NotPositiveDefiniteError` naming the layer
and factor, unless ``pinv=True`` accepts the pseudo-inverse explicitly. Operations defined on the
range (``whiten``, ``unwhiten``, ``project``, ``whiten_factor``, ``whiten_factor_t``,
``factor_project``, ``kernel_dim``: what the spectral engine of :mod:`rgeom.linalg` and
:func:`rgeom.flatness` use) always work.
"""

import numpy as np

from .._checks import check_dense_size
from ..errors import NotPositiveDefiniteError
from ..maps.activations import layer_blocks, pack_blocks
from .base import Metric, MetricAt
from .fisher import EmpiricalFisher, Fisher, GGN, _check_damping, _problem, linearize

_SOURCES = ("exact", "mc", "empirical", "ggn")
#: Damping variants (see the module docstring); every one breaks invariance.
DAMPING_KINDS = ("metric", "factors", "factored")
#: Losses whose output space has a known symmetry direction (the softmax's constant shift).
_SHIFT_LOSSES = ("cross-entropy",)


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
        ``δ ≥ 0`` (default 0). **Breaks invariance.**
    damping_kind : {"metric", "factors", "factored"}
        ``A⊗S + δI``, ``(A+δI)⊗(S+δI)`` or the π-rule ``(A+π√δI)⊗(S+√δ/πI)`` (module docstring).
    pinv : bool
        Accept the pseudo-inverse (in :meth:`KFACAt.solve`, ``natural_gradient``, ``logdet``)
        when a factor is singular beyond the softmax shift; default ``False`` raises instead.
    rank_rtol : float, optional
        Kernel threshold per factor, relative to the largest eigenvalue of the Jacobi-equilibrated
        factor (default ``n · eps`` of the model dtype, ``n`` the factor size — NumPy's
        matrix-rank rule; equilibration makes the rank independent of coordinate scalings).

    Raises
    ------
    TypeError
        A parameter outside every dense / ``Conv2d`` layer (e.g. of an ``nn.LSTM`` or
        ``nn.Conv1d``): the message names that layer.

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
    >>> KFAC(lin, "mse", (X, Y), damping=1e-3, damping_kind="factored")
    KFAC(mlp(3-2, identity), fisher='exact', damping=0.001 (factored))
    """

    def __init__(self, model, loss=None, data=None, *, fisher="exact", mc_samples=1, seed=0,
                 damping=0.0, damping_kind="metric", pinv=False, rank_rtol=None, batch_size=None,
                 progress=None):
        if fisher not in _SOURCES:
            raise ValueError(f"KFAC: fisher must be one of {_SOURCES}, got {fisher!r}.")
        if damping_kind not in DAMPING_KINDS:
            raise ValueError(f"KFAC: damping_kind must be one of {DAMPING_KINDS}, got {damping_kind!r}.")
        if not isinstance(pinv, (bool, np.bool_)):
            raise TypeError(f"KFAC: pinv must be True or False, got {pinv!r}.")
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
        self.damping_kind, self.pinv = damping_kind, bool(pinv)
        self.rank_rtol = rank_rtol
        self._settings = dict(fisher=fisher, mc_samples=mc_samples, seed=seed, damping=damping,
                              damping_kind=damping_kind, pinv=pinv, rank_rtol=rank_rtol)
        _check_layers(prob.model)

    def with_model(self, model):
        """The same recipe (loss, data, Fisher type, damping, kernel rule) on another model.

        For a reparametrized network, e.g. :meth:`rgeom.maps.ActivationAffine.transformed_model`:
        the K-FAC metric then is computed natively in the new coordinates.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp
        >>> net = mlp([3, 2], activation="identity")
        >>> rng = np.random.default_rng(0)
        >>> G = KFAC(net, "mse", (rng.normal(size=(10, 3)), rng.normal(size=(10, 2))), damping=1e-3)
        >>> G2 = G.with_model(mlp([3, 2], activation="identity"))
        >>> G2.damping, G2.fisher, G2.problem.n == G.problem.n
        (0.001, 'exact', True)
        """
        return KFAC(self.problem.with_model(model), **self._settings)

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

            def f(eps):  # outputs as a function of a perturbation of every layer's pre-activation
                return model.apply(theta, X, tap=lambda l, a, s: s + eps[l])

            dtype = _np_dtype(model.dtype)
            eps0 = tuple(bk.asarray(np.zeros(shapes[l], dtype=dtype)) for l in range(len(layers)))
            _, _, vjp = linearize(bk, f, eps0)
            # every column of B pulled back at once: per layer (K, n, out[, H, W])
            g = _batched_vjp(bk, vjp, xp.einsum("nok->kno", B))
            for l, L in enumerate(layers):
                As[l] = As[l] + _input_second_moment(bk, L, acts[l])
                gl = g[l]
                if L.kind == "conv2d":  # (K, n, out, H, W) -> (K, n, H, W, out): positions as rows
                    gl = xp.einsum("knchw->knhwc", gl)
                gl = xp.reshape(gl, (-1, shapes[l][1]))  # (K·n[·P], out)
                Ss[l] = Ss[l] + gl.T @ gl  # one Gram over columns × samples (× positions)
        return [(A / prob.n, S / prob.n) for A, S in zip(As, Ss)]

    def matvec(self, theta, u):
        """``G(θ) u`` from freshly computed factors, damping included; differentiable in ``theta``.

        This is what :func:`rgeom.metrics.hessian_correction` differentiates (the Christoffel
        term of the K-FAC metric): autograd, JAX and torch all trace through the factor pass.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp
        >>> X = np.random.default_rng(0).normal(size=(10, 2)); Y = np.ones((10, 1))
        >>> net = mlp([2, 2, 1], activation="tanh")
        >>> K = KFAC(net, "gaussian", (X, Y), damping=0.1, damping_kind="factors")
        >>> u = np.ones(net.dim)
        >>> bool(np.allclose(K.matvec(net.theta, u), K.at(net.theta).mv(u), rtol=1e-12))
        True
        """
        xp = self.problem.backend.xp
        ops = []
        for A, S in self.factors(theta):
            gA, gS, _ = _shifts(xp, self.damping_kind, self.damping, A, S)
            ops.append(lambda V, A=A, S=S, gA=gA, gS=gS: _damped_product(A, S, V, gA, gS))
        return _assemble(self.problem.model, xp, u, ops, self.damping if self.damping_kind == "metric" else 0.0)

    def at(self, theta):
        """The K-FAC metric at ``theta``: eigendecomposed factors (:class:`KFACAt`)."""
        theta = self._check_point(theta)
        bk = self.problem.backend
        fac = [(bk.to_numpy(A).astype(np.float64), bk.to_numpy(S).astype(np.float64)) for A, S in self.factors(theta)]
        return KFACAt(theta, bk, self.problem.model, fac, damping=self.damping, damping_kind=self.damping_kind,
                      pinv=self.pinv, rank_rtol=self.rank_rtol, known_kernels=_known_kernels(self.problem))

    def natural_gradient(self, theta, grad):
        """The K-FAC update direction ``⊕_l S_l⁻¹ ∇_{W̄_l} L A_l⁻¹`` at ``theta``, shape ``(D,)``.

        See :meth:`KFACAt.natural_gradient`; one K-FAC step is ``θ − η · natural_gradient(θ, ∇L)``.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import Problem, mlp
        >>> rng = np.random.default_rng(0); X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 1))
        >>> prob = Problem(mlp([2, 1], activation="identity"), "gaussian", (X, Y))
        >>> th = prob.model.theta
        >>> new = th - KFAC(prob).natural_gradient(th, prob.gradient(th))  # one unit step: least squares
        >>> bool(np.allclose(new, np.linalg.lstsq(np.c_[X, np.ones(20)], Y[:, 0], rcond=None)[0]))
        True
        """
        return self.at(theta).natural_gradient(grad)

    def __repr__(self):
        extra = ""
        if self.damping:
            extra = f", damping={self.damping:g}" + ("" if self.damping_kind == "metric" else f" ({self.damping_kind})")
        if self.pinv:
            extra += ", pinv=True"
        return f"KFAC({self.problem.model.name}, fisher={self.fisher!r}{extra})"


def _check_layers(model):
    """Every parameter must belong to a dense / conv2d layer; name the layer that does not."""
    layers = model.layers
    if not layers:
        raise TypeError(
            f"KFAC: model {model.name!r} declares no dense / conv layers; K-FAC needs them "
            "(use rgeom.models.from_torch with nn.Linear / nn.Conv2d, or rgeom.models.mlp)."
        )
    for l, L in enumerate(layers):
        if L.kind not in ("dense", "conv2d"):
            raise TypeError(f"KFAC: layer {l} ({L.weight!r}) has kind {L.kind!r}; K-FAC supports 'dense' "
                            "and 'conv2d' layers only.")
    covered = set()
    for L in layers:
        covered.update(n for n in (L.weight, L.bias) if n is not None)
    missing = [n for n in model.layout.names if n not in covered]
    if missing:
        groups = {}
        for n in missing:
            groups.setdefault(n.rsplit(".", 1)[0] if "." in n else n, []).append(n)
        kinds = getattr(model, "unsupported_layers", None) or {}
        named = "; ".join(
            f"layer {k!r}" + (f" ({kinds[k]})" if k in kinds else "") + f" with parameters {v}"
            for k, v in groups.items()
        )
        raise TypeError(
            f"KFAC: model {model.name!r} has parameters outside every dense / conv layer: {named}. "
            "K-FAC supports nn.Linear and nn.Conv2d (groups=1, zero padding) only — not e.g. "
            "nn.Conv1d, nn.LSTM, normalisation or embedding layers (freeze them, or use the "
            "Fisher / GGN metrics, which need no layer structure)."
        )


def _known_kernels(prob):
    """``{layer: orthonormal basis}`` of the known kernel of the factors ``S``: the softmax shift.

    For cross-entropy the output-space matrix annihilates ``1`` at every input; it is the kernel
    of ``S`` of the last declared layer when that layer writes the network's outputs (its output
    width equals the number of outputs).
    """
    model = prob.model
    if getattr(prob.loss, "name", None) not in _SHIFT_LOSSES or not model.layers:
        return {}
    last = len(model.layers) - 1
    L = model.layers[last]
    n_out = model.layout.shapes[model.layout.names.index(L.weight)][0]
    if prob.n_out is None or n_out != prob.n_out:
        return {}
    return {last: np.ones((n_out, 1)) / np.sqrt(n_out)}


def _shifts(xp, kind, delta, A, S):
    """``(γ_A, γ_S, metric shift)`` of one layer for a damping variant (backend scalars)."""
    if not delta or kind == "metric":
        return 0.0, 0.0, (delta if kind == "metric" else 0.0)
    if kind == "factors":
        return delta, delta, 0.0
    tiny = float(np.finfo(np.float32).tiny)
    pi = xp.sqrt((xp.sum(xp.diag(A)) / A.shape[0] + tiny) / (xp.sum(xp.diag(S)) / S.shape[0] + tiny))
    root = float(np.sqrt(delta))
    return pi * root, root / pi, 0.0


def _damped_product(A, S, V, gA, gS):
    """``(S + γ_S I) V (A + γ_A I)`` without forming the identities."""
    T = S @ V
    if not _is_zero(gS):
        T = T + gS * V
    return T @ A + gA * T if not _is_zero(gA) else T @ A


def _batched_vjp(bk, vjp, cols):
    """``vjp`` of every ``cols[k]``: per input leaf, the ``K`` results stacked ``(K, ...)``.

    ``vjp`` maps an output cotangent to a tuple of input cotangents. Under JAX one vectorized
    (``vmap``) pull-back whose matrix products run on ``K`` times taller operands (1.7× faster than
    ``K`` sequential ones on the benchmark MLP); torch's ``vmap`` measured no faster than the loop
    (eager kernels), and autograd has none: both loop. Differentiable on every backend (the
    Christoffel term differentiates the factor pass).
    """
    if bk.name == "jax":
        import jax

        return jax.vmap(vjp)(cols)
    outs = [vjp(cols[k]) for k in range(int(cols.shape[0]))]
    return tuple(bk.xp.stack(parts) for parts in zip(*outs))


def _is_zero(x):
    return isinstance(x, (int, float)) and x == 0


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


def _assemble(model, xp, u, ops, damping=0.0):
    """Apply ``ops[l]`` to each layer block of ``u`` and pack the results in layout order."""
    out = pack_blocks(model, [op(B) for op, B in zip(ops, layer_blocks(model, u))])
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
    """K-FAC at one point: ``⊕_layers (A + γ_A I) ⊗ (S + γ_S I) (+ δI)`` with eigendecomposed factors.

    ``mv`` is the exact Kronecker product; ``solve`` / :meth:`natural_gradient` the exact inverse
    (the K-FAC update; the pseudo-inverse along the softmax shift, and elsewhere only with
    ``pinv=True``); ``whiten`` ``G^{+1/2}``, ``unwhiten`` ``G^{1/2}``, ``project`` the orthogonal
    projector on the range, ``logdet`` the log (pseudo-)determinant, ``kernel_dim`` the kernel's
    dimension; :meth:`whiten_factor` / :meth:`whiten_factor_t` / :meth:`factor_project` the
    non-symmetric factor ``W = Q Λ^{+1/2}`` of ``G⁺`` in eigen-coordinates (half the cost of
    ``whiten``), its transpose and its range mask: the factor :func:`rgeom.linalg.from_metric_at`
    hands the spectral engine.

    Attributes
    ----------
    factors : list of (A, S)
        float64 NumPy factors per layer, undamped.
    kernel_dim : int
        Dimension of the kernel of the (undamped) metric; 0 when damped.
    unexplained_kernel : list of dict
        The kernel beyond the softmax shift, per layer and factor: ``{"layer", "weight",
        "factor" ("A" or "S"), "dim"}``; empty when damped or when every kernel direction is known.
    damping, damping_kind, pinv
        As in :class:`KFAC`.
    shift : float
        Extra ``δ I`` added by :meth:`damped`.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> rng = np.random.default_rng(0); X, y = rng.normal(size=(30, 2)), np.arange(30) % 3
    >>> net = mlp([2, 3], activation="identity")
    >>> G = KFAC(net, "cross-entropy", (X, y)).at(net.theta)
    >>> G.kernel_dim, G.unexplained_kernel          # the softmax shift ⊗ the 3 input directions
    (3, [])
    >>> w = G.unwhiten(rng.normal(size=9))           # a vector in the range
    >>> bool(np.allclose(G.mv(G.solve(w)), w)), bool(np.allclose(G.project(w), w))
    (True, True)
    >>> X[:, 1] = 0.0                                # an always-zero input: a kernel of the data
    >>> G = KFAC(net, "cross-entropy", (X, y)).at(net.theta)
    >>> G.unexplained_kernel
    [{'layer': 0, 'weight': '0.weight', 'factor': 'A', 'dim': 1}]
    >>> G.solve(w)
    Traceback (most recent call last):
    ...
    rgeom.errors.NotPositiveDefiniteError: KFACAt.solve: the K-FAC metric is singular beyond ...
    >>> KFAC(net, "cross-entropy", (X, y), pinv=True).at(net.theta).solve(w).shape
    (9,)
    """

    tags = frozenset({"kronecker", "psd"})

    def __init__(self, point, backend, model, factors, *, damping=0.0, damping_kind="metric", pinv=False,
                 rank_rtol=None, known_kernels=None, shift=0.0):
        super().__init__(point, backend)
        if damping_kind not in DAMPING_KINDS:
            raise ValueError(f"KFACAt: damping_kind must be one of {DAMPING_KINDS}, got {damping_kind!r}.")
        self.model, self.factors = model, factors
        self.damping = _check_damping(damping)
        self.damping_kind, self.pinv = damping_kind, bool(pinv)
        self.shift = _check_damping(shift)
        self.rank_rtol = rank_rtol
        self._known = dict(known_kernels or {})
        self._dtype = backend.to_numpy(point).dtype
        eps = np.finfo(np.float32 if self._dtype == np.float32 else np.float64).eps
        mshift = self.shift + (self.damping if damping_kind == "metric" else 0.0)
        self._mshift = mshift
        regular = bool(mshift) or (bool(self.damping) and damping_kind != "metric")
        self._eig, self._arrays, self.unexplained_kernel = [], [], []
        self._factor_range = None
        kdim = 0
        for l, (A, S) in enumerate(factors):
            for name, M in (("A", A), ("S", S)):
                if not np.all(np.isfinite(M)):
                    raise NotPositiveDefiniteError(f"K-FAC factor {name} of layer {l} has non-finite entries.")
            la, Qa, za = _eig_with_kernel(A, eps, rank_rtol)
            ls, Qs, zs = _eig_with_kernel(S, eps, rank_rtol)
            gA, gS, _ = _shifts(np, damping_kind, self.damping, A, S)
            gA, gS = float(gA), float(gS)
            lam = (ls + gS)[:, None] * (la + gA)[None, :] + mshift  # eigenvalues of the block, (out, in)
            kernel = (zs[:, None] | za[None, :]) if not regular else np.zeros(lam.shape, bool)
            kdim += int(kernel.sum())
            if not regular:
                self._classify(l, za, Qs, zs)
            safe = np.where(kernel, 1.0, lam)
            to = lambda x: backend.asarray(np.ascontiguousarray(x).astype(self._dtype))  # noqa: E731
            self._eig.append({"lam": lam, "kernel": kernel})
            self._arrays.append({
                "Qa": to(Qa), "Qs": to(Qs), "A": to(A + gA * np.eye(len(A))), "S": to(S + gS * np.eye(len(S))),
                "inv": to(np.where(kernel, 0.0, 1.0 / safe)),
                "isqrt": to(np.where(kernel, 0.0, 1.0 / np.sqrt(safe))),
                "sqrt": to(np.where(kernel, 0.0, np.sqrt(np.clip(lam, 0.0, None)))),
                "range": to((~kernel).astype(np.float64)),
            })
        self.kernel_dim = kdim

    def _classify(self, l, za, Qs, zs):
        """Record the kernel of layer ``l`` that is not the known softmax shift."""
        L = self.model.layers[l]
        if za.any():
            self.unexplained_kernel.append({"layer": l, "weight": L.weight, "factor": "A", "dim": int(za.sum())})
        n_s = int(zs.sum())
        if n_s:
            known = 0
            if l in self._known:  # dimension of (known directions) ∩ kernel of S
                sv = np.linalg.svd(self._known[l].T @ Qs[:, zs], compute_uv=False)
                known = int(np.sum(sv > 1.0 - 1e-6))
            if n_s > known:
                self.unexplained_kernel.append({"layer": l, "weight": L.weight, "factor": "S", "dim": n_s - known})

    @property
    def exact_solve(self):
        """Whether :meth:`solve` gives an answer (False: singular beyond the softmax shift, ``pinv=False``)."""
        return self.pinv or not self.unexplained_kernel

    def _require_regular(self, what):
        if self.exact_solve:
            return
        parts = []
        for e in self.unexplained_kernel:
            why = ("input activations: inputs constant or collinear on the data (e.g. always-zero pixels), "
                   "or dead units of the previous layer" if e["factor"] == "A" else
                   "back-propagated gradients: dead units, or output directions the loss ignores")
            parts.append(f"layer {e['layer']} ({e['weight']!r}) factor {e['factor']} has a kernel of "
                         f"dimension {e['dim']} ({why})")
        raise NotPositiveDefiniteError(
            f"KFACAt.{what}: the K-FAC metric is singular beyond the softmax's constant shift: "
            + "; ".join(parts) + ". The K-FAC update S⁻¹ ∇W A⁻¹ is then not unique and the "
            "pseudo-inverse's choice depends on the coordinates (not invariant). Use damping > 0, "
            "pass pinv=True to KFAC to accept the pseudo-inverse explicitly, or remove those "
            "inputs / units. (whiten, project and kernel_dim work on the metric's range.)"
        )

    def _run(self, key, x):
        x = self._check_arg(x, "x")
        if self.backend.name != "jax":
            return self._apply(key, x, self._arrays)
        import jax

        cache = self.model.__dict__.setdefault("_kfac_jit", {})
        if key not in cache:  # compiled once per model and operation
            cache[key] = jax.jit(lambda x, arrays, shift, at=self, key=key: at._apply(key, x, arrays, shift))
        return cache[key](x, self._arrays, self._mshift)

    def _apply(self, key, x, arrays, shift=None):
        shift = self._mshift if shift is None else shift
        if key == "mv":
            return _assemble(self.model, self.backend.xp, x, [lambda V, d=d: d["S"] @ V @ d["A"] for d in arrays],
                             shift)
        block = {  # per layer block: the eigen-coordinate factor W = Q Λ^{+1/2}, Wᵀ, and the range mask
            "factor": lambda Y, d: d["Qs"] @ (Y * d["isqrt"]) @ d["Qa"].T,
            "factor_t": lambda V, d: (d["Qs"].T @ V @ d["Qa"]) * d["isqrt"],
            "factor_range": lambda Y, d: Y * d["range"],
        }.get(key, lambda V, d: d["Qs"] @ ((d["Qs"].T @ V @ d["Qa"]) * d[key]) @ d["Qa"].T)
        return _assemble(self.model, self.backend.xp, x, [lambda V, d=d: block(V, d) for d in arrays])

    def _spectral(self, x, key):
        return self._run(key, x)

    def mv(self, u):
        """``G u`` (exact Kronecker products), shape ``(D,)``."""
        return self._run("mv", u)

    def solve(self, w):
        """``G⁻¹ w`` (the pseudo-inverse along the softmax shift, or everywhere with ``pinv=True``).

        Raises :class:`~rgeom.errors.NotPositiveDefiniteError` if the metric is singular beyond
        the softmax shift, undamped, and ``pinv`` is False.
        """
        self._require_regular("solve")
        return self._spectral(w, "inv")

    def natural_gradient(self, grad):
        """The K-FAC update direction: per layer ``S⁻¹ ∇_{W̄} L A⁻¹`` (damped factors if damped).

        The exact natural gradient ``G⁻¹ ∇L`` of the K-FAC metric (same as :meth:`solve`); a
        K-FAC step is ``θ − η · natural_gradient(∇L)``. Shape ``(D,)``, backend array.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp, Problem
        >>> from rgeom.metrics.kfac import KFAC
        >>> from rgeom.maps.activations import layer_blocks
        >>> rng = np.random.default_rng(0); X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
        >>> prob = Problem(mlp([3, 2], activation="identity"), "gaussian", (X, Y))
        >>> G = KFAC(prob).at(prob.model.theta)
        >>> g = prob.gradient()
        >>> (A, S), = G.factors
        >>> ref = np.linalg.solve(S, np.linalg.solve(A, layer_blocks(prob.model, g)[0].T).T)
        >>> bool(np.allclose(layer_blocks(prob.model, G.natural_gradient(g))[0], ref, rtol=1e-12))
        True
        """
        self._require_regular("natural_gradient")
        return self._spectral(grad, "inv")

    def whiten(self, x):
        """``G^{+1/2} x`` (symmetric; on the range)."""
        return self._spectral(x, "isqrt")

    def unwhiten(self, x):
        """``G^{1/2} x`` (symmetric)."""
        return self._spectral(x, "sqrt")

    def project(self, x):
        """Orthogonal projection onto the range of ``G``."""
        return self._spectral(x, "range")

    # -- the eigen-coordinate whitening factor (what the spectral engine uses) -------------------
    def whiten_factor(self, y):
        """``W y`` for the factor ``W = Q Λ^{+1/2}`` of ``G⁺`` (``W Wᵀ = G⁺``), shape ``(D,)``.

        ``Q = ⊕_l Q_S ⊗ Q_A`` holds the factors' eigenvectors and ``Λ`` the block eigenvalues
        (:meth:`eigenvalues`): ``y`` is a vector of *eigen-coordinates*, packed like a tangent
        vector (block ``Y_l`` of shape ``(out, in (+1))`` where the layer's ``V̄_l`` sits), and per
        layer ``W y = Q_S (Λ_l^{+1/2} ∘ Y_l) Q_Aᵀ``: two matrix products, against four for the
        symmetric :meth:`whiten` ``= W Qᵀ``. ``Wᵀ H W = Qᵀ (G^{+1/2} H G^{+1/2}) Q`` has the
        spectrum of ``G⁺H`` on the range; coordinates on the kernel (:meth:`factor_project`) are
        mapped to 0.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp
        >>> rng = np.random.default_rng(0); X, y = rng.normal(size=(30, 2)), np.arange(30) % 3
        >>> net = mlp([2, 3], activation="identity")
        >>> G = KFAC(net, "cross-entropy", (X, y)).at(net.theta)
        >>> x = rng.normal(size=9)
        >>> bool(np.allclose(G.whiten_factor(G.whiten_factor_t(x)), G.whiten(G.whiten(x))))  # W Wᵀ = G⁺
        True
        >>> z = G.whiten_factor_t(G.mv(G.whiten_factor(x)))                   # Wᵀ G W: the range mask
        >>> bool(np.allclose(z, G.factor_project(x))), int(G.factor_project(np.ones(9)).sum())
        (True, 6)
        """
        return self._spectral(y, "factor")

    def whiten_factor_t(self, x):
        """``Wᵀ x = Λ^{+1/2} Qᵀ x`` (tangent → eigen-coordinates; :meth:`whiten_factor`), ``(D,)``."""
        return self._spectral(x, "factor_t")

    def factor_project(self, y):
        """Orthogonal projector onto the range in eigen-coordinates: ``y`` times the 0/1 range mask.

        The range of ``Wᵀ`` (:meth:`whiten_factor`): zero on the ``kernel_dim`` coordinates whose
        block eigenvalue is in the kernel, the identity when the metric is regular.
        """
        return self._spectral(y, "factor_range")

    @property
    def factor_range(self):
        """The range mask of :meth:`factor_project` as a NumPy float64 ``(D,)`` vector of 0/1.

        The engine (:func:`rgeom.linalg.from_metric_at`) multiplies Krylov vectors by it directly,
        without a round trip through the backend.
        """
        if self._factor_range is None:
            ones = self.backend.asarray(np.ones(self.dim, dtype=self._dtype))
            self._factor_range = np.asarray(self.backend.to_numpy(self.factor_project(ones)), dtype=np.float64)
        return self._factor_range

    def logdet(self):
        """``log det G`` (log pseudo-determinant along the softmax shift, or with ``pinv=True``), float."""
        self._require_regular("logdet")
        return float(sum(np.sum(np.log(d["lam"][~d["kernel"]])) for d in self._eig))

    def diagonal(self):
        """``diag G`` (backend array, ``(D,)``)."""
        ones = self.backend.asarray(np.ones(self.dim, dtype=self._dtype))
        xp = self.backend.xp
        return _assemble(self.model, xp, ones,
                         [lambda V, d=d: xp.diag(d["S"])[:, None] * xp.diag(d["A"])[None, :] * V
                          for d in self._arrays], self._mshift)

    def eigenvalues(self):
        """All eigenvalues of ``G`` (NumPy, ``(D,)``, unsorted): products ``(λ_S + γ_S)(λ_A + γ_A) (+δ)``."""
        return np.concatenate([d["lam"].ravel() for d in self._eig])

    def as_matrix(self, *, max_dense_dim=None):
        check_dense_size(self.dim, max_dense_dim, "KFACAt.as_matrix")
        return super().as_matrix(max_dense_dim=max_dense_dim)

    def damped(self, delta):
        """The same metric plus ``δ I`` at the same point (no kernel; breaks invariance)."""
        return KFACAt(self.point, self.backend, self.model, self.factors, damping=self.damping,
                      damping_kind=self.damping_kind, pinv=self.pinv, rank_rtol=self.rank_rtol,
                      known_kernels=self._known, shift=self.shift + _check_damping(delta))

    def __repr__(self):
        damp = f"{self.damping:g}" + ("" if self.damping_kind == "metric" else f" ({self.damping_kind})")
        if self.shift:
            damp += f" + {self.shift:g}·I"
        return f"KFACAt(D={self.dim}, layers={len(self.factors)}, kernel_dim={self.kernel_dim}, damping={damp})"
