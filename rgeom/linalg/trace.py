"""Stochastic trace estimators: Hutchinson and Hutch++, with standard errors.

Both estimate ``tr E`` for ``E = M⁻¹ A`` (``M = I`` by default; over the range of a singular
metric) from products with ``A`` only.

* :func:`hutchinson` — ``tr E ≈ (1/n) Σ zᵢᵀ E zᵢ`` with Rademacher probes (Hutchinson 1989).
  Unbiased; variance ``2(‖E‖_F² − Σ Eᵢᵢ²)`` per probe for symmetric ``E``; standard error from
  the sample variance. Cost: ``n`` products (plus ``n`` metric solves in the ``M``-inner mode).
* :func:`hutchpp` — Hutch++ (Meyer, Musco, Musco & Woodruff, SOSA 2021): with a budget of ``m``
  products, a sketch ``Q = orth(E S)`` of ``m/3`` columns captures the top of the spectrum
  exactly, ``tr(Qᵀ E Q)``, and Hutchinson with ``m/3`` probes estimates the deflated remainder
  ``tr((I − QQᵀ) E (I − QQᵀ))``. Error ``O(1/m)`` instead of ``O(1/√m)`` for matrices with
  decaying spectra (network Hessians). Its standard error is that of the remainder.
"""

import numpy as np

from ._kernels import gemv, gemv_t, norm
from ._progress import progress_bar
from ._result import Estimate, mean_and_stderr
from .generalized import Pencil

__all__ = ["hutchinson", "hutchpp", "rademacher"]


def rademacher(rng, d, n=None):
    """Rademacher probes (entries ±1): shape ``(d,)``, or ``(n, d)`` rows when ``n`` is given."""
    shape = (d,) if n is None else (n, d)
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0


def _finish(pencil, value, stderr, samples, n_probes, method):
    ok, message = pencil.status()
    return Estimate(
        value=value,
        stderr=stderr,
        converged=ok,
        n_matvecs=pencil.n_apply,
        method=method,
        n_probes=n_probes,
        message=message,
        samples=np.asarray(samples),
    )


def hutchinson(A, n_probes=30, *, M=None, seed=0, cg_rtol=1e-10, progress=True):
    """Hutchinson's estimate of ``tr(M⁻¹ A)`` with Rademacher probes.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
    n_probes : int
        Number of probes (= products with ``A``), at least 2 for a standard error.
    M : LinearOperator, optional
        Metric (default identity).
    seed : int
        Seeds the probes.
    cg_rtol : float
        Inner solve tolerance when ``M`` has no exact solve.

    Returns
    -------
    Estimate
        ``value ± stderr``; ``samples`` holds the per-probe values ``zᵀ E z``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import hutchinson
    >>> est = hutchinson(np.diag([1.0, 2.0, 3.0]), n_probes=4)   # diagonal: every probe exact
    >>> est.value, est.stderr
    (6.0, 0.0)
    """
    if int(n_probes) != n_probes or n_probes < 2:
        raise ValueError(
            f"n_probes must be an integer >= 2 (for a standard error), got {n_probes!r}."
        )
    pencil = Pencil(A, M, cg_rtol=cg_rtol)
    rng = np.random.default_rng(seed)
    samples = []
    with progress_bar(int(n_probes), "hutchinson", progress) as bar:
        for _ in range(int(n_probes)):
            samples.append(pencil.trace_probe(rademacher(rng, pencil.d)))
            bar.update(1)
    value, stderr = mean_and_stderr(samples)
    return _finish(pencil, value, stderr, samples, int(n_probes), "hutchinson")


def hutchpp(A, n_matvecs=30, *, M=None, seed=0, cg_rtol=1e-10, progress=True):
    """Hutch++ estimate of ``tr(M⁻¹ A)`` with a budget of ``n_matvecs`` products.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
    n_matvecs : int
        Total products with ``A`` (at least 6): ``s = n // 3`` sketch columns, ``s`` products
        for ``Qᵀ E Q`` and ``n − 2 s`` remainder probes.
    M, seed, cg_rtol
        As in :func:`hutchinson`.

    Returns
    -------
    Estimate
        ``stderr`` is the standard error of the remainder (0 when the sketch spans the range:
        the estimate is then exact).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import hutchpp
    >>> U = np.linalg.qr(np.random.default_rng(0).normal(size=(20, 3)))[0]
    >>> A = U @ np.diag([100.0, 10.0, 1.0]) @ U.T        # rank 3 in R^20
    >>> est = hutchpp(A, n_matvecs=9)                    # a 3-column sketch captures it all
    >>> round(est.value, 10), est.stderr < 1e-12
    (111.0, True)
    """
    if int(n_matvecs) != n_matvecs or n_matvecs < 6:
        raise ValueError(f"n_matvecs must be an integer >= 6 for Hutch++, got {n_matvecs!r}.")
    pencil = Pencil(A, M, cg_rtol=cg_rtol)
    rng = np.random.default_rng(seed)
    d = pencil.d
    s = min(int(n_matvecs) // 3, pencil.range_dim)
    g = int(n_matvecs) - 2 * s
    with progress_bar(int(n_matvecs), "hutch++", progress) as bar:
        QT = np.empty((s, d))  # rows: orthonormal basis of the sketch E S (Gram–Schmidt, twice)
        r = 0
        for _ in range(s):
            y = pencil.apply(pencil.project(rademacher(rng, d)))
            size = norm(y)
            for _ in range(2):
                y = y - gemv_t(gemv(QT[:r], y), QT[:r])
            if norm(y) > 1e-12 * size:  # drop directions already spanned (low-rank operators)
                QT[r] = y / norm(y)
                r += 1
            bar.update(1)
        QT = QT[:r]
        head = 0.0
        for i in range(r):
            head += pencil.form(QT[i])
            bar.update(1)
        samples = []
        for _ in range(g):
            z = pencil.project(rademacher(rng, d))
            z = z - gemv_t(gemv(QT, z), QT)
            samples.append(pencil.form(z))
            bar.update(1)
    tail, stderr = mean_and_stderr(samples)
    if r == pencil.range_dim:  # the sketch spans the whole range: exact up to rounding
        tail, stderr = 0.0, 0.0
    return _finish(pencil, head + tail, stderr, samples, s + g, "hutch++")
