"""Affine reparametrizations of a network's activations, as maps ``θ = g(ψ)`` on its weights.

For a dense or 2-D convolution layer ``s = W̄ ā`` (homogeneous coordinates ``ā = (a; 1)``,
``W̄ = [W | b]``), new coordinates for its input activations ``a' = U a + c`` and for its
pre-activations ``s' = Φ s + d`` give ``ā' = Ω ā`` with ``Ω = [[U, c], [0, 1]]`` and

    s' = Φ W̄ Ω⁻¹ ā' + d   ⇒   W̄' = Φ W̄ Ω⁻¹ + d e_lastᵀ      (ψ = g⁻¹(θ)),
                              W̄  = Φ⁻¹ (W̄' − d e_lastᵀ) Ω    (θ = g(ψ)).

The network in the new coordinates (:meth:`ActivationAffine.transformed_model`) computes the same
function: each layer computes ``s' = W̄' ā'`` from its transformed inputs, and ``Φ⁻¹(s' − d)`` is
handed on to the nonlinearity (Martens & Grosse's "transformed network"). Its layer taps expose
``(a', s')``, so the K-FAC metric of the transformed model — computed from the transformed
activations and pre-activation gradients — is K-FAC *in the new coordinates*; it equals the
pullback of the original K-FAC metric (the invariance proved in ``tests/test_kfac_natural.py``).

A convolution uses the same ``U, c`` (on input channels) and ``Φ, d`` (on output channels) at every
spatial position: on the input patches ``Ω = [[U ⊗ I_{kh·kw}, c ⊗ 1], [0, 1]]``. With zero padding
a shift ``c ≠ 0`` is not exact (padded zeros would have to become ``c``) and is refused.

Ready-made maps: :func:`centering` (``c = −mean a``), :func:`whitening` (``U = Σ^{-1/2}``),
:func:`dinh` (Dinh et al. rescaling of a ReLU unit layer), :func:`random_affine` (for tests).
"""

import dataclasses

import numpy as np

from ..backend import get_backend
from ..errors import ShapeError, SingularJacobianError
from .base import MAX_JACOBIAN_CONDITION, Map

__all__ = [
    "LayerAffine", "ActivationAffine", "centering", "whitening", "dinh", "random_affine",
    "layer_blocks", "pack_blocks",
]


# -- homogeneous weight blocks ------------------------------------------------------------------
def _layer_shape(model, L):
    """``(out, n_in, k)``: output units, input channels and kernel positions ``kh·kw`` (1 if dense)."""
    shape = model.layout.shapes[model.layout.names.index(L.weight)]
    return int(shape[0]), int(shape[1]) if len(shape) > 1 else 1, int(np.prod(shape[2:], dtype=int))


def layer_blocks(model, u):
    """The homogeneous blocks ``V̄_l = [V_l | v_l]`` of every declared layer of ``model`` in ``u``.

    Parameters
    ----------
    model : rgeom.models.Model
        With declared layers (dense: weight ``(out, in)``; conv2d: ``(out, cin, kh, kw)``).
    u : array, shape (D,)
        A vector in the model's parameter layout (backend array).

    Returns
    -------
    list of arrays
        One ``(out, in·k (+1))`` matrix per layer: the weight reshaped row-major (a convolution's
        columns ordered channel-major like its input patches), then the bias column if any.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> net = mlp([3, 2, 1])
    >>> [B.shape for B in layer_blocks(net, net.theta)]
    [(2, 4), (1, 3)]
    >>> bool(np.array_equal(pack_blocks(net, layer_blocks(net, net.theta)), net.theta))
    True
    """
    lay, xp = model.layout, model.backend.xp
    out = []
    for L in model.layers:
        n_out = lay.shapes[lay.names.index(L.weight)][0]
        W = xp.reshape(u[lay.index(L.weight)], (n_out, -1))
        if L.bias is not None:
            W = xp.concatenate([W, xp.reshape(u[lay.index(L.bias)], (n_out, 1))], 1)
        out.append(W)
    return out


