"""Dormand–Prince 5(4) with first-same-as-last stage, error control and dense output.

Coefficients from Dormand & Prince (1980) and the continuous extension of order 4 from Hairer,
Nørsett & Wanner, *Solving Ordinary Differential Equations I* (code DOPRI5), as in
:class:`scipy.integrate.RK45`.
"""

import dataclasses

from .base import Adaptive, lincomb

__all__ = ["Dopri5"]

_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),   # = b (fifth order)
)
# b − b̂ (fifth minus embedded fourth order), over the seven stages (the last is f(t+h, y1)).
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
# Hairer's dense-output coefficients d_i (the fifth coefficient of the quartic interpolant).
_D = (-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799, -10690763975 / 1880347072,
      701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423)


@dataclasses.dataclass(frozen=True)
class Dopri5(Adaptive):
    """Adaptive Dormand–Prince 5(4) (order 5, error estimate of order 4, 6 evaluations per step).

    The fifth-order solution is propagated (local extrapolation); the last stage is the field at
    the new point and is reused as the first stage of the next step (FSAL). Dense output is the
    fourth-order continuous extension of DOPRI5: per step, besides the end points and their
    derivatives, one extra coefficient ``h Σ dᵢ kᵢ`` is stored.

    Parameters
    ----------
    safety, min_factor, max_factor, beta
        Step-size controller (see :class:`~rgeom.flows.integrators.base.Adaptive`).

    Examples
    --------
    >>> import numpy as np
    >>> field = lambda t, y: (-y[0],)
    >>> y0 = (np.array([1.0]),)
    >>> y1, f1, err, _ = Dopri5().attempt(field, 0.0, y0, field(0.0, y0), 0.1)
    >>> bool(abs(y1[0][0] - np.exp(-0.1)) < 1e-9), bool(abs(err[0][0]) < 1e-7)
    (True, True)
    """

    name = "dopri5"
    order = 5
    error_order = 4
    n_stages = 6
    tableau = (_C, tuple(row + (0.0,) * (7 - len(row)) for row in _A), _A[6] + (0.0,), _E, _D)

    def attempt(self, field, t, y, f0, h):
        ks = [f0]
        for i in range(1, 6):
            ks.append(field(t + _C[i] * h, lincomb(y, h, _A[i], ks)))
        y1 = lincomb(y, h, _A[6], ks)
        f1 = field(t + h, y1)
        ks.append(f1)
        err = tuple(e - e for e in y)           # zeros of the right type/dtype on every backend
        err = lincomb(err, h, _E, ks)
        return y1, f1, err, tuple(ks)

    def dense_coefficient(self, h, stages):
        zero = tuple(k - k for k in stages[0])
        return lincomb(zero, h, _D, stages)

    def dense_eval(self, theta, h, y0, y1, f0, f1, r5):
        """The continuous extension at ``t₀ + θh`` (``θ ∈ [0, 1]``), per component.

        ``theta`` and ``h`` broadcast against the arrays (shape ``(m, 1)`` for ``m`` points);
        ``r5`` is the stored :meth:`dense_coefficient`.
        """
        theta1 = 1.0 - theta
        dy = y1 - y0
        c3 = h * f0 - dy
        c4 = dy - h * f1 - c3
        return y0 + theta * (dy + theta1 * (c3 + theta * (c4 + theta1 * r5)))
