"""Which metric defines the invariant mode? Three documented choices.

The invariant mode and the invariant Laplace approximation need a metric ``G``: the reference
measure is its volume ``√det G dθ``. rgeom never picks one silently (``metric=None`` always means
Lebesgue measure in the chart, i.e. the naive answers). The three usual choices:

1. **A metric you give**: any :class:`rgeom.metrics.Metric` on the chart you work in.
2. **The Euclidean metric of a reference chart, pulled back** (:func:`chart_metric`): if you
   trust some coordinates ``ρ = h(ψ)`` (e.g. ``log σ`` for a scale, ``logit x`` for a
   probability), ``G = Jₕᵀ Jₕ``. The invariant mode is then the naive mode of the reference chart,
   seen from any chart.
3. **The Fisher information of a model** (:func:`fisher_metric`, :func:`hessian_metric`):
   ``G = F``. Then ``p / √det F`` is the density relative to the Jeffreys measure ``√det F dθ``,
   and the invariant mode is the "Jeffreys MAP" (Druilhet & Marin, 2007). For exponential
   families in canonical parameters (logistic or Poisson regression) the observed information,
   i.e. the Hessian of the negative log-likelihood, equals ``F``.

Whatever the choice, carry it along when you change chart: ``rgeom.pullback(G, g)``.
"""

from ..backend import get_backend
from ..maps.base import Map
from ..metrics.pullback import Pullback
from ..metrics.simple import Dense, Diagonal, Euclidean


def chart_metric(h, dim=None):
    """The Euclidean metric of the reference chart ``ρ = h(ψ)``, pulled back: ``G = Jₕᵀ Jₕ``.

    Parameters
    ----------
    h : Map
        From the chart you work in (ψ) to the reference chart (ρ).
    dim : int, optional
        Needed when ``h.dim`` is None (maps acting on any length).

    Returns
    -------
    Pullback
        A metric on the ψ chart, in squared reference units per squared ψ unit.

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.densities import chart_metric
    >>> G = chart_metric(rgeom.maps.Exp().inv, dim=1)     # reference chart log ψ: G = 1/ψ²
    >>> float(G.at(np.array([2.0])).as_matrix()[0, 0])
    0.25
    """
    if not isinstance(h, Map):
        raise TypeError(f"chart_metric: h must be an rgeom.maps.Map, got {type(h).__name__}.")
    d = h.dim if h.dim is not None else dim
    if d is None:
        raise ValueError(f"chart_metric: {h!r} acts on any dimension; pass dim=.")
    return Pullback(Euclidean(d), h)


def fisher_metric(fisher, *, dim=None, diagonal=False, constant=False, backend=None):
    """The Fisher information ``θ ↦ F(θ)`` of a model as a metric (volume: the Jeffreys measure).

    Parameters
    ----------
    fisher : callable
        ``θ (d,) -> F(θ)``, shape ``(d, d)`` (or ``(d,)`` with ``diagonal=True``), written for the
        backend of θ and differentiable in θ (Christoffel symbols need ``∂F``).
    dim : int, optional
    diagonal : bool
        ``fisher`` returns the diagonal only.
    constant : bool
        ``F`` does not depend on θ.
    backend : str, optional

    Returns
    -------
    Metric
        :class:`~rgeom.metrics.Dense` or :class:`~rgeom.metrics.Diagonal`, checked SPD at every use.

    Examples
    --------
    The Bernoulli model with success probability ``x``: ``F = 1 / (x (1 − x))``. Relative to the
    Jeffreys measure, ``Beta(a, b)`` has its mode at ``(a − ½) / (a + b − 1)``:

    >>> import numpy as np
    >>> from rgeom.densities import Beta, fisher_metric
    >>> F = fisher_metric(lambda x: 1.0 / (x * (1.0 - x)), diagonal=True, dim=1)
    >>> round(float(Beta(2.0, 5.0).mode(np.array([0.5]), metric=F).point[0]), 10)   # 1.5 / 6
    0.25
    """
    if not callable(fisher):
        raise TypeError(f"fisher_metric: fisher must be callable θ -> F(θ), got {fisher!r}.")
    cls = Diagonal if diagonal else Dense
    return cls(fisher, dim=dim, constant=constant, backend=backend)


def hessian_metric(neg_log_likelihood, *, dim=None, backend=None):
    """The observed information ``G(θ) = ∇²(−log p(y | θ))`` as a metric.

    Equal to the Fisher information when the Hessian of the negative log-likelihood does not
    depend on the data (exponential families in canonical parameters: logistic regression,
    Poisson regression with log link, ...). Must be positive definite wherever it is used
    (strictly convex negative log-likelihood); :meth:`at` checks it.

    Parameters
    ----------
    neg_log_likelihood : callable
        ``θ (d,) -> scalar``, three times differentiable on the backend of θ.
    dim : int, optional
    backend : str, optional

    Returns
    -------
    Dense

    Examples
    --------
    Logistic regression with one feature ``x = 1`` and one label: ``F(w) = σ(w)(1 − σ(w))``.

    >>> import autograd.numpy as np
    >>> from rgeom.densities import hessian_metric
    >>> nll = lambda w: np.sum(np.logaddexp(0.0, w) - 1.0 * w)
    >>> float(hessian_metric(nll, dim=1).at(np.array([0.0])).as_matrix()[0, 0])
    0.25
    """
    if not callable(neg_log_likelihood):
        raise TypeError(f"hessian_metric: neg_log_likelihood must be callable, got {neg_log_likelihood!r}.")

    def observed_information(theta):
        return get_backend(backend, theta).hessian(neg_log_likelihood, theta)

    observed_information.__name__ = f"∇²({getattr(neg_log_likelihood, '__name__', 'nll')})"
    return Dense(observed_information, dim=dim, backend=backend)