def pack_blocks(model, blocks, base=None):
    """Inverse of :func:`layer_blocks`: a flat ``(D,)`` vector from per-layer homogeneous blocks.

    Parameters
    ----------
    model : rgeom.models.Model
    blocks : list of arrays
        One ``(out, in·k (+1))`` block per declared layer.
    base : array, shape (D,), optional
        Where the parameters outside the declared layers are taken from (required if there are
        any: :class:`~rgeom.errors.ShapeError` otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> net = mlp([2, 1], activation="identity")
    >>> pack_blocks(net, [np.array([[1.0, 2.0, 3.0]])]).tolist()    # [W | b] -> (W, b)
    [1.0, 2.0, 3.0]
    """
    lay, xp = model.layout, model.backend.xp
    if len(blocks) != len(model.layers):
        raise ShapeError(f"pack_blocks: {len(model.layers)} layers but {len(blocks)} blocks.")
    pieces = {}
    for L, R in zip(model.layers, blocks):
        n_w = R.shape[1] - (1 if L.bias is not None else 0)
        pieces[L.weight] = xp.reshape(R[:, :n_w], (-1,))
        if L.bias is not None:
            pieces[L.bias] = R[:, n_w]
    missing = [n for n in lay.names if n not in pieces]
    if missing and base is None:
        raise ShapeError(f"pack_blocks: parameters {missing} belong to no declared layer; pass base=.")
    return xp.concatenate([pieces[n] if n in pieces else base[lay.index(n)] for n in lay.names])


def _np_dtype(dtype):
    return np.dtype(str(dtype).replace("torch.", ""))


# -- one layer's maps ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LayerAffine:
    """Affine coordinates of one layer: inputs ``a ↦ U a + c``, pre-activations ``s ↦ Φ s + d``.

    ``None`` means the identity (``U``, ``Phi``) or zero (``c``, ``d``). For a convolution ``U, c``
    act on input channels and ``Φ, d`` on output channels, identically at every position.

    Examples
    --------
    >>> LayerAffine(c=[1.0, 2.0]).is_identity, LayerAffine().is_identity
    (False, True)
    """

    U: object = None
    c: object = None
    Phi: object = None
    d: object = None

    @property
    def is_identity(self):
        """Whether all four parts are left at their defaults."""
        return all(x is None for x in (self.U, self.c, self.Phi, self.d))


def _matrix(M, n, what):
    M = np.asarray(M, dtype=np.float64)
    if M.shape != (n, n):
        raise ShapeError(f"{what} must have shape ({n}, {n}), got {M.shape}.")
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{what} must be finite.")
    cond = np.linalg.cond(M)
    if not cond < MAX_JACOBIAN_CONDITION:
        raise SingularJacobianError(
            f"{what} is singular or ill-conditioned (cond = {cond:.3g} >= {MAX_JACOBIAN_CONDITION:.0e}): "
            "the activation map would not be invertible."
        )
    return M


def _vector(v, n, what):
    v = np.asarray(v, dtype=np.float64)
    if v.shape != (n,):
        raise ShapeError(f"{what} must have shape ({n},), got {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what} must be finite.")
    return v


