"""K-FAC as an optimizer: the natural gradient of the K-FAC metric (:mod:`rgeom.metrics.kfac`).

The K-FAC metric of a network is, per dense / conv layer with homogeneous weights ``W̄ = [W | b]``,
``‖V‖² = tr(V̄ᵀ S V̄ A)`` (``A`` from the layer's inputs ``ā = (a; 1)``, ``S`` from back-propagated
output gradients). Its natural gradient is the K-FAC update, layer by layer

    Ẇ̄ = −S⁻¹ ∇_W̄ L A⁻¹,

so this optimizer is natural gradient with that metric; all the curvature lives in
:class:`rgeom.metrics.kfac.KFAC` (exact, sampled or empirical Fisher, GGN; dense and ``Conv2d``
layers of any :class:`rgeom.models.Model`; its damping variants).

**Invariance** (Luk & Grosse 2018). Under an affine map of a layer's input ``ā ↦ Ω ā`` and of its
pre-activation ``s ↦ Φ s + d`` the weights map as ``W̄ ↦ Φ W̄ Ω⁻¹ + d e_lastᵀ``
(:class:`rgeom.maps.ActivationAffine`). In the new chart the K-FAC factors *recomputed from the
transformed activations* are ``Ω A Ωᵀ`` and ``Φ⁻ᵀ S Φ⁻¹``: exactly the pulled-back metric, so the
update maps back exactly, for finite steps too (the map is affine). :meth:`KFAC.pullback` builds
that chart's metric (:func:`chart_model`). Damping breaks this; maps that mix layers have no
K-FAC in their chart (:class:`~rgeom.flows.optimizers.UnsupportedMapError`).
"""

import dataclasses
from typing import ClassVar

import numpy as np

from ...backend import get_backend
from ...maps.affine import Affine
from ...maps.base import Compose
from ..map_families import KroneckerMap, MatrixLayout
from .base import Component, Optimizer, UnsupportedMapError

__all__ = ["KFAC", "chart_model", "chart_metric"]


@dataclasses.dataclass(frozen=True, repr=False)
class KFAC(Optimizer):
    """K-FAC flow ``θ̇ = −G_KFAC(θ)⁻¹ ∇L(θ)``: natural gradient of the K-FAC metric.

    Per layer ``Ẇ̄_l = −S_l⁻¹ ∇_{W̄_l} L A_l⁻¹`` (with the metric's damping, if any:
    :meth:`rgeom.metrics.kfac.KFACAt.solve`).

    Parameters
    ----------
    metric : rgeom.metrics.kfac.KFAC
        The K-FAC metric of the network on its data. Its damping (``G + δI``, damped factors, or
        Martens & Grosse's factored rule) is a recipe re-applied in every chart: in ψ it is
        ``δ`` in ψ's units, not the pullback of θ's, which is why damping breaks invariance.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import Problem, mlp
    >>> from rgeom.metrics.kfac import KFAC as KFACMetric
    >>> from rgeom.flows.optimizers import KFAC
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 1))
    >>> lin = mlp([2, 1], activation="identity")          # one linear layer: K-FAC = Gauss-Newton
    >>> prob = Problem(lin, "gaussian", (X, y))
    >>> step = KFAC(KFACMetric(prob)).field(prob.objective)(0.0, (lin.theta,))[0]
    >>> new = lin.theta + step                             # one unit step lands on least squares
    >>> w = np.linalg.lstsq(np.c_[X, np.ones(8)], y[:, 0], rcond=None)[0]
    >>> bool(np.allclose(new, w, atol=1e-12))
    True
    """

    metric: object = None
    name: ClassVar[str] = "kfac"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        from ...metrics.kfac import KFAC as KFACMetric

        if not isinstance(self.metric, KFACMetric):
            raise TypeError("KFAC: metric must be an rgeom.metrics.kfac.KFAC (the K-FAC metric of a model on "
                            f"data), got {type(self.metric).__name__}.")

    def field(self, loss, *, lr=None, backend=None):
        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            return (-self.metric.at(theta).solve(bk.grad(loss, theta)),)

        return f

    def pullback(self, g, *, dim=None):
        """K-FAC in the chart ψ of a layer-wise affine map ``θ = g(ψ)`` of the activations.

        Its metric is the K-FAC metric of the same network, loss and data, whose layers compute
        from the transformed activations (:func:`chart_metric`).

        Raises
        ------
        UnsupportedMapError
            If ``g`` mixes parameters across layers (K-FAC has no meaning in that chart).
        """
        return dataclasses.replace(self, metric=chart_metric(self.metric, g))


