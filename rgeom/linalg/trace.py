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
* :func:`krylov_hutchpp` — Hutch++ with a Lanczos sketch (in the spirit of Chen & Hallman,
  "Krylov-aware stochastic trace estimation", SIMAX 2023): ``m`` Lanczos steps from a random
  vector give an orthonormal basis ``Q`` of the Krylov space *and* ``Qᵀ E Q = T`` (the
  tridiagonal) for one product per dimension instead of Hutch++'s two, and a Krylov space
  captures the top of the spectrum better than one power step of a block. ``tr E = tr T +
  tr((I − QQᵀ) E (I − QQᵀ))``, the second term by Hutchinson on probes independent of ``Q``:
  unbiased. The Lanczos run of the top eigenvalue can be lent to it (``reuse``), so a flatness
  report pays for those products once.
"""

import numpy as np

from ._kernels import gemv, gemv_t, norm
from ._progress import progress_bar
from ._result import Estimate, mean_and_stderr
from .generalized import Pencil
from .operators import aslinearoperator
from .lanczos import KrylovRun

__all__ = ["hutchinson", "hutchpp", "krylov_hutchpp", "rademacher"]


def rademacher(rng, d, n=None):
    """Rademacher probes (entries ±1): shape ``(d,)``, or ``(n, d)`` rows when ``n`` is given."""
    shape = (d,) if n is None else (n, d)
    return rng.integers(0, 2, size=shape).astype(np.float64) * 2.0 - 1.0


def _finish(pencil, value, stderr, samples, n_probes, method, products_before=0):
    """The Estimate, counting the pencil's products since ``products_before``."""
    ok, message = pencil.status()
    return Estimate(
        value=value,
        stderr=stderr,
        converged=ok,
        n_matvecs=pencil.n_apply - products_before,
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


def krylov_hutchpp(
    A, n_matvecs=30, *, M=None, seed=0, sketch_fraction=0.5, reuse=None, cg_rtol=1e-10, progress=True
):
    """Hutch++ with a Lanczos sketch: ``tr(M⁻¹ A) = tr T_m + Hutchinson on the Krylov complement``.

    A Lanczos run of ``m`` steps (``m = ⌈sketch_fraction · n_matvecs⌉``) from a random start gives
    the Krylov basis ``Q`` and ``Qᵀ E Q = T_m`` exactly (``tr T_m = Σ αᵢ``, no extra product); the
    remaining ``n_matvecs − m`` products are Rademacher probes of the deflated operator
    ``(I − QQᵀ) E (I − QQᵀ)`` (``M``-orthogonal complement in the ``M``-inner mode). The probes
    are drawn independently of the start vector, so the estimate is unbiased; its standard error
    is that of the probes (0 when the Krylov space exhausts the range: exact).

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
        Symmetric.
    n_matvecs : int
        Budget of products with ``A`` (at least 6) for the sketch and the probes.
    M : LinearOperator, optional
        Metric (default identity); singular metrics are handled on their range.
    seed : int
        Seeds the start vector and the probes.
    sketch_fraction : float in (0, 1)
        Share of the budget spent on Lanczos steps.
    reuse : EigResult, optional
        The result of :func:`~rgeom.linalg.lanczos` on the same ``A`` and ``M`` with
        ``keep_krylov=True`` (its start vector must not depend on ``seed``'s probes: use another
        seed there). Its Krylov space is the sketch, extended to ``m`` steps if shorter; its
        products are not counted again. When it is longer than ``m``, all of it is used and the
        probes are ``max(n_matvecs − steps, n_matvecs // 4)``.
    cg_rtol : float
        Inner solve tolerance when ``M`` has no exact solve.

    Returns
    -------
    Estimate
        ``n_matvecs`` counts the products made by this call (not those of ``reuse``);
        ``n_probes`` the Hutchinson probes; ``method`` says how many Krylov dimensions were used.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import krylov_hutchpp, lanczos
    >>> rng = np.random.default_rng(0)
    >>> U = np.linalg.qr(rng.normal(size=(200, 200)))[0]
    >>> A = U @ np.diag(1.0 / np.arange(1.0, 201.0) ** 2) @ U.T      # decaying spectrum
    >>> exact = float(np.sum(1.0 / np.arange(1.0, 201.0) ** 2))
    >>> est = krylov_hutchpp(A, n_matvecs=30, seed=1)
    >>> bool(abs(est.value - exact) < 3 * est.stderr < 0.02 * exact), est.n_matvecs, est.n_probes
    (True, 30, 15)
    >>> top = lanczos(A, tol=1e-8, keep_krylov=True, seed=5)     # lend its products to the trace
    >>> est = krylov_hutchpp(A, n_matvecs=30, seed=1, reuse=top)
    >>> est.n_matvecs == 30 - min(top.n_steps, 15), bool(abs(est.value - exact) < 3 * est.stderr)
    (True, True)
    """
    if int(n_matvecs) != n_matvecs or n_matvecs < 6:
        raise ValueError(f"n_matvecs must be an integer >= 6, got {n_matvecs!r}.")
    if not 0.0 < sketch_fraction < 1.0:
        raise ValueError(f"sketch_fraction must lie in (0, 1), got {sketch_fraction!r}.")
    n = int(n_matvecs)
    m = int(np.ceil(sketch_fraction * n))
    rng = np.random.default_rng(seed)
    if reuse is None:
        pencil = Pencil(A, M, cg_rtol=cg_rtol)
        m = min(m, pencil.range_dim)
        run = KrylovRun(pencil, rng.standard_normal(pencil.d), restart_rng=rng, capacity=m)
        before = 0
    else:
        run = getattr(reuse, "krylov", None)
        if not isinstance(run, KrylovRun):
            raise ValueError(
                "reuse must be the result of lanczos(..., keep_krylov=True) on the same operators."
            )
        pencil = run.pencil
        plain = M is None or getattr(M, "is_identity", False)
        if aslinearoperator(A).dim != pencil.d or plain != (pencil.M is None):
            raise ValueError(
                "reuse: its Lanczos run is on other operators (dimension or metric differ) than "
                "A and M given here."
            )
        before = pencil.n_apply
    shared = run.m
    g = max(n - max(m, shared), n // 4)
    with progress_bar(max(m - shared, 0) + g, "krylov hutch++", progress) as bar:
        run.extend(m, progress=False)
        bar.update(max(run.m - shared, 0))
        k = run.m
        QT = run.basis.Q[:k]
        PT = run.basis.P[:k] if pencil.uses_metric_inner else QT  # rows M q (M-inner mode)
        head = float(np.sum(run.alpha))  # tr(Qᵀ M E Q) = tr T
        exact = k >= pencil.range_dim  # the Krylov space is the range: tr T is the trace
        samples = []
        for _ in range(0 if exact else g):
            z = pencil.project(rademacher(rng, pencil.d))
            x = z
            for _ in range(2):  # (I − Q Pᵀ) z twice: the basis is only semi-orthogonal
                x = x - gemv_t(gemv(PT, x), QT)
            if pencil.uses_metric_inner:
                y = z - gemv_t(gemv(QT, z), PT)  # (I − P Qᵀ) z: zᵀ (I − QPᵀ)ᵀ E (I − QPᵀ) z
                samples.append(float(y @ pencil.apply(x)))
            else:
                samples.append(pencil.form(x))
            bar.update(1)
    tail, stderr = mean_and_stderr(samples) if samples else (0.0, 0.0)
    reused = f", {min(shared, k)} reused" if reuse is not None and shared else ""
    return _finish(pencil, head + tail, stderr, samples, len(samples),
                   f"krylov hutch++ ({k} Lanczos dims{reused})", products_before=before)