class ActivationAffine(Map):
    """Per-layer affine maps of a network's activations as a map ``θ = g(ψ)`` on its weights.

    For each declared layer ``l`` with a :class:`LayerAffine` ``(U, c, Φ, d)``:
    ``W̄ = Φ⁻¹ (W̄' − d e_lastᵀ) Ω`` (``forward``, ψ → θ) and ``W̄' = Φ W̄ Ω⁻¹ + d e_lastᵀ``
    (``inverse``); parameters outside the declared layers are left unchanged. The map is affine, so
    its Jacobian ``V̄ ↦ Φ⁻¹ V̄ Ω`` is the same everywhere: a step maps as ``ΔW̄' = Φ ΔW̄ Ω⁻¹``
    (:meth:`inverse_jvp`) and a gradient as ``∇' = Φ⁻ᵀ ∇ Ωᵀ`` (:meth:`vjp`).

    Parameters
    ----------
    model : rgeom.models.Model
        With declared dense / conv2d layers.
    transforms : dict or sequence
        ``{layer_index: LayerAffine}`` or one entry (or ``None``) per declared layer. A plain
        dict ``{"U": ..., ...}`` is accepted in place of a :class:`LayerAffine`.

    Raises
    ------
    SingularJacobianError
        ``U`` or ``Φ`` singular or ill-conditioned (the message names the argument and layer).
    ShapeError
        A part of the wrong shape, or a layer index out of range.
    ValueError
        ``c ≠ 0`` on a zero-padded convolution (not exact), ``c`` or ``d`` on a layer without a
        bias (not representable), non-finite entries.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.maps.activations import ActivationAffine, LayerAffine
    >>> net = mlp([2, 3, 1], activation="tanh")
    >>> g = ActivationAffine(net, {0: LayerAffine(U=[[2.0, 1.0], [0.0, 1.0]], c=[0.5, -1.0]),
    ...                            1: LayerAffine(Phi=[[3.0]], d=[1.0])})
    >>> psi = g.inverse(net.theta)
    >>> bool(np.allclose(g(psi), net.theta, atol=1e-14))
    True
    >>> new = g.transformed_model()                    # same function in the new coordinates
    >>> X = np.random.default_rng(0).normal(size=(4, 2))
    >>> bool(np.allclose(new(X), net(X), atol=1e-13))
    True
    """

    def __init__(self, model, transforms):
        layers = model.layers
        if not layers:
            raise TypeError(f"ActivationAffine: model {model.name!r} declares no dense / conv layers.")
        if isinstance(transforms, dict):
            bad = [k for k in transforms if not (isinstance(k, (int, np.integer)) and 0 <= k < len(layers))]
            if bad:
                raise ShapeError(f"ActivationAffine: transforms keys must be layer indices in "
                                 f"[0, {len(layers)}), got {bad}.")
            items = [transforms.get(i) for i in range(len(layers))]
        else:
            items = list(transforms)
            if len(items) != len(layers):
                raise ShapeError(f"ActivationAffine: transforms has {len(items)} entries for "
                                 f"{len(layers)} layers.")
        self.model, self.dim, self.backend = model, model.dim, model.backend.name
        self.transforms, self._parts = [], []
        for l, (L, t) in enumerate(zip(layers, items)):
            t = LayerAffine() if t is None else LayerAffine(**t) if isinstance(t, dict) else t
            if not isinstance(t, LayerAffine):
                raise TypeError(f"ActivationAffine: transform of layer {l} must be a LayerAffine, "
                                f"a dict or None, got {type(t).__name__}.")
            self.transforms.append(t)
            self._parts.append(None if t.is_identity else self._layer_parts(l, L, t))

    def _layer_parts(self, l, L, t):
        if L.kind not in ("dense", "conv2d"):
            raise TypeError(f"ActivationAffine: layer {l} ({L.weight!r}) has kind {L.kind!r}; "
                            "only 'dense' and 'conv2d' are supported.")
        n_out, n_in, k = _layer_shape(self.model, L)
        where = f"layer {l} ({L.weight!r})"
        U = np.eye(n_in) if t.U is None else _matrix(t.U, n_in, f"ActivationAffine: U of {where}")
        Phi = np.eye(n_out) if t.Phi is None else _matrix(t.Phi, n_out, f"ActivationAffine: Phi of {where}")
        c = np.zeros(n_in) if t.c is None else _vector(t.c, n_in, f"ActivationAffine: c of {where}")
        d = np.zeros(n_out) if t.d is None else _vector(t.d, n_out, f"ActivationAffine: d of {where}")
        if L.bias is None and (np.any(c) or np.any(d)):
            raise ValueError(f"ActivationAffine: {where} has no bias, so shifts c and d cannot be "
                             "represented in its weights; pass c = d = None.")
        if L.kind == "conv2d" and np.any(c) and any(L.conv["padding"]):
            raise ValueError(
                f"ActivationAffine: {where} is a convolution with zero padding {L.conv['padding']}; "
                "an input shift c != 0 is not exact there (padded zeros would have to become c). "
                "Pass c = None for this layer (U, Phi and d are exact)."
            )
        Up, cp = np.kron(U, np.eye(k)), np.repeat(c, k)
        m = n_in * k
        if L.bias is None:
            Om = Up
        else:
            Om = np.zeros((m + 1, m + 1))
            Om[:m, :m], Om[:m, m], Om[m, m] = Up, cp, 1.0
        Om_inv = np.linalg.inv(Om)
        Phi_inv = np.linalg.inv(Phi)
        logdet = -Om.shape[0] * np.linalg.slogdet(Phi)[1] + n_out * np.linalg.slogdet(Om)[1]
        return {"U": U, "c": c, "Phi": Phi, "d": d, "Om": Om, "Om_inv": Om_inv, "Phi_inv": Phi_inv,
                "logdet": float(logdet), "kind": L.kind}

    # -- per-layer matrices -------------------------------------------------------------------
    def omega(self, l):
        """Homogeneous ``Ω_l = [[U, c], [0, 1]]`` of layer ``l`` (NumPy; ``U ⊗ I_{kh·kw}`` for a conv).

        Shape ``(m, m)`` with ``m = in·kh·kw + 1`` (no ``+1`` without a bias).

        Examples
        --------
        >>> from rgeom.models import mlp
        >>> g = ActivationAffine(mlp([2, 1]), {0: LayerAffine(U=[[2.0, 0.0], [0.0, 1.0]], c=[1.0, 0.0])})
        >>> g.omega(0).tolist()
        [[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        """
        p = self._parts[l]
        if p is None:
            n_out, n_in, k = _layer_shape(self.model, self.model.layers[l])
            return np.eye(n_in * k + (self.model.layers[l].bias is not None))
        return p["Om"].copy()

    def phi(self, l):
        """``Φ_l`` of layer ``l`` (NumPy, ``(out, out)``; the identity where none was given).

        Examples
        --------
        >>> from rgeom.models import mlp
        >>> ActivationAffine(mlp([2, 1]), [LayerAffine(Phi=[[3.0]])]).phi(0).tolist()
        [[3.0]]
        """
        p = self._parts[l]
        return np.eye(_layer_shape(self.model, self.model.layers[l])[0]) if p is None else p["Phi"].copy()

    # -- the map ------------------------------------------------------------------------------
    def _blockwise(self, x, left, right, shift_sign=0):
        """Apply ``left · V̄ · right (+ shift)`` per transformed layer of the flat vector ``x``."""
        bk = get_backend(None, x)
        dtype = _np_dtype(self.model.dtype)
        cast = lambda M: bk.asarray(np.asarray(M, dtype=dtype))  # noqa: E731
        blocks = layer_blocks(self.model, x)
        out = []
        for L, B, p in zip(self.model.layers, blocks, self._parts):
            if p is None:
                out.append(B)
                continue
            if shift_sign < 0:  # forward: Φ⁻¹ (W̄' − d e_lastᵀ) Ω
                if L.bias is not None and np.any(p["d"]):
                    e = np.zeros((1, B.shape[1]))
                    e[0, -1] = 1.0
                    B = B - cast(p["d"][:, None] * e)
            R = cast(p[left]) @ B @ cast(p[right])
            if shift_sign > 0 and L.bias is not None and np.any(p["d"]):  # inverse: + d e_lastᵀ
                e = np.zeros((1, B.shape[1]))
                e[0, -1] = 1.0
                R = R + cast(p["d"][:, None] * e)
            out.append(R)
        return pack_blocks(self.model, out, base=x)

    def forward(self, psi):
        return self._blockwise(psi, "Phi_inv", "Om", -1)

    def inverse(self, theta):
        return self._blockwise(theta, "Phi", "Om_inv", +1)

    def jvp(self, psi, u):
        return self._blockwise(u, "Phi_inv", "Om")

    def vjp(self, psi, w):  # Jᵀ: V̄ ↦ Φ⁻ᵀ V̄ Ωᵀ
        return self._transposed(w, "Phi_inv", "Om")

    def inverse_jvp(self, theta, v):
        return self._blockwise(v, "Phi", "Om_inv")

    def inverse_vjp(self, theta, w):
        return self._transposed(w, "Phi", "Om_inv")

    def _transposed(self, w, left, right):
        saved = self._parts
        self._parts = [None if p is None else {**p, "_l": p[left].T, "_r": p[right].T} for p in saved]
        try:
            return self._blockwise(w, "_l", "_r")
        finally:
            self._parts = saved

    def log_abs_det_jacobian(self, psi):
        """``Σ_l [out_l · log|det Ω_l| − cols_l · log|det Φ_l|]`` (a constant)."""
        total = sum(p["logdet"] for p in self._parts if p is not None)
        return get_backend(None, psi).asarray(np.asarray(total, dtype=np.float64))

    # -- the network in the new coordinates ----------------------------------------------------
    def transformed_model(self):
        """The same network in the new coordinates: a :class:`~rgeom.models.Model` of ``ψ``.

        Same parameter layout and declared layers; parameters ``ψ = g⁻¹(θ)``. Layer ``l`` computes
        ``s' = W̄'_l ā'_l`` natively from its transformed inputs ``a' = U a + c`` and hands
        ``Φ⁻¹(s' − d)`` on, so ``f_ψ(ψ, X) = f(g(ψ), X)``; its taps see ``(a', s')``. Buffers of
        the original model (batch-norm statistics) are kept as they are (not re-settable).

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp
        >>> net = mlp([2, 2], activation="identity")
        >>> g = ActivationAffine(net, [LayerAffine(c=[1.0, -1.0])])
        >>> seen = {}
        >>> def tap(l, a, s):
        ...     seen["a"] = a
        ...     return s
        >>> _ = g.transformed_model().apply(g.inverse(net.theta), np.zeros((1, 2)), tap=tap)
        >>> seen["a"].tolist()                        # the layer sees a' = a + c
        [[1.0, -1.0]]
        """
        from ..models.model import Model

        model, parts, bk = self.model, self._parts, self.model.backend
        xp = bk.xp
        base_fn = model.fn
        np_dtype = _np_dtype(model.dtype)
        # a' = U (a + U⁻¹c) and s = Φ⁻¹ (s' − d): one product each
        consts = [None if p is None else {k: bk.asarray(np.asarray(v, dtype=np_dtype)) for k, v in (
            ("U", p["U"]), ("Uinv_c", np.linalg.solve(p["U"], p["c"])), ("Phi_inv", p["Phi_inv"]),
            ("minus_d", -p["d"]))} for p in parts]
        layers = model.layers

        def apply_layer(L, named, a):
            W = named[L.weight]
            b = None if L.bias is None else named[L.bias]
            if L.kind == "dense":
                s = a @ W.T
                return s if b is None else s + b
            if bk.name != "torch":
                raise TypeError(f"ActivationAffine: conv2d layers need the torch backend, got {bk.name!r}.")
            import torch

            cv = L.conv
            return torch.nn.functional.conv2d(a, W, b, stride=cv["stride"], padding=cv["padding"],
                                              dilation=cv["dilation"])

        def channels(L, M, x, shift):
            """``M (x + shift)`` on the feature axis (last for dense, 1 for conv)."""
            if L.kind == "dense":
                return (x + shift) @ M.T
            return xp.einsum("ij,nj...->ni...", M, x + xp.reshape(shift, (1, -1) + (1,) * (x.ndim - 2)))

        def fn(named, X, tap=None):
            def inner(l, a, s):
                p = consts[l]
                if p is None:
                    return s if tap is None else tap(l, a, s)
                L = layers[l]
                a2 = channels(L, p["U"], a, p["Uinv_c"])
                s2 = apply_layer(L, named, a2)
                if tap is not None:
                    s2 = tap(l, a2, s2)
                return channels(L, p["Phi_inv"], s2, p["minus_d"])

            return base_fn(named, X, tap=inner)

        return Model(fn, model.layout, self.inverse(model.theta), bk, layers=layers,
                     name=f"{model.name} [activation-affine]")

    def __repr__(self):
        which = [l for l, p in enumerate(self._parts) if p is not None]
        return f"ActivationAffine({self.model.name}, layers={which})"


