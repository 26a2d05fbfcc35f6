"""Random evaluation points, checked for differentiability of the generators.

Brackets need derivatives of the generators, so every evaluation point must be one where ``φ`` is
(at least) twice differentiable. A point is accepted when the first-order Taylor remainder
``‖χ(θ ± hv) − χ(θ) ∓ h Dχ(θ)v‖`` decays superlinearly as ``h`` shrinks by 10 (like ``h²`` for a
smooth field; a kink of ``χ`` gives ``h¹``, a jump ``h⁰``) and every value is finite. Rejected
random points are reported and replaced; rejected user-given points raise.
"""

import numpy as np

from .._checks import check_vector
from ._batch import batched, float64, to_backend, to_numpy

__all__ = ["sample_points", "smoothness_report"]

#: Step sizes (relative to ``max(1, ‖θ‖∞)``) of the Taylor test.
STEPS = (1e-3, 1e-4, 1e-5)
#: A remainder ratio ``e(h) / e(h/10)`` at least this large counts as superlinear decay (ideal 100).
MIN_RATIO = 30.0


def smoothness_report(gens, point, rng):
    """Why ``gens`` is not smooth at ``point`` (a message), or ``None`` when it is.

    Parameters
    ----------
    gens : Generators
    point : ndarray, shape (dim,)
    rng : numpy.random.Generator
        Draws the direction ``v`` and one generator ``ω``.

    Returns
    -------
    str or None

    Examples
    --------
    >>> import numpy as np, autograd.numpy as anp
    >>> from rgeom.conservation import from_phi
    >>> from rgeom.conservation.sampling import smoothness_report
    >>> gens = from_phi(lambda th: anp.abs(th[:1]) * th[1:], 2)
    >>> smoothness_report(gens, np.array([0.5, 1.0]), np.random.default_rng(0)) is None
    True
    >>> print(smoothness_report(gens, np.array([0.0, 1.0]), np.random.default_rng(0)))  # doctest: +ELLIPSIS
    generators not differentiable at this point: Taylor remainder ratios [...] (expected ~100)
    """
    bk = gens.backend
    point = np.asarray(point, dtype=np.float64)
    v = rng.standard_normal(gens.dim)
    v /= np.linalg.norm(v)
    omega = gens.sample_omegas(rng, 1)
    size = max(1.0, float(np.max(np.abs(point))))
    hs = np.array(STEPS) * size
    shifted = np.concatenate([[point], point + hs[:, None] * v, point - hs[:, None] * v])

    def jvp(t, o):
        return bk.jvp(lambda x: gens.field(x, o), t, to_backend(bk, v))[1]

    with float64(bk):
        vals = to_numpy(bk, batched(bk, gens.field)(to_backend(bk, shifted),
                                                     to_backend(bk, np.repeat(omega, len(shifted), 0))))
        dv = to_numpy(bk, batched(bk, jvp)(to_backend(bk, point[None]), to_backend(bk, omega)))[0]
    if not (np.all(np.isfinite(vals)) and np.all(np.isfinite(dv))):
        return "non-finite values (NaN or inf) in the generators or their derivative at this point"
    x0, n = vals[0], len(STEPS)
    noise = 1e-12 * (np.max(np.linalg.norm(vals, axis=1)) + hs[0] * np.linalg.norm(dv)) + 1e-300
    ratios = []
    for sign, block in ((1.0, vals[1:1 + n]), (-1.0, vals[1 + n:])):
        e = np.linalg.norm(block - x0 - sign * hs[:, None] * dv, axis=1)
        ok = any(e[i + 1] <= noise or e[i] / e[i + 1] >= MIN_RATIO for i in range(n - 1))
        ratios.extend(e[i] / max(e[i + 1], 1e-300) for i in range(n - 1))
        if not ok:
            shown = ", ".join(f"{r:.3g}" for r in ratios)
            return (f"generators not differentiable at this point: Taylor remainder ratios [{shown}] "
                    f"(expected ~100)")
    return None


def sample_points(gens, n_points, rng, *, points=None, max_resample=10):
    """``n_points`` random points where the generators are smooth, and the report of rejections.

    Parameters
    ----------
    gens : Generators
    n_points : int
    rng : numpy.random.Generator
    points : array, shape (n, dim), optional
        Use these instead of random points; a non-smooth one raises ``ValueError``.
    max_resample : int
        Rejected random points replaced per requested point before giving up.

    Returns
    -------
    points : ndarray, shape (n_points, dim)
    messages : list of str
        One line per rejected point.

    Raises
    ------
    ValueError
        A user-given point is not smooth, or no smooth point was found.
    """
    messages = []
    if points is not None:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != gens.dim:
            raise ValueError(f"points must have shape (n, {gens.dim}), got {pts.shape}.")
        for i, p in enumerate(pts):
            check_vector(p, f"points[{i}]", gens.dim)
            why = smoothness_report(gens, p, rng)
            if why is not None:
                raise ValueError(f"points[{i}]: {why}; pass other points or let rgeom sample them.")
        return pts, messages
    out = []
    for i in range(int(n_points)):
        for attempt in range(max_resample + 1):
            p = gens.sample_point(rng)
            why = smoothness_report(gens, p, rng)
            if why is None:
                out.append(p)
                break
            messages.append(f"point {i}, draw {attempt}: {why}; resampled")
        else:
            raise ValueError(
                f"no point where the generators are differentiable in {max_resample + 1} draws "
                f"(last: {messages[-1]}). Is φ differentiable almost everywhere for this sampler?"
            )
    return np.stack(out), messages