# --- the K-FAC metric in the chart of a layer-wise map ---------------------------------------------
def chart_metric(metric, g):
    """The K-FAC metric in the chart ψ of ``θ = g(ψ)``: same recipe, on :func:`chart_model`.

    Same loss, data, Fisher type, damping (in ψ's units) and kernel rule as ``metric``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import Problem, mlp
    >>> from rgeom.metrics.kfac import KFAC
    >>> from rgeom.maps import random_affine
    >>> net = mlp([3, 4, 2], activation="tanh")
    >>> rng = np.random.default_rng(0)
    >>> G = KFAC(net, "gaussian", (rng.normal(size=(20, 3)), rng.normal(size=(20, 2))))
    >>> g = random_affine(net, seed=1)
    >>> psi, u = g.inverse(net.theta), rng.normal(size=net.dim)
    >>> Gpsi = chart_metric(G, g).at(psi)                 # equals Jᵀ G J (the pullback)
    >>> bool(np.allclose(Gpsi.mv(u), g.vjp(psi, G.at(net.theta).mv(g.jvp(psi, u))), atol=1e-10))
    True
    """
    return metric.with_model(chart_model(metric.problem.model, g))


def chart_model(model, g):
    """The network as a function of ψ (``θ = g(ψ)``), its layers computing from transformed activations.

    Parameters
    ----------
    model : rgeom.models.Model
    g : rgeom.maps.Map
        An :class:`~rgeom.maps.ActivationAffine` (its per-layer transforms applied to ``model``), a
        :class:`~rgeom.flows.map_families.KroneckerMap` ``W̄_l = A_l Ψ_l B_l + C_l`` on a model of
        homogeneous matrices (:func:`rgeom.flows.audit.homogeneous_mlp`: ``U = B_l``,
        ``Φ = A_l⁻¹``, then a translation), a translation ``ψ + b``, or a composition of these.

    Returns
    -------
    rgeom.models.Model
        ``f_ψ(ψ, X) = f(g(ψ), X)``; its layer taps see the transformed ``(a', s')``.

    Raises
    ------
    UnsupportedMapError
        For a map that mixes parameters across layers (or does not fit the model's layers).
    """
    from ...maps.activations import ActivationAffine, LayerAffine

    if isinstance(g, Compose):
        return chart_model(chart_model(model, g.outer), g.inner)
    if isinstance(g, ActivationAffine):
        if g.model.layout.shapes != model.layout.shapes or g.model.layers != model.layers:
            raise UnsupportedMapError(f"K-FAC pullback: {g!r} was built for layers that are not those of "
                                      f"{model!r}.")
        return ActivationAffine(model, g.transforms).transformed_model()
    if isinstance(g, Affine) and g.dim == model.dim and np.array_equal(g.A, np.eye(g.dim)):
        return _translated(model, g.b)
    if isinstance(g, KroneckerMap) and _homogeneous(model, g.layout):
        parts = list(zip(g.lefts, g.rights, g.shifts))
        linear = ActivationAffine(model, [LayerAffine(U=B, Phi=np.linalg.inv(A)) for A, B, _ in parts])
        out = linear.transformed_model()
        if any(np.any(C) for C in g.shifts):  # A Ψ B + C = A (Ψ + A⁻¹ C B⁻¹) B
            shift = [np.linalg.solve(A, np.linalg.solve(B.T, C.T).T) for A, B, C in parts]
            out = _translated(out, g.layout.join(shift))
        return out
    raise UnsupportedMapError(
        f"K-FAC is defined in charts that keep the layer structure (affine maps of each layer's "
        f"activations, per-layer W = A Wψ B + C, translations); {g!r} mixes parameters across the "
        f"layers of {model!r}."
    )


def _homogeneous(model, layout):
    """Whether ``model`` is laid out as the bias-free homogeneous blocks of ``layout``, in order."""
    layers = [(L.kind, L.weight, L.bias) for L in model.layers]
    return (isinstance(model.layout, MatrixLayout) and model.layout == layout
            and layers == [("dense", n, None) for n in layout.names])


def _translated(model, b):
    """The model of ``ψ`` with ``θ = ψ + b`` (same layers, same taps)."""
    from ...models.model import Model

    bk, layout = model.backend, model.layout
    flat = bk.asarray(np.asarray(b, dtype=np.float64).astype(bk.to_numpy(model.theta).dtype))
    shift = layout.unflatten(flat)

    def fn(named, X, tap=None):
        moved = {n: named[n] + shift[n] for n in layout.names}
        return model.fn(moved, X) if tap is None else model.fn(moved, X, tap=tap)

    return Model(fn, layout, model.theta - flat, bk, layers=model.layers,
                 name=f"{model.name} [translated]")
