"""Integrators with a declared order, one short module each, and their registry.

======================  ==========================  =====  ========  ===========
name                    class                       order  adaptive  evals/step
======================  ==========================  =====  ========  ===========
``euler``               :class:`Euler`              1      no        1
``heun`` (``rk2``)      :class:`Heun`               2      no        2
``rk4``                 :class:`RK4`                4      no        4
``dopri5``              :class:`Dopri5`             5 (4)  yes       6 (FSAL)
``scipy:RK23``          :class:`ScipyIVP`           3 (2)  yes       3
``scipy:RK45``          :class:`ScipyIVP`           5 (4)  yes       6
``scipy:DOP853``        :class:`ScipyIVP`           8 (7)  yes       12
``scipy:Radau``         :class:`ScipyIVP`           5 (3)  yes       implicit
``scipy:BDF``           :class:`ScipyIVP`           1–5    yes       implicit
``scipy:LSODA``         :class:`ScipyIVP`           1–12   yes       implicit
======================  ==========================  =====  ========  ===========

The order in parentheses is that of the embedded error estimate (:attr:`Integrator.error_order`).
"""

from .base import Adaptive, FixedStep, Integrator, error_norm, lincomb
from .dopri5 import Dopri5
from .euler import Euler
from .heun import Heun
from .rk4 import RK4
from .scipy_ivp import METHODS, ScipyIVP

__all__ = ["Integrator", "FixedStep", "Adaptive", "Euler", "Heun", "RK4", "Dopri5", "ScipyIVP",
           "REGISTRY", "get", "orders", "lincomb", "error_norm"]

#: name -> integrator instance (with default settings).
REGISTRY = {
    "euler": Euler(),
    "heun": Heun(),
    "rk2": Heun(),
    "rk4": RK4(),
    "dopri5": Dopri5(),
    **{f"scipy:{m}": ScipyIVP(m) for m in METHODS},
}


def get(name):
    """The integrator registered as ``name`` (an :class:`Integrator` is returned unchanged).

    Parameters
    ----------
    name : str or Integrator
        A key of :data:`REGISTRY` (see the table above).

    Returns
    -------
    Integrator

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).

    Examples
    --------
    >>> from rgeom.flows.integrators import get
    >>> get("rk4").order, get("rk2").name, get("dopri5").adaptive
    (4, 'heun', True)
    >>> get("rk5")
    Traceback (most recent call last):
    ...
    ValueError: unknown integrator 'rk5'; known integrators: euler, heun, rk2, rk4, dopri5, scipy:RK23, scipy:RK45, scipy:DOP853, scipy:Radau, scipy:BDF, scipy:LSODA.
    """
    if isinstance(name, Integrator):
        return name
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown integrator {name!r}; known integrators: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def orders():
    """Declared order of every registered integrator (``None`` for variable order).

    Examples
    --------
    >>> from rgeom.flows.integrators import orders
    >>> {k: v for k, v in orders().items() if not k.startswith("scipy")}
    {'euler': 1, 'heun': 2, 'rk2': 2, 'rk4': 4, 'dopri5': 5}
    """
    return {name: integ.order for name, integ in REGISTRY.items()}