# -- ready-made maps ----------------------------------------------------------------------------
def _layer_inputs(model, X):
    """NumPy inputs ``a_l`` of every declared layer at the model's parameters, ``(N·P, n_in)``."""
    acts = {}

    def record(l, a, s):
        acts[l] = a
        return s

    model.apply(model.theta, model.asarray(X), tap=record)
    out = {}
    for l, L in enumerate(model.layers):
        a = np.asarray(model.backend.to_numpy(acts[l]), dtype=np.float64)
        if L.kind == "conv2d":
            a = np.moveaxis(a, 1, -1)
        out[l] = a.reshape(-1, a.shape[-1])
    return out


def _select(model, layers):
    n = len(model.layers)
    if layers is None:
        return list(range(n))
    layers = [int(l) for l in layers]
    if any(not 0 <= l < n for l in layers):
        raise ShapeError(f"layers must be indices in [0, {n}), got {layers}.")
    return layers


def centering(model, X, *, layers=None):
    """Center every selected layer's inputs on the data: ``a ↦ a − mean(a)`` (``U = I``).

    Parameters
    ----------
    model : rgeom.models.Model
    X : array
        Model inputs (the data the means are taken over; for a convolution, over samples and
        positions).
    layers : sequence of int, optional
        Layer indices (default: all; a zero-padded convolution must be left out).

    Returns
    -------
    ActivationAffine

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.maps.activations import centering
    >>> net = mlp([2, 3, 1]); X = np.random.default_rng(0).normal(size=(6, 2)) + 5.0
    >>> g = centering(net, X)
    >>> bool(np.allclose(g.transformed_model()(X), net(X), atol=1e-12))
    True
    """
    acts = _layer_inputs(model, X)
    return ActivationAffine(model, {l: LayerAffine(c=-acts[l].mean(0)) for l in _select(model, layers)})


