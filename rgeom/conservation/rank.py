"""Numerical rank decided by a singular-value gap above a measured noise floor.

Rows computed in floating point carry absolute errors ``ηᵢ`` (measured, not guessed: the Lie
engine recomputes rows in a rotated chart; see :mod:`rgeom.conservation.lie`). After whitening,
``Âᵢ = Aᵢ / ηᵢ``, the error matrix ``N`` has rows of norm ``≤ 1``, so ``‖N‖₂ ≤ √n`` (the *floor*)
and, by Weyl's inequality, every singular value of ``Â`` is within the floor of the exact one.
A singular value above ``floor · min_gap`` is signal, one below the floor is noise; any value in
between makes the decision *uncertain* (reported, never silently guessed).
"""

import dataclasses

import numpy as np

__all__ = ["RankDecision", "decide_rank"]

#: Unit round-off of float64.
EPS = np.finfo(np.float64).eps


@dataclasses.dataclass(frozen=True)
class RankDecision:
    """A rank and the evidence behind it.

    Attributes
    ----------
    rank : int
    singular_values : ndarray
        Singular values of the whitened matrix (descending; dimensionless, in noise units).
    floor : float
        Noise floor ``√n`` in the same units.
    gap : float
        ``σ_r / σ_{r+1}`` (``inf`` at rank 0, when nothing follows, or when the next value is
        exactly zero).
    margin : float
        ``σ_r / floor``: how far the smallest kept value is above the noise (``inf`` at rank 0).
    certain : bool
        No singular value lies in the ambiguous band ``(floor, floor · min_gap]``.
    n_ambiguous : int
        Number of singular values in that band.
    """

    rank: int
    singular_values: np.ndarray
    floor: float
    gap: float
    margin: float
    certain: bool
    n_ambiguous: int

    def as_dict(self):
        """JSON-friendly summary (the singular values are not included)."""
        return {"rank": self.rank, "gap": _num(self.gap), "margin": _num(self.margin),
                "certain": self.certain, "n_ambiguous": self.n_ambiguous}


def _num(x):
    return float(x) if np.isfinite(x) else ("inf" if x > 0 else "-inf")


def decide_rank(rows, noise=None, *, min_gap=1e4):
    """Rank of ``rows`` given per-row absolute error estimates.

    Parameters
    ----------
    rows : array, shape (n, D)
    noise : array, shape (n,), optional
        Absolute error of each row. Default: ``√D · ε · max‖rowᵢ‖`` for every row, the round-off
        of a matrix whose entries are each computed to working precision.
    min_gap : float
        Width of the ambiguous band, ``> 1``.

    Returns
    -------
    RankDecision

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.conservation.rank import decide_rank
    >>> A = np.array([[1.0, 0.0], [0.0, 1e-3], [1.0, 1e-3]])
    >>> d = decide_rank(A)
    >>> d.rank, d.certain
    (2, True)
    >>> d = decide_rank(A, noise=np.full(3, 1e-4), min_gap=1e4)   # 1e-3 is not far above 1e-4
    >>> d.rank, d.certain
    (1, False)
    """
    A = np.asarray(rows, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"rows must be a 2-D array, got shape {A.shape}.")
    if not min_gap > 1:
        raise ValueError(f"min_gap must be > 1, got {min_gap!r}.")
    n, d = A.shape
    if n == 0:
        return RankDecision(0, np.zeros(0), 0.0, np.inf, np.inf, True, 0)
    if noise is None:
        scale = float(np.max(np.linalg.norm(A, axis=1))) if A.size else 0.0
        noise = np.full(n, max(np.sqrt(d) * EPS * scale, np.finfo(np.float64).tiny))
    eta = np.asarray(noise, dtype=np.float64).reshape(-1)
    if eta.shape != (n,) or not np.all(eta > 0):
        raise ValueError(f"noise must hold {n} positive numbers, got {eta!r}.")
    s = np.linalg.svd(A / eta[:, None], compute_uv=False)
    floor = float(np.sqrt(n))
    threshold = floor * np.sqrt(min_gap)
    rank = int(np.sum(s > threshold))
    n_ambiguous = int(np.sum((s > floor) & (s <= floor * min_gap)))
    below = s[rank] if rank < s.size else 0.0
    gap = np.inf if rank == 0 or below == 0 else float(s[rank - 1] / below)
    margin = np.inf if rank == 0 else float(s[rank - 1] / floor)
    return RankDecision(rank, s, floor, gap, margin, n_ambiguous == 0, n_ambiguous)
