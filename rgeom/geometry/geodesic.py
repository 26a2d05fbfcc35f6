"""The geodesic exponential map of any metric, by integrating ``θ̈ = −Γ(θ̇, θ̇)``."""

import numpy as np
import scipy.integrate

from .._checks import check_vector
from ..backend import get_backend
from ..errors import ConvergenceError, RgeomError
from ..metrics.christoffel import christoffel_contract


def exp(metric, theta, v, *, t=1.0, rtol=1e-11, atol=1e-12, method="DOP853", max_steps=100_000):
    """The Riemannian exponential map ``exp_θ(t v)``: follow the geodesic from ``theta``.

    Integrates the geodesic equation ``θ̈ᵏ = −Γᵏᵢⱼ θ̇ⁱ θ̇ʲ`` with ``scipy.integrate.solve_ivp``
    (DOP853 by default) at the stated tolerances; the Christoffel contraction is matrix-free.
    For metrics with a closed-form exponential (geomstats), expect agreement near ``rtol``.

    Parameters
    ----------
    metric : Metric
    theta : array, shape (d,)
        Start point.
    v : array, shape (d,)
        Initial velocity (components of a tangent vector at ``theta``).
    t : float
        Integration time; the result is ``γ(t)`` with ``γ(0) = θ``, ``γ'(0) = v``.
    rtol, atol : float
        Tolerances handed to the integrator (per step, on position and velocity).

    Returns
    -------
    array, shape (d,)
        The end point, on the backend of ``theta`` (computed in float64).

    Raises
    ------
    ConvergenceError
        If the integrator fails (e.g. the geodesic leaves the chart's domain).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> G = rgeom.pullback(rgeom.metrics.Euclidean(2), rgeom.maps.Polar())
    >>> # the straight line x = 1 in polar coordinates, from (1, 0) with unit speed in y
    >>> end = rgeom.exp(G, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    >>> np.allclose(end, [np.sqrt(2.0), np.pi / 4], atol=1e-9)
    True
    """
    theta = check_vector(theta, "theta", metric.dim)
    v = check_vector(v, "v", theta.shape[0])
    bk = get_backend(metric.backend, theta, v)
    d = theta.shape[0]

    def rhs(t_now, y):
        x, xd = bk.asarray(y[:d]), bk.asarray(y[d:])
        try:
            acc = bk.to_numpy(christoffel_contract(metric, x, xd, xd))
        except RgeomError as err:
            raise ConvergenceError(
                f"exp: the geodesic left the metric's domain near t={t_now:.6g}, θ={y[:d]}: {err}"
            ) from err
        if not np.all(np.isfinite(acc)):
            raise ConvergenceError(f"exp: the geodesic equation produced non-finite values at {y[:d]}.")
        return np.concatenate([y[d:], -acc])

    y0 = np.concatenate([bk.to_numpy(theta), bk.to_numpy(v)]).astype(np.float64)
    sol = scipy.integrate.solve_ivp(rhs, (0.0, float(t)), y0, method=method, rtol=rtol, atol=atol)
    if not sol.success:
        raise ConvergenceError(f"exp: geodesic integration failed at t={sol.t[-1]:.6g}: {sol.message}")
    return bk.asarray(sol.y[:d, -1])