def whitening(model, X, *, layers=None, center=True):
    """Whiten every selected layer's inputs on the data: ``a ↦ Σ^{-1/2}(a − mean a)``.

    ``Σ`` is the covariance of the inputs (``center=True``) or their second moment (``False``,
    then ``c = 0``); the symmetric inverse square root is used.

    Parameters
    ----------
    model : rgeom.models.Model
    X : array
        Model inputs.
    layers : sequence of int, optional
        Default: all layers.
    center : bool

    Raises
    ------
    SingularJacobianError
        If a layer's inputs have a singular covariance (constant or collinear activations — e.g.
        always-zero pixels): the message names the layer and the rank.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.maps.activations import whitening
    >>> net = mlp([2, 3, 1], activation="tanh"); X = np.random.default_rng(0).normal(size=(30, 2))
    >>> g = whitening(net, X)
    >>> bool(np.allclose(g.transformed_model()(X), net(X), atol=1e-12))
    True
    """
    acts = _layer_inputs(model, X)
    out = {}
    for l in _select(model, layers):
        a = acts[l]
        mu = a.mean(0) if center else np.zeros(a.shape[1])
        M = (a - mu).T @ (a - mu) / a.shape[0]
        lam, Q = np.linalg.eigh(M)
        tol = M.shape[0] * np.finfo(np.float64).eps * max(lam[-1], np.finfo(float).tiny)
        if lam[0] <= tol:
            rank = int(np.sum(lam > tol))
            raise SingularJacobianError(
                f"whitening: the inputs of layer {l} ({model.layers[l].weight!r}) have a singular "
                f"{'covariance' if center else 'second moment'} on the data (rank {rank} < {M.shape[0]}: "
                "constant or collinear activations); drop them or leave the layer out with layers=."
            )
        U = (Q / np.sqrt(lam)) @ Q.T
        out[l] = LayerAffine(U=U, c=-U @ mu if center else None)
    return ActivationAffine(model, out)


