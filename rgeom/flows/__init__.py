"""Gradient flows: optimizers as vector fields, integrated with a declared order.

An optimizer is a vector field on its state plus an integrator; its usual discrete update is one
explicit Euler step whose size is the learning rate. :func:`integrate` is the one driver for
every integrator (:mod:`rgeom.flows.integrators`) on every backend; on JAX the whole loop is
compiled.

Examples
--------
>>> import numpy as np
>>> from rgeom.flows import integrate
>>> sol = integrate(lambda t, y: (-y[0],), (np.array([1.0]),), dt=0.25, n_steps=4, integrator="rk4")
>>> round(float(sol.y_final[0][0]), 5), round(float(np.exp(-1.0)), 5)
(0.36789, 0.36788)
"""

from . import integrators
from .driver import integrate
from .solution import Solution

from . import audit, map_families, optimizers
from .audit import discrepancy, one_step
from .optimizers import Optimizer
from .optimizers import get as get_optimizer

__all__ = [
    "integrate", "Solution", "integrators", "optimizers", "map_families", "audit", "Optimizer",
    "get_optimizer", "discrepancy", "one_step",
]
