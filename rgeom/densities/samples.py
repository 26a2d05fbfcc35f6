"""Samples are points: they change chart by ``θ = g(ψ)`` and ``ψ = g⁻¹(θ)``, row by row.

A sample carries no Jacobian factor (that belongs to the density). Pushing samples of ``p`` in
ψ through ``g`` gives samples of the pushed-forward density in θ, and vice versa.
"""

import numpy as np

from .._checks import concrete
from ..backend import get_backend
from ..errors import NonFiniteError, ShapeError
from ..maps.base import Map


def rng_from_seed(seed):
    """A ``numpy.random.Generator`` from an int seed (or the generator itself); ``None`` is refused.

    rgeom draws no unseeded randomness: every sampler takes a required ``seed``.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool):
        raise TypeError("sample: seed is required (an int or a numpy.random.Generator); rgeom draws "
                        "no unseeded randomness.")
    return np.random.default_rng(seed)


def _apply_rows(fn, samples, what, name):
    shape = tuple(getattr(samples, "shape", np.shape(samples)))
    if len(shape) != 2:
        raise ShapeError(f"{what}: samples must be a 2-D array of shape (n, d), got shape {shape}.")
    bk = get_backend(None, samples)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rows = [fn(samples[i]) for i in range(shape[0])]
    out = bk.xp.stack(rows) if rows else samples
    values = concrete(out)
    if values is not None and not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.all(np.isfinite(values), axis=1)))
        raise NonFiniteError(
            f"{what}: {bad} of {shape[0]} samples left the domain of {name} (non-finite result); "
            "the map does not cover the support of the distribution the samples came from."
        )
    return out


def pushforward_samples(samples, g):
    """Map samples from the chart ψ to θ: row ``i`` becomes ``g(ψᵢ)``.

    Parameters
    ----------
    samples : array, shape (n, d)
        Points in the ψ chart (any backend).
    g : Map
        ``θ = g(ψ)``.

    Returns
    -------
    array, shape (n, d)
        The same points in θ coordinates, on the backend of ``samples``.

    Raises
    ------
    NonFiniteError
        If a sample leaves the domain of ``g`` (the result is not finite).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.densities import pushforward_samples
    >>> pushforward_samples(np.array([[0.0], [1.0]]), rgeom.maps.Exp()).round(6).tolist()
    [[1.0], [2.718282]]
    """
    if not isinstance(g, Map):
        raise TypeError(f"pushforward_samples: g must be an rgeom.maps.Map, got {type(g).__name__}.")
    return _apply_rows(g.forward, samples, "pushforward_samples", repr(g))


def pullback_samples(samples, g):
    """Map samples from the chart θ to ψ: row ``i`` becomes ``g⁻¹(θᵢ)``.

    Parameters
    ----------
    samples : array, shape (n, d)
        Points in the θ chart.
    g : Map
        ``θ = g(ψ)``.

    Returns
    -------
    array, shape (n, d)
        The same points in ψ coordinates, on the backend of ``samples``.

    Raises
    ------
    NonFiniteError
        If a sample is outside the image of ``g`` (``g⁻¹`` is not finite there).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.densities import pullback_samples
    >>> pullback_samples(np.array([[1.0], [np.e]]), rgeom.maps.Exp()).round(12).tolist()
    [[0.0], [1.0]]
    """
    if not isinstance(g, Map):
        raise TypeError(f"pullback_samples: g must be an rgeom.maps.Map, got {type(g).__name__}.")
    return _apply_rows(g.inverse, samples, "pullback_samples", f"the inverse of {g!r}")