def dinh(model, layer, alpha):
    """Dinh et al. rescaling as an activation map: ``Φ = αI`` on ``layer``, ``U = αI`` on the next.

    For a positively homogeneous activation (ReLU) and ``α > 0`` the transformed network is the
    original architecture with ``W̄_l' = α W̄_l`` and ``W_{l+1}' = W_{l+1}/α``: the same map as
    :func:`rgeom.models.dinh_rescaling` (which it reuses for its checks).

    Parameters
    ----------
    model : rgeom.models.Model
    layer : int
        Hidden layer index ``0 ≤ layer < len(layers) − 1``.
    alpha : float
        ``> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp, dinh_rescaling
    >>> from rgeom.maps.activations import dinh
    >>> net = mlp([3, 4, 2])
    >>> g = dinh(net, 0, 10.0)
    >>> bool(np.allclose(g.inverse(net.theta), dinh_rescaling(net, 0, 10.0).inverse(net.theta), rtol=1e-14))
    True
    """
    from ..models.model import dinh_rescaling

    dinh_rescaling(model, layer, alpha)  # the argument checks live there
    n_out = _layer_shape(model, model.layers[layer])[0]
    a = float(alpha)
    return ActivationAffine(model, {layer: LayerAffine(Phi=a * np.eye(n_out)),
                                    layer + 1: LayerAffine(U=a * np.eye(n_out))})


