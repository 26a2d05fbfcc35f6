"""Optimizers as vector fields on their state, each declaring its components' tensorial kinds.

======================  ====================================  ==================================
registry name           class                                 state
======================  ====================================  ==================================
``gd``                  :class:`GD`                           θ
``sign_gd``             :class:`SignGD`                       θ
``heavy_ball``          :class:`HeavyBall`                    θ, velocity (vector)
``nesterov``            :class:`Nesterov`                     θ, velocity (vector)
``adam``                :class:`Adam`                         θ, m (covector), v (none)
``rmsprop``             :class:`RMSProp`                      θ, v (none)
``adagrad``             :class:`AdaGrad`                      θ, v (none)
``newton``              :class:`Newton`                       θ
``riemannian_newton``   :class:`RiemannianNewton`             θ
``ngd``                 :class:`NaturalGradient`              θ
``ngd_momentum``        :class:`NaturalMomentum` (no Γ)       θ, velocity (vector)
``ngd_momentum_lc``     :class:`NaturalMomentum` (with Γ)     θ, velocity (vector)
``rgd_exp``             :class:`RiemannianGD` (exp map)       θ
``rgd_geodesic``        :class:`RiemannianGD` (2nd order)     θ
``kfac``                :class:`KFAC` (K-FAC metric)          θ
``shampoo``             :class:`Shampoo`                      θ, L_i, R_i (none)
======================  ====================================  ==================================

Every discrete update is one Euler step of the field with step size = learning rate, except the
two Riemannian GD schemes, which provide their own :meth:`~Optimizer.step`.
"""

import dataclasses

from .adaptive import AdaGrad, Adam, RMSProp
from .base import KINDS, Component, Optimizer, UnsupportedMapError, check_lr, map_state
from .gradient import GD, SignGD
from .kfac import KFAC
from .momentum import HeavyBall, Nesterov
from .natural import NaturalGradient, NaturalMomentum
from .newton import Newton, RiemannianNewton
from .riemannian import RiemannianGD
from .shampoo import Shampoo

__all__ = [
    "Optimizer", "Component", "KINDS", "UnsupportedMapError", "check_lr", "map_state", "get", "REGISTRY",
    "GD", "SignGD", "HeavyBall", "Nesterov", "Adam", "RMSProp", "AdaGrad", "Newton", "RiemannianNewton",
    "NaturalGradient", "NaturalMomentum", "RiemannianGD", "KFAC", "Shampoo",
]

#: name -> (class, fixed keyword arguments)
REGISTRY = {
    "gd": (GD, {}),
    "sign_gd": (SignGD, {}),
    "heavy_ball": (HeavyBall, {}),
    "nesterov": (Nesterov, {}),
    "adam": (Adam, {}),
    "rmsprop": (RMSProp, {}),
    "adagrad": (AdaGrad, {}),
    "newton": (Newton, {}),
    "riemannian_newton": (RiemannianNewton, {}),
    "ngd": (NaturalGradient, {}),
    "ngd_momentum": (NaturalMomentum, {"christoffel": False}),
    "ngd_momentum_lc": (NaturalMomentum, {"christoffel": True}),
    "rgd_exp": (RiemannianGD, {"update": "exp"}),
    "rgd_geodesic": (RiemannianGD, {"update": "geodesic"}),
    "kfac": (KFAC, {}),
    "shampoo": (Shampoo, {}),
}


def get(name, **hyper):
    """The optimizer registered as ``name``, built with hyper-parameters ``hyper``.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY` (listed in this module's table).
    **hyper
        Keyword arguments of the class (``metric=``, ``gamma=``, ``layout=``, …).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    TypeError
        For a hyper-parameter the optimizer does not have (the message lists those it has).

    Examples
    --------
    >>> from rgeom.flows.optimizers import get
    >>> get("adam", gamma1=2.0)
    Adam(gamma1=2.0, gamma2=1.0, eps=1e-08)
    >>> get("adamw")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown optimizer 'adamw'; known optimizers: gd, sign_gd, heavy_ball, ..., shampoo.
    """
    if name not in REGISTRY:
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: {', '.join(REGISTRY)}.")
    cls, fixed = REGISTRY[name]
    allowed = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    unknown = [k for k in hyper if k not in allowed]
    if unknown:
        raise TypeError(f"optimizer {name!r} has no hyper-parameter {unknown[0]!r}; it takes: "
                        f"{', '.join(allowed) or 'none'}.")
    return cls(**fixed, **hyper)
