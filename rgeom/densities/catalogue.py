"""A small catalogue of normalized densities w.r.t. Lebesgue measure, on every backend.

Each entry is an :class:`rgeom.Density` with an exact, seeded sampler and an explicit support.
Log-densities are written through the array namespace of their input (autograd.numpy, jax.numpy
or torch); outside the support they are ``-inf`` with finite (zero) derivatives, never NaN, so
optimizers can reject such steps. Normalizing constants are computed once with
:mod:`scipy.special` in float64.

=============  ==============================  ======================================
entry          support (chart)                 log-density (Lebesgue)
=============  ==============================  ======================================
Gaussian       ``R^d``                         ``−½ rᵀΣ⁻¹r − ½ log det 2πΣ``
LogNormal      ``(0, ∞)^d``                    ``Σ −log x − log σ√2π − (log x − μ)²/2σ²``
Beta           ``(0, 1)``                      ``(a−1) log x + (b−1) log(1−x) − log B(a,b)``
Gamma          ``(0, ∞)``                      ``(k−1) log x − βx + k log β − log Γ(k)``
Dirichlet      ``x ∈ (0,1)^{K−1}, Σx < 1``     ``Σ (αᵢ−1) log xᵢ − log B(α)``, ``x_K = 1 − Σx``
=============  ==============================  ======================================

The von Mises–Fisher distribution on the sphere (through geomstats) is
:class:`rgeom.densities.VonMisesFisher`.
"""

import numpy as np
import scipy.special

from .._checks import concrete
from ..backend import get_backend
from ..errors import ShapeError
from ..geometry.density import Density
from .samples import rng_from_seed as _rng


