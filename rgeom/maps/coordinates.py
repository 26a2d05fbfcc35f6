"""Curvilinear coordinates: polar (2-D) and spherical (3-D)."""

from ..backend import namespace
from .base import Map


class Polar(Map):
    """Polar coordinates: ``ψ = (r, φ) ↦ θ = (r cos φ, r sin φ)``.

    A diffeomorphism from ``{r > 0, -π < φ < π}`` onto the plane minus the non-positive x-axis;
    :meth:`inverse` returns ``φ = atan2(y, x)``. ``log|det J| = log r``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.Polar()
    >>> np.round(g.inverse(np.array([1.0, 1.0])), 6).tolist()
    [1.414214, 0.785398]
    """

    dim = 2

    def forward(self, psi):
        xp = namespace(psi)
        r, phi = psi[0], psi[1]
        return xp.stack([r * xp.cos(phi), r * xp.sin(phi)])

    def inverse(self, theta):
        xp = namespace(theta)
        x, y = theta[0], theta[1]
        return xp.stack([xp.sqrt(x * x + y * y), xp.arctan2(y, x)])

    def log_abs_det_jacobian(self, psi):
        return namespace(psi).log(abs(psi[0]))


class Spherical(Map):
    """Spherical coordinates: ``ψ = (r, ϑ, φ) ↦ θ = (r sinϑ cosφ, r sinϑ sinφ, r cosϑ)``.

    ``ϑ ∈ (0, π)`` is the polar angle, ``φ ∈ (-π, π)`` the azimuth; ``log|det J| = log(r² sin ϑ)``.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> g = rgeom.maps.Spherical()
    >>> np.round(g(np.array([2.0, np.pi / 2, 0.0])), 12).tolist()
    [2.0, 0.0, 0.0]
    """

    dim = 3

    def forward(self, psi):
        xp = namespace(psi)
        r, th, ph = psi[0], psi[1], psi[2]
        return xp.stack([r * xp.sin(th) * xp.cos(ph), r * xp.sin(th) * xp.sin(ph), r * xp.cos(th)])

    def inverse(self, theta):
        xp = namespace(theta)
        x, y, z = theta[0], theta[1], theta[2]
        r = xp.sqrt(x * x + y * y + z * z)
        return xp.stack([r, xp.arctan2(xp.sqrt(x * x + y * y), z), xp.arctan2(y, x)])

    def log_abs_det_jacobian(self, psi):
        xp = namespace(psi)
        return xp.log(psi[0] * psi[0] * abs(xp.sin(psi[1])))
