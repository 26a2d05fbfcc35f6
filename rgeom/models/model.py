"""The model interface shared by the adapters: a network as a function of a flat vector ``θ``.

A :class:`Model` holds a function ``fn(named_params, X) -> outputs`` (written for one backend), the
:class:`~rgeom.models.layout.ParamLayout` that packs its parameters into ``θ`` of shape ``(D,)``,
and optionally the list of its dense / convolution :class:`Layer` s (what K-FAC needs). Build one
with :func:`rgeom.models.from_torch`, :func:`~rgeom.models.from_jax`,
:func:`~rgeom.models.from_autograd` or :func:`~rgeom.models.mlp`.
"""

import dataclasses

import numpy as np

from ..backend import get_backend
from ..errors import ShapeError
from .layout import ParamLayout


@dataclasses.dataclass(frozen=True)
class Layer:
    """One affine layer ``s = W ā`` (homogeneous coordinates ``ā = (a; 1)``) for K-FAC.

    Attributes
    ----------
    kind : str
        ``"dense"`` (``W`` of shape ``(out, in)``) or ``"conv2d"`` (``(out, in, kh, kw)``).
    weight, bias : str
        Parameter names in the model's layout (``bias`` may be ``None``).
    conv : dict or None
        For ``conv2d``: ``kernel_size``, ``stride``, ``padding``, ``dilation`` (pairs of ints).
    """

    kind: str
    weight: str
    bias: object = None
    conv: object = None


class Model:
    """A network ``θ ↦ f(θ, X)`` on a flat parameter vector, for one autodiff backend.

    Parameters
    ----------
    fn : callable
        ``fn(named, X, tap=None) -> outputs`` with ``named`` a dict ``name -> tensor``. ``tap`` is
        only passed when ``layers`` are declared: ``s = tap(l, a, s)`` must be applied to the
        output ``s`` of layer ``l`` (input ``a``) and its result used downstream.
    layout : ParamLayout
    theta : array, shape (D,)
        Parameters at construction (a checkpoint replaces them through :meth:`flat`).
    backend : str or Backend
    layers : sequence of Layer
        Affine layers, in forward order (empty: K-FAC unavailable).
    name : str

    Attributes
    ----------
    dim : int
        Number of parameters ``D``.
    dtype
        Floating type of ``theta`` (inputs are cast to it).
    """

    def __init__(self, fn, layout, theta, backend, *, layers=(), name="model", buffers=None):
        self.fn, self.layout, self.backend = fn, layout, get_backend(backend)
        #: Non-trainable named state (torch buffers): ``(shapes dict, rebuild(named) -> fn)``.
        self.buffers = buffers
        self.theta = self.backend.asarray(theta)
        if tuple(self.theta.shape) != (layout.dim,):
            raise ShapeError(f"Model: theta must have shape ({layout.dim},), got {tuple(self.theta.shape)}.")
        self.layers = tuple(layers)
        self.name = name
        self.dtype = self.theta.dtype
        self.dim = layout.dim

    # -- evaluation -----------------------------------------------------------------------
    def asarray(self, X):
        """``X`` as a backend array of the model's floating type."""
        a = np.asarray(X)
        if a.dtype.kind in "biuf":
            return self.backend.asarray(a.astype(np.float64 if "64" in str(self.dtype) else np.float32))
        raise TypeError(f"model inputs must be numeric, got dtype {a.dtype}.")

    def apply(self, theta, X, tap=None):
        """Outputs ``f(θ, X)`` reshaped to ``(N, C)`` (differentiable in ``theta``)."""
        named = self.layout.unflatten(theta)
        out = self.fn(named, X) if tap is None else self.fn(named, X, tap=tap)
        n = X.shape[0]
        if out.ndim == 1:
            out = out.reshape((n, 1))
        elif out.ndim > 2:
            out = out.reshape((n, -1))
        if out.shape[0] != n:
            raise ShapeError(f"model {self.name!r}: {n} inputs gave {out.shape[0]} output rows.")
        return out

    def __call__(self, X, theta=None):
        """Outputs at ``theta`` (default: the model's own parameters) as a NumPy array."""
        theta = self.theta if theta is None else theta
        return self.backend.to_numpy(self.apply(theta, self.asarray(X)))

    # -- parameters -----------------------------------------------------------------------
    def named(self, theta=None):
        """``dict name -> NumPy array`` of ``theta`` (default: the model's parameters)."""
        theta = self.theta if theta is None else theta
        return {k: self.backend.to_numpy(v) for k, v in self.layout.unflatten(theta).items()}

    def flat(self, named, *, what="parameters"):
        """The flat ``θ`` (backend array, model dtype) of named arrays, after checking they fit.

        Raises ``ShapeError`` / ``NonFiniteError`` listing every offending key.
        """
        self.layout.check(named, what=what)
        theta = np.concatenate([np.asarray(named[n], dtype=np.float64).reshape(-1) for n in self.layout.names])
        return self.backend.asarray(theta.astype(self.backend.to_numpy(self.theta).dtype))

    def with_theta(self, theta):
        """A copy of this model whose own parameters are ``theta``."""
        return Model(self.fn, self.layout, theta, self.backend, layers=self.layers, name=self.name,
                     buffers=self.buffers)

    def with_buffers(self, named):
        """A copy with new non-trainable state (torch buffers, e.g. batch-norm statistics)."""
        if self.buffers is None:
            if named:
                raise ValueError(f"model {self.name!r} has no buffers; got {sorted(named)}.")
            return self
        shapes, rebuild = self.buffers
        return Model(rebuild(named), self.layout, self.theta, self.backend, layers=self.layers,
                     name=self.name, buffers=self.buffers)

    def __repr__(self):
        return f"Model({self.name!r}, D={self.dim}, backend={self.backend.name}, layers={len(self.layers)})"