def _positive(value, name, where, shape=None):
    a = np.asarray(value, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise ShapeError(f"{where}: {name} must have shape {shape}, got {a.shape}.")
    if not (np.all(np.isfinite(a)) and np.all(a > 0)):
        raise ValueError(f"{where}: {name} must be finite and > 0, got {value!r}.")
    return a


class CatalogueDensity(Density):
    """Base of the catalogue: a normalized density with support test and exact sampler.

    Subclasses implement ``_inside(bk, x)`` (a boolean scalar on the backend), ``_logpdf(bk, x)``
    (valid inside the support), ``_draw(rng, n)`` (NumPy samples) and set ``_safe`` (a point of
    the support used to keep derivatives finite outside it).
    """

    def __init__(self, dim):
        super().__init__(self._log, dim=dim)

    def _log(self, x):
        bk = get_backend(None, x)
        xp = bk.xp
        if tuple(x.shape) != (self.dim,):
            raise ShapeError(f"{self!r}: points must have shape ({self.dim},), got {tuple(x.shape)}.")
        inside = self._inside(bk, x)
        if inside is None:
            return self._logpdf(bk, x)
        safe = xp.where(inside, x, bk.asarray(self._safe, dtype=x.dtype))
        return xp.where(inside, self._logpdf(bk, safe), bk.asarray(np.array(-np.inf), dtype=x.dtype))

    def _inside(self, bk, x):
        return None

    def in_support(self, theta):
        inside = self._inside(get_backend(None, theta), theta)
        return True if inside is None else bool(np.all(concrete(inside)))

    def sample(self, n, *, seed, backend=None):
        """``n`` exact samples, shape ``(n, d)`` (NumPy float64, or on ``backend``).

        Parameters
        ----------
        n : int
        seed : int or numpy.random.Generator
            Required.
        backend : None, str or Backend
            Array type of the result (None: NumPy).
        """
        out = np.asarray(self._draw(_rng(seed), int(n)), dtype=np.float64).reshape(int(n), self.dim)
        return out if backend is None else get_backend(backend).asarray(out)

    def _c(self, bk, a, like):
        return bk.asarray(np.asarray(a, dtype=np.float64), dtype=like.dtype)


class Gaussian(CatalogueDensity):
    """Multivariate normal ``N(mean, cov)`` on ``R^d``.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import Gaussian
    >>> p = Gaussian([0.0, 1.0], [[1.0, 0.0], [0.0, 4.0]])
    >>> round(float(p.log_prob(np.array([0.0, 1.0]))), 10)                   # −log(2π · 2)
    -2.531024247
    """

    def __init__(self, mean, cov):
        mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        if mean.ndim != 1 or not np.all(np.isfinite(mean)):
            raise ShapeError(f"Gaussian: mean must be a finite 1-D array, got {mean!r}.")
        d = mean.shape[0]
        cov = np.asarray(cov, dtype=np.float64)
        if d == 1 and cov.size == 1:
            cov = cov.reshape(1, 1)
        if cov.shape != (d, d):
            raise ShapeError(f"Gaussian: cov must have shape ({d}, {d}), got {cov.shape}.")
        from ..metrics.base import check_spd_matrix

        check_spd_matrix(cov, "Gaussian: cov")
        self.mean, self.cov = mean, cov
        self._chol = np.linalg.cholesky(cov)
        self._prec = np.linalg.inv(cov)
        self._prec = 0.5 * (self._prec + self._prec.T)
        self._const = -0.5 * d * np.log(2 * np.pi) - float(np.sum(np.log(np.diag(self._chol))))
        super().__init__(d)

    def _logpdf(self, bk, x):
        r = x - self._c(bk, self.mean, x)
        return self._const - 0.5 * bk.xp.sum(r * (self._c(bk, self._prec, x) @ r))

    def _draw(self, rng, n):
        return self.mean + rng.standard_normal((n, self.dim)) @ self._chol.T

    def __repr__(self):
        return f"Gaussian(d={self.dim})"


class LogNormal(CatalogueDensity):
    """Independent log-normal coordinates: ``log xᵢ ~ N(μᵢ, σᵢ²)``, ``x ∈ (0, ∞)^d``.

    Parameters
    ----------
    mu, sigma : float or array_like, shape (d,)
        Mean and standard deviation of ``log x`` (``sigma > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import LogNormal
    >>> p = LogNormal(0.0, 1.0)
    >>> round(float(p.log_prob(np.array([1.0]))), 12)                       # −½ log 2π
    -0.918938533205
    >>> float(p.log_prob(np.array([-1.0])))
    -inf
    """

    def __init__(self, mu=0.0, sigma=1.0):
        mu, sigma = np.broadcast_arrays(np.atleast_1d(np.asarray(mu, dtype=np.float64)),
                                        np.atleast_1d(np.asarray(sigma, dtype=np.float64)))
        if mu.ndim != 1 or not np.all(np.isfinite(mu)):
            raise ShapeError(f"LogNormal: mu must be finite, scalar or 1-D, got {mu!r}.")
        self.mu, self.sigma = mu.copy(), _positive(sigma, "sigma", "LogNormal").copy()
        self._safe = np.exp(self.mu)
        self._const = float(-np.sum(np.log(self.sigma)) - 0.5 * mu.shape[0] * np.log(2 * np.pi))
        super().__init__(mu.shape[0])

    def _inside(self, bk, x):
        return (x > 0).all()

    def _logpdf(self, bk, x):
        xp = bk.xp
        lx = xp.log(x)
        z = (lx - self._c(bk, self.mu, x)) / self._c(bk, self.sigma, x)
        return self._const - xp.sum(lx) - 0.5 * xp.sum(z * z)

    def _draw(self, rng, n):
        return np.exp(self.mu + self.sigma * rng.standard_normal((n, self.dim)))

    def __repr__(self):
        return f"LogNormal(mu={self.mu.tolist()}, sigma={self.sigma.tolist()})"


class Beta(CatalogueDensity):
    """``Beta(a, b)`` on ``(0, 1)`` (1-D).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import Beta
    >>> round(float(Beta(2.0, 2.0)(np.array([0.5]))), 12)                 # 6 x (1 − x) at ½
    1.5
    """

    def __init__(self, a, b):
        self.a = float(_positive(a, "a", "Beta", ()))
        self.b = float(_positive(b, "b", "Beta", ()))
        self._safe = np.array([self.a / (self.a + self.b)])
        self._const = -float(scipy.special.betaln(self.a, self.b))
        super().__init__(1)

    def _inside(self, bk, x):
        return ((x > 0) & (x < 1)).all()

    def _logpdf(self, bk, x):
        xp = bk.xp
        return self._const + xp.sum((self.a - 1.0) * xp.log(x) + (self.b - 1.0) * xp.log1p(-x))

    def _draw(self, rng, n):
        return rng.beta(self.a, self.b, size=(n, 1))

    def __repr__(self):
        return f"Beta({self.a:g}, {self.b:g})"


class Gamma(CatalogueDensity):
    """``Gamma(shape k, rate β)`` on ``(0, ∞)`` (1-D), mean ``k/β``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import Gamma
    >>> round(float(Gamma(1.0, 2.0)(np.array([1.0]))), 12)                   # 2 e^(−2)
    0.270670566473
    """

    def __init__(self, shape, rate=1.0):
        self.shape = float(_positive(shape, "shape", "Gamma", ()))
        self.rate = float(_positive(rate, "rate", "Gamma", ()))
        self._safe = np.array([self.shape / self.rate])
        self._const = float(self.shape * np.log(self.rate) - scipy.special.gammaln(self.shape))
        super().__init__(1)

    def _inside(self, bk, x):
        return (x > 0).all()

    def _logpdf(self, bk, x):
        xp = bk.xp
        return self._const + xp.sum((self.shape - 1.0) * xp.log(x) - self.rate * x)

    def _draw(self, rng, n):
        return rng.gamma(self.shape, 1.0 / self.rate, size=(n, 1))

    def __repr__(self):
        return f"Gamma(shape={self.shape:g}, rate={self.rate:g})"


class Dirichlet(CatalogueDensity):
    """``Dirichlet(α)`` on the simplex, in the chart of its first ``K − 1`` coordinates.

    A point is ``x = (x_1, …, x_{K−1})`` with ``xᵢ > 0`` and ``Σ xᵢ < 1``; ``x_K = 1 − Σ xᵢ``. The
    density is w.r.t. Lebesgue measure on those ``K − 1`` coordinates.

    Parameters
    ----------
    alpha : array_like, shape (K,)
        Concentrations, ``K >= 2``, all ``> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.densities import Dirichlet
    >>> round(float(Dirichlet([1.0, 1.0, 1.0])(np.array([0.2, 0.3]))), 12)   # uniform: 1 / area = 2
    2.0
    """

    def __init__(self, alpha):
        alpha = _positive(alpha, "alpha", "Dirichlet")
        if alpha.ndim != 1 or alpha.shape[0] < 2:
            raise ShapeError(f"Dirichlet: alpha must be a 1-D array of K >= 2 entries, got shape {alpha.shape}.")
        self.alpha = alpha
        self._safe = alpha[:-1] / alpha.sum()
        self._const = float(scipy.special.gammaln(alpha.sum()) - np.sum(scipy.special.gammaln(alpha)))
        super().__init__(alpha.shape[0] - 1)

    def _inside(self, bk, x):
        return (x > 0).all() & (bk.xp.sum(x) < 1)

    def _logpdf(self, bk, x):
        xp = bk.xp
        last = 1.0 - xp.sum(x)
        return (self._const + xp.sum(self._c(bk, self.alpha[:-1] - 1.0, x) * xp.log(x))
                + (self.alpha[-1] - 1.0) * xp.log(last))

    def _draw(self, rng, n):
        return rng.dirichlet(self.alpha, size=n)[:, :-1]

    def __repr__(self):
        return f"Dirichlet({self.alpha.tolist()})"