def random_affine(model, *, seed=0, scale=0.5, inputs=True, outputs=True, shifts=True):
    """Random well-conditioned ``U, c, Φ, d`` on every layer (for invariance tests).

    ``U = I + scale·G/√n`` with ``G`` standard normal (resampled until ``cond < 1e3``), shifts
    ``scale·N(0, 1)``. Zero-padded convolutions get no input shift ``c``; layers without a bias no
    shifts at all.

    Parameters
    ----------
    model : rgeom.models.Model
    seed : int
    scale : float
        ``> 0``: size of the perturbation of the identity.
    inputs, outputs, shifts : bool
        Include ``U`` (and ``c``), ``Φ`` (and ``d``), and the shifts ``c, d``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> from rgeom.maps.activations import random_affine
    >>> net = mlp([3, 4, 2]); X = np.random.default_rng(0).normal(size=(5, 3))
    >>> g = random_affine(net, seed=1)
    >>> bool(np.allclose(g.transformed_model()(X), net(X), atol=1e-12))
    True
    """
    if not scale > 0:
        raise ValueError(f"random_affine: scale must be > 0, got {scale!r}.")
    rng = np.random.default_rng(seed)

    def mat(n):
        while True:
            M = np.eye(n) + scale * rng.normal(size=(n, n)) / np.sqrt(n)
            if np.linalg.cond(M) < 1e3:
                return M

    out = {}
    for l, L in enumerate(model.layers):
        n_out, n_in, _ = _layer_shape(model, L)
        can_c = shifts and L.bias is not None and not (L.kind == "conv2d" and any(L.conv["padding"]))
        can_d = shifts and L.bias is not None
        out[l] = LayerAffine(U=mat(n_in) if inputs else None,
                             c=scale * rng.normal(size=n_in) if inputs and can_c else None,
                             Phi=mat(n_out) if outputs else None,
                             d=scale * rng.normal(size=n_out) if outputs and can_d else None)
    return ActivationAffine(model, out)
