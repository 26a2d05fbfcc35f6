"""The von Mises–Fisher distribution on the sphere S², through geomstats.

Its density is naturally taken w.r.t. the sphere's area measure, so it is a *Riemannian* density:
``p(x) = κ / (4π sinh κ) · exp(κ μᵀx)``. In geomstats' spherical chart ``ψ = (ϑ, φ)`` (polar
angle ϑ ∈ (0, π) from the north pole, azimuth φ) the metric is ``diag(1, sin²ϑ)`` (wrapped from
geomstats' ``Hypersphere(2, intrinsic=True)``), and the density w.r.t. Lebesgue measure ``dϑ dφ``
is ``p · sin ϑ``: its naive mode is pulled towards the equator, while the invariant mode is ``μ``.
Sampling uses geomstats' ``random_von_mises_fisher`` (Wood, 1994).
"""

import contextlib

import numpy as np

from ..backend import get_backend
from ..errors import ShapeError
from ..geometry.density import Density, _Reweighted, same_metric
from .catalogue import _positive
from .samples import rng_from_seed as _rng


@contextlib.contextmanager
def _seeded_global_numpy(rng):
    """Seed NumPy's global generator (geomstats draws from it) and restore it afterwards."""
    state = np.random.get_state()
    try:
        np.random.seed(int(rng.integers(2**32 - 1)))
        yield
    finally:
        np.random.set_state(state)


class VonMisesFisher(Density):
    """von Mises–Fisher ``vMF(μ, κ)`` on S², in spherical coordinates ``(ϑ, φ)``.

    The log-density is w.r.t. the volume (area) of the round metric, given by geomstats:
    ``metric`` is ``rgeom.metrics.from_geomstats(Hypersphere(2, intrinsic=True))``.
    ``with_respect_to(None)`` gives the chart (Lebesgue) density ``p sin ϑ`` in closed form.

    Parameters
    ----------
    mu : array_like, shape (3,)
        Mean direction (normalized here).
    kappa : float
        Concentration ``> 0``.

    Attributes
    ----------
    sphere : geomstats Hypersphere
    mean_direction : ndarray, shape (2,)
        ``μ`` in spherical coordinates (the invariant mode).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import VonMisesFisher
    >>> p = VonMisesFisher([1.0, 0.0, 0.0], kappa=5.0)
    >>> p.mean_direction.round(12).tolist()                  # (ϑ, φ) of the x axis
    [1.570796326795, 0.0]
    >>> m = p.mode(np.array([1.2, 0.3]), metric=p.metric)    # invariant mode: μ
    >>> np.allclose(m.point, p.mean_direction, atol=1e-8)
    True
    """

    def __init__(self, mu, kappa):
        from ..metrics.geomstats_adapter import from_geomstats, import_geomstats

        mu = np.asarray(mu, dtype=np.float64)
        if mu.shape != (3,) or not np.all(np.isfinite(mu)) or not np.linalg.norm(mu) > 0:
            raise ShapeError(f"VonMisesFisher: mu must be a finite non-zero vector of shape (3,), got {mu!r}.")
        self.mu = mu / np.linalg.norm(mu)
        self.kappa = float(_positive(kappa, "kappa", "VonMisesFisher", ()))
        import_geomstats()
        from geomstats.geometry.hypersphere import Hypersphere

        self.sphere = Hypersphere(2, intrinsic=True)
        k = self.kappa  # log(κ / (4π sinh κ)), written to avoid overflow for large κ
        self._const = float(np.log(k) - np.log(2 * np.pi) - k - np.log1p(-np.exp(-2 * k)))
        theta = float(np.arccos(np.clip(self.mu[2], -1.0, 1.0)))
        self.mean_direction = np.array([theta, float(np.arctan2(self.mu[1], self.mu[0]))])
        super().__init__(self._log, metric=from_geomstats(self.sphere), dim=2)

    @staticmethod
    def _inside(x):
        return (x[0] > 0) & (x[0] < np.pi)

    def _guard(self, bk, x, value_fn):
        xp = bk.xp
        inside = self._inside(x)
        safe = xp.where(inside, x, bk.asarray(np.array([np.pi / 2, 0.0]), dtype=x.dtype))
        return xp.where(inside, value_fn(safe), bk.asarray(np.array(-np.inf), dtype=x.dtype))

    def _embed(self, bk, x):
        xp = bk.xp
        s = xp.sin(x[0])
        return xp.stack([s * xp.cos(x[1]), s * xp.sin(x[1]), xp.cos(x[0])])

    def _log(self, x):
        if tuple(x.shape) != (2,):
            raise ShapeError(f"{self!r}: points are spherical coordinates of shape (2,), got {tuple(x.shape)}.")
        bk = get_backend(None, x)
        mu = bk.asarray(self.mu, dtype=x.dtype)
        return self._guard(bk, x, lambda y: self._const + self.kappa * bk.xp.sum(mu * self._embed(bk, y)))

    def _log_chart(self, x):
        """Lebesgue density in (ϑ, φ): ``log p + log sin ϑ``."""
        bk = get_backend(None, x)
        return self._guard(bk, x, lambda y: self._log(y) + bk.xp.log(bk.xp.sin(y[0])))

    def in_support(self, theta):
        return bool(self._inside(np.asarray(get_backend(None, theta).to_numpy(theta))))

    def with_respect_to(self, metric):
        if same_metric(metric, self.metric):
            return self
        chart = _ChartVMF(self)
        return chart if metric is None else chart.with_respect_to(metric)

    def sample(self, n, *, seed, backend=None):
        """``n`` exact samples in spherical coordinates, shape ``(n, 2)``, φ in ``(−π, π]``.

        Drawn by geomstats (Wood's algorithm) from NumPy's global generator, seeded from ``seed``
        and restored afterwards.
        """
        n = int(n)
        with _seeded_global_numpy(_rng(seed)):
            ext = np.asarray(self.sphere.random_von_mises_fisher(mu=self.mu, kappa=self.kappa,
                                                                 n_samples=n), dtype=np.float64)
        ext = ext.reshape(n, 3)
        out = np.stack([np.arccos(np.clip(ext[:, 2], -1.0, 1.0)), np.arctan2(ext[:, 1], ext[:, 0])], axis=1)
        return out if backend is None else get_backend(backend).asarray(out)

    def __repr__(self):
        return f"VonMisesFisher(mu={np.round(self.mu, 6).tolist()}, kappa={self.kappa:g})"


class _ChartVMF(_Reweighted):
    """The vMF density w.r.t. Lebesgue measure dϑ dφ, in closed form (no geomstats derivatives)."""

    def __init__(self, vmf):
        super().__init__(vmf, None)

    def _log(self, x):
        return self._source._log_chart(x)
