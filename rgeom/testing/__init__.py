"""Public testing toolkit: Hypothesis strategies and assertion helpers for rgeom objects.

* Strategies (need ``hypothesis``): :func:`spd_matrices`, :func:`points`, :func:`metrics`,
  :func:`diffeomorphisms`, :func:`losses` — keyword-only controls, ``InvalidArgument`` on bad
  arguments, bounded conditioning by construction, bindable to a backend with ``backend=``.
* Assertions (no extra dependency): :func:`assert_invariant` ("this quantity is the same in both
  charts"), :func:`check_gradient` and :func:`check_hessian` (Taylor-remainder slopes 2 and 3),
  :func:`taylor_remainder_slopes` (the fitted slope and the data behind it).

``import rgeom`` does not import this package, so Hypothesis stays optional for users; the
strategies are loaded on first use, so the assertions work without Hypothesis installed.

Examples
--------
>>> import numpy as np
>>> from rgeom.testing import check_gradient
>>> round(check_gradient(lambda x: np.sum(x ** 2), np.array([1.0, 2.0]), np.array([2.0, 4.0])), 1)
2.0
"""

from .assertions import (
    TaylorRemainder,
    assert_invariant,
    check_gradient,
    check_hessian,
    taylor_remainder_slopes,
)

_STRATEGIES = ("spd_matrices", "points", "metrics", "diffeomorphisms", "losses")

__all__ = [
    "assert_invariant",
    "check_gradient",
    "check_hessian",
    "taylor_remainder_slopes",
    "TaylorRemainder",
    *_STRATEGIES,
]


def __getattr__(name):
    if name in _STRATEGIES or name == "strategies":
        import importlib

        strategies = importlib.import_module(__name__ + ".strategies")
        return strategies if name == "strategies" else getattr(strategies, name)
    raise AttributeError(f"module 'rgeom.testing' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