# -- a small built-in MLP, the same on every backend ------------------------------------------
def _activation(name, xp):
    acts = {
        "relu": lambda x: x * (x > 0),
        "tanh": xp.tanh,
        "sigmoid": lambda x: 1.0 / (1.0 + xp.exp(-x)),
        "identity": lambda x: x,
    }
    if name not in acts:
        raise ValueError(f"activation must be one of {sorted(acts)}, got {name!r}.")
    return acts[name]


def mlp(sizes, *, activation="relu", backend=None, seed=0, dtype="float64"):
    """A fully connected network ``sizes[0] → … → sizes[-1]`` with PyTorch's parameter names.

    Parameters are named like ``torch.nn.Sequential(Linear, act, Linear, ...)`` (``"0.weight"``,
    ``"0.bias"``, ``"2.weight"``, ...; weights ``(out, in)``), so a state dict saved from such a
    torch model loads directly. Initialisation: PyTorch's default uniform rule, seeded.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first (at least two).
    activation : {"relu", "tanh", "sigmoid", "identity"}
    backend : str, optional
        ``"autograd"`` (default), ``"jax"`` or ``"torch"``.
    seed : int
    dtype : str
        ``"float64"`` (default) or ``"float32"``.

    Returns
    -------
    Model
        With one dense :class:`Layer` per linear map (K-FAC ready).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp
    >>> net = mlp([3, 4, 2])
    >>> net.dim, net.layout.names
    (26, ('0.weight', '0.bias', '2.weight', '2.bias'))
    >>> net(np.zeros((5, 3))).shape
    (5, 2)
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"mlp: sizes must list at least two positive widths, got {sizes}.")
    bk = get_backend(backend)
    rng = np.random.default_rng(seed)
    named, layers = {}, []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / np.sqrt(n_in)
        w, b = f"{2 * i}.weight", f"{2 * i}.bias"
        named[w] = rng.uniform(-bound, bound, size=(n_out, n_in))
        named[b] = rng.uniform(-bound, bound, size=n_out)
        layers.append(Layer("dense", w, b))
    layout = ParamLayout.from_named(named)
    act = _activation(activation, bk.xp)
    n_layers = len(layers)

    def fn(p, X, tap=None):
        a = X
        for i in range(n_layers):
            s = a @ p[f"{2 * i}.weight"].T + p[f"{2 * i}.bias"]
            if tap is not None:
                s = tap(i, a, s)
            a = act(s) if i < n_layers - 1 else s
        return a

    theta = layout.flatten(named).astype(np.dtype(dtype))
    return Model(fn, layout, theta, bk, layers=layers, name=f"mlp({'-'.join(map(str, sizes))}, {activation})")


def dinh_rescaling(model, layer, alpha):
    """The Dinh et al. rescaling of hidden layer ``layer`` as a map ``θ = g(ψ)``.

    The rescaled network has ``αW_l, αb_l`` for layer ``layer`` and ``W_{l+1}/α`` for the next one
    (its bias unchanged): for a positively homogeneous activation (ReLU) and ``α > 0`` it computes
    the same function. Returns :class:`rgeom.maps.LayerRescaling` ``g`` with ``g(ψ) = θ``, so the
    rescaled checkpoint is ``ψ = g.inverse(θ)`` and ``Pullback(Euclidean, g)`` is the Euclidean
    metric of the original chart written in the new one.

    Parameters
    ----------
    model : Model
        With declared dense layers (e.g. from :func:`mlp` or :func:`from_torch`).
    layer : int
        Index of the hidden layer whose outputs are rescaled (``0 ≤ layer < len(layers) − 1``).
    alpha : float
        Positive factor.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp, dinh_rescaling
    >>> net = mlp([3, 4, 2])
    >>> g = dinh_rescaling(net, 0, 10.0)
    >>> psi = g.inverse(net.theta)
    >>> X = np.random.default_rng(0).normal(size=(5, 3))
    >>> bool(np.allclose(net(X, psi), net(X), atol=1e-12))
    True
    """
    from ..maps.elementwise import LayerRescaling

    if not alpha > 0:
        raise ValueError(f"dinh_rescaling: alpha must be > 0, got {alpha!r}.")
    layers = model.layers
    if not 0 <= layer < len(layers) - 1:
        raise ValueError(
            f"dinh_rescaling: layer must be a hidden layer index in [0, {len(layers) - 1}), got {layer}."
        )
    factors = {}
    factors[layers[layer].weight] = 1.0 / alpha
    if layers[layer].bias is not None:
        factors[layers[layer].bias] = 1.0 / alpha
    factors[layers[layer + 1].weight] = alpha
    lay = model.layout
    return LayerRescaling(lay.sizes, [factors.get(n, 1.0) for n in lay.names])
