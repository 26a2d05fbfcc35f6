"""The transformation rules (``design.md`` §1) as two free functions dispatched on type.

For ``θ = g(ψ)`` with ``J = ∂θ/∂ψ``:

========================  =========================================
object on Θ               its pullback to Ψ
========================  =========================================
scalar function ``L``     ``L ∘ g``
:class:`Vector` ``v``     ``J⁻¹ v`` at ``ψ = g⁻¹(θ)``
:class:`Covector` ``w``   ``Jᵀ w``
:class:`Metric` ``G``     ``Jᵀ G(g(ψ)) J`` (:class:`~rgeom.metrics.Pullback`)
:class:`Operator` ``E``   ``J⁻¹ E J``
:class:`BilinearForm` B   ``Jᵀ B J``
:class:`Density` (Leb.)   ``p(g(ψ)) |det J|``
:class:`Density` (vol.)   ``p(g(ψ))`` w.r.t. the pulled-back metric
========================  =========================================

``pushforward(obj, g)`` is ``pullback(obj, g.inv)``.
"""

import functools

from ..maps.base import Map
from ..metrics.base import Metric
from ..metrics.pullback import Pullback
from .density import Density
from .tensors import BilinearForm, Covector, Operator, Vector


class PulledBackFunction:
    """``L ∘ g``: a scalar function composed with a map (callable on any backend)."""

    def __init__(self, fn, g):
        self.fn, self.map = fn, g

    def __call__(self, psi):
        return self.fn(self.map(psi))

    def __repr__(self):
        return f"{getattr(self.fn, '__name__', 'fn')} ∘ {self.map!r}"


def pullback(obj, g):
    """Pull ``obj`` back along ``θ = g(ψ)``: express it in the ψ chart.

    Parameters
    ----------
    obj : callable, Vector, Covector, Metric, Operator, BilinearForm or Density
        The object in θ coordinates (tangent objects carry their base point θ).
    g : rgeom.maps.Map
        The reparametrization.

    Returns
    -------
    object
        Same kind as ``obj``, in ψ coordinates (at ``ψ = g⁻¹(θ)`` for objects at a point).

    Raises
    ------
    TypeError
        If ``g`` is not a Map or ``obj`` has no transformation rule.
    SingularJacobianError
        If ``g`` is not invertible at the point.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> polar = rgeom.maps.Polar()
    >>> v = rgeom.Vector(np.array([0.0, 2.0]), np.array([-1.0, 0.0]))   # at θ = (0, 2)
    >>> rgeom.pullback(v, polar).numpy().round(12).tolist()               # (dr, dφ)
    [0.0, 0.5]
    """
    if not isinstance(g, Map):
        raise TypeError(f"g must be an rgeom.maps.Map, got {type(g).__name__}.")
    return _pullback(obj, g)


def pushforward(obj, g):
    """Push ``obj`` forward along ``θ = g(ψ)``: from the ψ chart to the θ chart.

    Equal to ``pullback(obj, g.inv)``; e.g. a vector ``u`` at ψ becomes ``J u`` at ``g(ψ)``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> u = rgeom.Vector(np.array([2.0, 0.0]), np.array([0.0, 1.0]))    # dφ at r=2, φ=0
    >>> rgeom.pushforward(u, rgeom.maps.Polar()).numpy().round(12).tolist()
    [0.0, 2.0]
    """
    if not isinstance(g, Map):
        raise TypeError(f"g must be an rgeom.maps.Map, got {type(g).__name__}.")
    return _pullback(obj, g.inv)


@functools.singledispatch
def _pullback(obj, g):
    if callable(obj):
        return PulledBackFunction(obj, g)
    raise TypeError(
        f"no transformation rule for {type(obj).__name__}; expected a scalar function, Vector, "
        "Covector, Metric, Operator, BilinearForm or Density."
    )


def _source_point(obj, g):
    """ψ = g⁻¹(θ) for an object at θ, checked for invertibility of g there."""
    psi = g.inverse(obj.point)
    g.check_invertible(psi, "g.inverse(point)")
    return psi


@_pullback.register
def _(v: Vector, g):
    psi = _source_point(v, g)
    return Vector(psi, g.inverse_jvp(v.point, v.components))


@_pullback.register
def _(w: Covector, g):
    psi = _source_point(w, g)
    return Covector(psi, g.vjp(psi, w.components))


@_pullback.register
def _(metric: Metric, g):
    return Pullback(metric, g)


@_pullback.register
def _(E: Operator, g):
    psi, theta = _source_point(E, g), E.point
    return Operator(psi, lambda u: g.inverse_jvp(theta, E.mv(g.jvp(psi, u))))


@_pullback.register
def _(B: BilinearForm, g):
    psi = _source_point(B, g)
    return BilinearForm(psi, lambda u: g.vjp(psi, B.mv(g.jvp(psi, u))))


@_pullback.register
def _(p: Density, g):
    # log p(g(ψ)) + log|det J| (Lebesgue) or log p(g(ψ)) w.r.t. the pulled-back metric
    # (Riemannian); -inf outside the domain of g; keeps (base, map) for sampling.
    return p.pullback(g)
