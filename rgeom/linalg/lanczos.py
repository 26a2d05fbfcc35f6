"""Symmetric and generalized Lanczos with full reorthogonalisation.

:func:`lanczos` returns the extreme eigenpairs of ``A v = λ M v`` (``M = I`` by default) with a
residual-based convergence test: a Ritz pair ``(θ, v)`` is accepted when
``‖A v − θ M v‖_{M⁻¹} ≤ max(tol·|θ|, 100 ε ‖T‖)``. For symmetric problems that residual is a
rigorous bound on the distance from ``θ`` to the spectrum (Bauer–Fike / Kahan), so ``tol`` is a
relative accuracy guarantee for the eigenvalue; the eigenvalue error is in practice much
smaller, ~``residual² / gap``.

When only eigenvalues are wanted, ``criterion="eigenvalue"`` stops on that smaller error: by the
Kato–Temple inequality a Ritz value ``θ`` with residual ``r`` is within ``r² / δ`` of an
eigenvalue when no other eigenvalue lies within ``δ`` of ``θ``. ``δ`` is estimated from the
neighbouring Ritz values, each widened by its own residual (``|θ − θⱼ| − rⱼ``, a lower bound on
the distance to the eigenvalue ``θⱼ`` approximates once ``θⱼ`` has settled). The test is
``min(r, r²/δ) ≤ max(tol·|θ|, 100 ε ‖T‖)``; ``r`` stays reported as the rigorous bound. Ritz
*vectors* are then only accurate to about ``r / δ``, so the default stays ``"residual"``.

Full reorthogonalisation (classical Gram–Schmidt, a second pass only when the first removed more
than 30% of the norm — "twice is enough") keeps the basis orthonormal to working precision, so
there are no ghost eigenvalues. Memory: the Krylov basis, ``steps × d`` float64 numbers.

The generalized problem is reduced by :class:`~rgeom.linalg.generalized.Pencil`: whitening when
the metric has a symmetric factor, otherwise the ``M``-inner product with exact or
conjugate-gradient solves (whose failures make the result "not converged").
"""

import dataclasses

import numpy as np
import scipy.linalg

from ..errors import NonFiniteError
from ._progress import progress_bar
from ._kernels import dot, gemv, gemv_t, norm
from ._result import Estimate
from .generalized import Pencil

__all__ = ["lanczos", "EigResult", "KrylovRun", "krylov"]

_EPS = np.finfo(np.float64).eps
#: Residuals below ``RESIDUAL_FLOOR × ‖T‖`` count as converged whatever ``tol`` asks: that is the
#: accuracy float64 Lanczos can reach (rounding in ``A x`` is ~``ε ‖A‖``).
RESIDUAL_FLOOR = 100 * _EPS


@dataclasses.dataclass(frozen=True)
class EigResult:
    """Ritz pairs of ``A v = λ M v`` from :func:`lanczos`.

    Attributes
    ----------
    eigenvalues : ndarray, shape (k,)
        Ascending Ritz values.
    eigenvectors : ndarray, shape (d, k)
        Ritz vectors, ``M``-orthonormal (``Vᵀ M V = I``).
    residuals : ndarray, shape (k,)
        ``‖A v − θ M v‖_{M⁺}``: each ``θ`` is within this distance of an eigenvalue.
    error_estimates : ndarray, shape (k,)
        ``min(r, r²/δ)``: the Kato–Temple eigenvalue error with the gap ``δ`` estimated from the
        neighbouring Ritz values (see the module docstring).
    converged_mask : ndarray of bool, shape (k,)
    converged : bool
        All wanted pairs converged and every inner solve met its tolerance.
    n_steps : int
        Lanczos steps (dimension of the Krylov space).
    n_matvecs : int
        Products with ``A``.
    method : str
        How the generalized problem was reduced.
    message : str
        Why it is not converged (empty when it is).
    kernel_dim : int or None
        Kernel dimension of the metric (the problem was solved on its range).
    krylov : KrylovRun or None
        The Lanczos run itself (``keep_krylov=True``), to be extended or reused as a sketch.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    residuals: np.ndarray
    converged_mask: np.ndarray
    converged: bool
    n_steps: int
    n_matvecs: int
    method: str
    message: str = ""
    kernel_dim: int = 0
    solves_converged: bool = True
    error_estimates: np.ndarray = None
    criterion: str = "residual"
    krylov: object = dataclasses.field(default=None, repr=False, compare=False)

    def estimate(self, i=-1):
        """The ``i``-th Ritz value as an :class:`~rgeom.linalg.Estimate`.

        ``error_bound`` is the residual (criterion ``"residual"``) or the Kato–Temple error
        estimate ``min(r, r²/δ)`` (criterion ``"eigenvalue"``).
        """
        ok = bool(self.converged_mask[i]) and self.solves_converged
        return Estimate(
            value=float(self.eigenvalues[i]),
            stderr=0.0,
            converged=ok,
            n_matvecs=self.n_matvecs,
            method=f"lanczos ({self.method})",
            error_bound=float(
                self.residuals[i] if self.criterion == "residual" else self.error_estimates[i]
            ),
            message="" if ok else self.message,
        )


class _Basis:
    """A growing row-major Krylov basis ``Q`` (and ``P = M Q`` in the M-inner product)."""

    def __init__(self, d, with_metric, capacity=32):
        # allocated once (np.empty: pages are only touched as rows are written), grown if needed
        self.d, self.m = d, 0
        self.Q = np.empty((capacity, d))
        self.P = np.empty((capacity, d)) if with_metric else None

    def append(self, q, p):
        if self.m == self.Q.shape[0]:
            self.Q = np.concatenate([self.Q, np.empty_like(self.Q)])
            if self.P is not None:
                self.P = np.concatenate([self.P, np.empty_like(self.P)])
        self.Q[self.m] = q
        if self.P is not None:
            self.P[self.m] = p
        self.m += 1

    def orthogonalize(self, w, u, norm_fn):
        """Remove the components of ``w`` along the basis (``u = M w`` updated alongside)."""
        Q, P = self.Q[: self.m], (self.P[: self.m] if self.P is not None else None)
        before = norm_fn(w, u)
        for _ in range(2):
            c = gemv(P if P is not None else Q, w)
            w = w - gemv_t(c, Q)
            u = w if P is None else u - gemv_t(c, P)
            after = norm_fn(w, u)
            if after > 0.7 * before:
                break
            before = after
        return w, u, after


def _raw_norm(x, Mx):
    return np.sqrt(max(dot(x, Mx), 0.0))


class _Omega:
    """Simon's recurrence for the loss of orthogonality ``ω_{j,k} ≈ q_jᵀ q_k`` (partial reorth).

    H. D. Simon, "The Lanczos algorithm with partial reorthogonalization", Math. Comp. 42 (1984):
    as long as every ``|ω_{j,k}| ≤ √ε`` (semi-orthogonality) the tridiagonal ``T`` is, to working
    precision, the projection of the operator onto the Krylov space, so Ritz values and the
    residual estimates are as accurate as with full reorthogonalisation. A full Gram–Schmidt pass
    is done when the estimate crosses √ε, and again at the next step.
    """

    LEVEL = np.sqrt(_EPS)

    def __init__(self):
        self.prev, self.cur = np.zeros(0), np.ones(1)  # ω_{j-1, 0..j-1} and ω_{j, 0..j}
        self.force = False

    def needs_reorth(self, alpha, beta, b, anorm):
        """Advance ω to the new vector (coupling ``b``); whether to reorthogonalise it now."""
        j = len(alpha) - 1
        W, Wp = self.cur, self.prev
        new = np.empty(j + 2)
        if j > 0:
            a, bt = np.asarray(alpha), np.asarray(beta)
            val = bt[:j] * W[1 : j + 1] + (a[:j] - a[j]) * W[:j]
            val[1:] += bt[: j - 1] * W[: j - 1]
            val -= bt[j - 1] * Wp[:j]
            val = val / max(b, np.finfo(float).tiny)
            new[:j] = val + np.sign(val) * 2.0 * _EPS * anorm / max(b, np.finfo(float).tiny)
        new[j] = _EPS * anorm / max(b, np.finfo(float).tiny)
        new[j + 1] = 1.0
        self.prev, self.cur = W, new
        need = self.force or (j > 0 and np.abs(new[: j + 1]).max() > self.LEVEL)
        return need

    def reorthogonalized(self, m, force_next=None):
        """The newest vector was made orthogonal to the ``m`` basis vectors: reset its ω."""
        self.cur[:m] = _EPS
        self.force = (not self.force) if force_next is None else force_next


class KrylovRun:
    """A Lanczos run on a :class:`~rgeom.linalg.generalized.Pencil` that can be extended.

    Holds the tridiagonal entries, the basis and the next basis vector, so a run stopped by one
    consumer (the top eigenvalue) can be continued by another (the Krylov sketch of
    :func:`~rgeom.linalg.krylov_hutchpp`) without repeating a product.

    Parameters
    ----------
    pencil : Pencil
    v0 : ndarray, shape (d,)
        Start vector (projected onto the metric's range, normalised in the Krylov inner product).
    restart_rng : numpy Generator, optional
        On breakdown (an invariant subspace was found) continue from a random vector orthogonal
        to the basis; ``None`` stops for good instead (SLQ: the quadrature is then exact).
    reorth : {"partial", "full"}
        Gram–Schmidt against the whole basis only when Simon's estimate says semi-orthogonality
        is about to be lost (default; conjugate-gradient solves always use "full"), or at every
        step.

    Attributes
    ----------
    alpha, beta : ndarray
        Diagonal ``(m,)`` and off-diagonal ``(m,)`` of ``T`` (``beta[m-1]`` couples to the next,
        not yet computed, vector).
    basis : _Basis
        Rows ``Q[:m]`` orthonormal in the Krylov inner product (``P[:m] = M Q`` in the metric mode).
    v0_norm : float
        ``‖v0‖`` in the Krylov inner product (after projection).
    finished : bool
        No further step is possible: the range is exhausted, or a breakdown without restart.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import KrylovRun
    >>> from rgeom.linalg.generalized import Pencil
    >>> A = np.diag(np.arange(1.0, 41.0))
    >>> run = KrylovRun(Pencil(A), np.ones(40)).extend(10)   # stop after 10 steps ...
    >>> run.extend(25).m, bool(run.alpha.sum() < A.trace())  # ... and go on to 25
    (25, True)
    >>> round(float(run.extend(40).alpha.sum()), 8)          # the whole space: tr T = tr A
    820.0
    """

    def __init__(self, pencil, v0, *, restart_rng=None, reorth="partial", capacity=32):
        self.pencil, self.restart_rng = pencil, restart_rng
        q = pencil.project(np.asarray(v0, dtype=np.float64))
        p = pencil.metric_mv(q)
        self.v0_norm = pencil.inner_norm(q, p)
        if not np.isfinite(self.v0_norm):
            raise NonFiniteError("lanczos: the start vector contains NaN or inf.")
        if self.v0_norm == 0.0:
            raise ValueError("lanczos: the start vector is zero (or lies in the metric's kernel).")
        self._q = q / self.v0_norm
        self._p = p / self.v0_norm if pencil.uses_metric_inner else None
        self.basis = _Basis(pencil.d, pencil.uses_metric_inner, capacity=max(int(capacity), 1))
        self._alpha, self._beta = [], []
        self._anorm = 0.0
        self._omega = _Omega() if (reorth == "partial" and pencil.exact) else None
        self._stopped = False
        # bound on the kernel component of the last two basis vectors (singular metrics only)
        self._leak = (0.0, _EPS) if pencil.kernel_dim else None

    @property
    def alpha(self):
        return np.array(self._alpha)

    @property
    def beta(self):
        return np.array(self._beta)

    @property
    def m(self):
        """Steps taken (dimension of the Krylov space)."""
        return self.basis.m

    @property
    def finished(self):
        return self._stopped or self.basis.m >= self.pencil.range_dim

    def extend(self, max_steps, *, stop=None, progress=False, desc="lanczos"):
        """Continue until ``max_steps`` steps in all, ``stop(alpha, beta)`` is true, or the end.

        ``stop`` is called after each new step with the tridiagonal entries so far. Returns self.
        """
        pencil, basis = self.pencil, self.basis
        limit = min(int(max_steps), pencil.range_dim)
        metric_inner = pencil.uses_metric_inner
        alpha, beta, omega = self._alpha, self._beta, self._omega
        norm_fn = pencil.inner_norm
        q, p = self._q, self._p
        with progress_bar(max(limit - basis.m, 0), desc, progress) as bar:
            while basis.m < limit and not self._stopped:
                basis.append(q, p)
                if metric_inner:
                    w, u = pencil.apply_with_metric_image(q)
                else:
                    w = pencil.apply(q)
                    u = w
                if not np.all(np.isfinite(w)):
                    raise NonFiniteError("lanczos: the operator returned NaN or inf.")
                a = dot(q, u) if metric_inner else dot(q, w)
                before = _raw_norm(w, u)
                # three-term recurrence, then Gram-Schmidt against the whole basis: at every step
                # (full), or when Simon's estimate of the loss of orthogonality exceeds √ε (partial)
                w = w - a * q
                u = w if not metric_inner else u - a * p
                if beta and basis.m > 1 and beta[-1]:
                    w = w - beta[-1] * basis.Q[basis.m - 2]
                    if metric_inner:
                        u = u - beta[-1] * basis.P[basis.m - 2]
                    else:
                        u = w
                alpha.append(a)
                self._anorm = max(self._anorm, abs(a))
                bar.update(1)
                if basis.m >= pencil.range_dim:  # the basis spans the range: T is exact, w is noise
                    beta.append(0.0)
                    break
                b = _raw_norm(w, u)
                if omega is None or omega.needs_reorth(alpha, beta, b, max(self._anorm, b)):
                    w, u, b = basis.orthogonalize(w, u, _raw_norm)
                    if omega is not None:
                        omega.reorthogonalized(basis.m)
                if self._leak is not None:
                    w, u, b = self._keep_in_range(w, u, b, a, beta)
                if metric_inner:
                    if b < 1e-3 * before:
                        # heavy cancellation: the recurrence for u = M w lost its digits; recompute it
                        u = pencil.M.mv(w)
                    b = norm_fn(w, u)  # raises if the metric is found indefinite
                self._anorm = max(self._anorm, b)
                if b <= RESIDUAL_FLOOR * max(self._anorm, np.finfo(float).tiny):
                    beta.append(0.0)
                    if self.restart_rng is None:
                        self._stopped = True
                        break
                    # invariant subspace: continue the basis with a fresh direction, T decouples
                    z = pencil.project(self.restart_rng.standard_normal(pencil.d))
                    w, u, b = basis.orthogonalize(z, pencil.metric_mv(z), norm_fn)
                    if b <= RESIDUAL_FLOOR * norm(z):
                        self._stopped = True
                        break
                    if omega is not None:
                        omega.reorthogonalized(basis.m, force_next=False)
                else:
                    beta.append(b)
                q, p = w / b, (u / b if metric_inner else None)
                self._q, self._p = q, p
                if stop is not None and beta[-1] and stop(np.array(alpha), np.array(beta)):
                    break
        return self


    def _keep_in_range(self, w, u, b, a, beta):
        """Project the new vector back onto the metric's range when its kernel part may have grown.

        The operator's image has no kernel component, but rounding leaves ``~ε‖T‖`` of one in
        ``w = E q − α q − β q'``, and dividing by a small ``β`` (near the end of a short range)
        amplifies it step after step until the basis leaves the range (wrong traces, ghost zero
        eigenvalues). Its size follows ``κ' = (|α| κ + β_prev κ_prev + ε ‖T‖) / β``; the
        (possibly costly) projector runs only when that bound exceeds √ε.
        """
        prev, cur = self._leak
        scale = max(self._anorm, b)
        bound = (abs(a) * cur + (beta[-1] if beta else 0.0) * prev + _EPS * scale) / max(b, np.finfo(float).tiny)
        if bound > _Omega.LEVEL:
            w = self.pencil.project(w)
            u = w if not self.pencil.uses_metric_inner else self.pencil.M.mv(w)
            w, u, b = self.basis.orthogonalize(w, u, _raw_norm)
            bound = _EPS
        self._leak = (cur, bound)
        return w, u, b


def krylov(
    pencil,
    v0,
    max_steps,
    *,
    restart_rng=None,
    stop=None,
    progress=False,
    desc="lanczos",
    reorth="partial",
):
    """Run Lanczos on ``pencil`` from ``v0``; the engine's shared core (also used by SLQ).

    A one-shot :class:`KrylovRun` (see it for the parameters): ``stop(alpha, beta) -> bool`` is
    called after each step with the tridiagonal entries so far.

    Returns
    -------
    alpha, beta : ndarray
        Diagonal (m,) and off-diagonal (m,) of ``T`` (``beta[m-1]`` is the residual coupling).
    basis : _Basis
        Rows ``Q[:m]`` orthonormal in the Krylov inner product.
    v0_norm : float
        ``‖v0‖`` in the Krylov inner product (after projection).
    """
    run = KrylovRun(pencil, v0, restart_rng=restart_rng, reorth=reorth,
                    capacity=min(int(max_steps), pencil.range_dim))
    run.extend(max_steps, stop=stop, progress=progress, desc=desc)
    return run.alpha, run.beta, run.basis, run.v0_norm


def ritz(alpha, beta):
    """Eigenvalues and eigenvectors of the tridiagonal ``T`` (ascending)."""
    if alpha.size == 1:
        return alpha.copy(), np.ones((1, 1))
    return scipy.linalg.eigh_tridiagonal(alpha, beta[: alpha.size - 1])


def _select(theta, k, which):
    """Indices of the ``k`` wanted Ritz values (ascending order of value)."""
    if which == "largest":
        idx = np.argsort(theta)[-k:]
    elif which == "smallest":
        idx = np.argsort(theta)[:k]
    else:
        idx = np.argsort(np.abs(theta))[-k:]
    return idx[np.argsort(theta[idx])]


def _gap_errors(theta, res):
    """``min(r, r²/δ)`` per Ritz value, ``δ`` the distance to the neighbouring Ritz intervals.

    ``theta`` ascending (from :func:`ritz`). A neighbour ``θⱼ`` contributes ``|θ − θⱼ| − rⱼ``; a
    value with no neighbour (one Ritz value) or a non-positive gap keeps the residual.
    """
    n = theta.size
    gap = np.full(n, np.inf)
    if n > 1:
        lower = theta[1:] - theta[:-1] - res[:-1]  # gap of i = 1..n-1 to the one below
        upper = theta[1:] - theta[:-1] - res[1:]  # gap of i = 0..n-2 to the one above
        gap[1:] = np.minimum(gap[1:], lower)
        gap[:-1] = np.minimum(gap[:-1], upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = np.where((gap > 0) & np.isfinite(gap), res**2 / gap, np.inf)
    return np.minimum(res, kt)


def lanczos(
    A,
    k=1,
    *,
    M=None,
    which="largest",
    tol=1e-8,
    max_steps=None,
    seed=0,
    v0=None,
    verify=None,
    reorth="partial",
    cg_rtol=None,
    cg_max_iter=None,
    criterion="residual",
    keep_krylov=False,
    progress=True,
):
    """Extreme eigenpairs of ``A v = λ M v`` by Lanczos with full reorthogonalisation.

    Parameters
    ----------
    A : LinearOperator or anything :func:`~rgeom.linalg.aslinearoperator` accepts
        Symmetric.
    k : int
        Number of eigenpairs.
    M : LinearOperator, optional
        Symmetric positive (semi)definite metric (default: identity). With a known kernel the
        problem is solved on the range of ``M`` (pseudo-inverse semantics).
    which : {"largest", "smallest", "magnitude"}
        Algebraically largest / smallest, or largest in absolute value.
    tol : float
        Relative residual tolerance (see the module docstring); an eigenvalue ``θ`` that passes is
        within ``tol·|θ|`` of the spectrum.
    max_steps : int, optional
        Krylov dimension cap (default ``min(range_dim, max(100, 10 k))``); not converged by then →
        ``converged=False``.
    seed : int
        Seeds the random start vector (and restarts after a breakdown).
    v0 : ndarray, optional
        Start vector instead of a random one.
    verify : bool, optional
        Recompute the residuals explicitly at the end (``k`` more products). Default: only when
        conjugate-gradient solves are used, whose inexactness the recurrence cannot see.
    reorth : {"partial", "full"}
        Partial reorthogonalisation (Simon 1984; default) keeps the basis semi-orthogonal
        (``|q_iᵀq_j| ≤ √ε``) at a fraction of the cost: eigenvalues and residual estimates are as
        accurate as with ``"full"`` (Gram–Schmidt at every step), Ritz *vectors* to about
        ``√ε ‖A‖``. Conjugate-gradient solves always use ``"full"``.
    cg_rtol, cg_max_iter : optional
        Inner solve tolerance (default ``tol / 100``) and cap.
    criterion : {"residual", "eigenvalue"}
        Stop when every wanted residual is ``≤ tol·|θ|`` (default: accurate eigenvalues *and*
        vectors), or when the Kato–Temple eigenvalue error ``min(r, r²/δ)`` is (eigenvalues only;
        fewer steps — see the module docstring).
    keep_krylov : bool
        Keep the run (:class:`KrylovRun`, basis included) in the result's ``krylov``, so that
        :func:`~rgeom.linalg.krylov_hutchpp` can reuse its products as a trace sketch.
    progress : bool
        Progress bar on stderr (only on a terminal).

    Returns
    -------
    EigResult

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.linalg import lanczos
    >>> A = np.diag(np.arange(1.0, 51.0))
    >>> res = lanczos(A, k=2, tol=1e-10)
    >>> res.eigenvalues.round(10).tolist(), res.converged
    ([49.0, 50.0], True)
    >>> M = np.diag(np.full(50, 2.0))                       # generalized: A v = λ M v
    >>> round(float(lanczos(A, M=M, tol=1e-10).eigenvalues[-1]), 10)
    25.0
    >>> fast = lanczos(A, tol=1e-3, criterion="eigenvalue")     # eigenvalue only: fewer steps
    >>> bool(abs(fast.eigenvalues[-1] - 50.0) <= 1e-3 * 50), fast.n_matvecs < lanczos(A, tol=1e-3).n_matvecs
    (True, True)
    """
    if which not in ("largest", "smallest", "magnitude"):
        raise ValueError(f"which must be 'largest', 'smallest' or 'magnitude', got {which!r}.")
    if not (tol > 0):
        raise ValueError(f"tol must be positive, got {tol!r}.")
    if reorth not in ("partial", "full"):
        raise ValueError(f"reorth must be 'partial' or 'full', got {reorth!r}.")
    if criterion not in ("residual", "eigenvalue"):
        raise ValueError(f"criterion must be 'residual' or 'eigenvalue', got {criterion!r}.")
    pencil = Pencil(
        A, M, cg_rtol=tol / 100 if cg_rtol is None else cg_rtol, cg_max_iter=cg_max_iter
    )
    if int(k) != k or not 1 <= k <= pencil.range_dim:
        raise ValueError(f"k must be an integer in [1, {pencil.range_dim}], got {k!r}.")
    k = int(k)
    if max_steps is None:
        max_steps = max(100, 10 * k)
    if max_steps < k:
        raise ValueError(f"max_steps={max_steps} must be at least k={k}.")
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(pencil.d) if v0 is None else np.asarray(v0, dtype=np.float64)
    if getattr(start, "shape", None) != (pencil.d,):
        raise ValueError(f"v0 must have shape ({pencil.d},), got {np.shape(start)}.")

    def test(alpha, beta):
        m = alpha.size
        theta, S = ritz(alpha, beta)
        res = np.abs(beta[m - 1] * S[m - 1, :])
        anorm = np.abs(theta).max()
        err = _gap_errors(theta, res) if criterion == "eigenvalue" else res
        ok = err <= np.maximum(tol * np.abs(theta), RESIDUAL_FLOOR * anorm)
        return theta, S, res, ok

    def stop(alpha, beta):
        if alpha.size < k:
            return False
        theta, _, _, ok = test(alpha, beta)
        return bool(ok[_select(theta, k, which)].all())

    run = KrylovRun(pencil, start, restart_rng=rng, reorth=reorth,
                    capacity=min(int(max_steps), pencil.range_dim))
    run.extend(max_steps, stop=stop, progress=progress, desc=f"lanczos k={k}")
    alpha, beta, basis = run.alpha, run.beta, run.basis
    theta, S, res, ok = test(alpha, beta)
    exhausted = alpha.size == pencil.range_dim  # full Krylov space: Ritz values are exact
    if exhausted:
        ok[:] = True
    idx = _select(theta, min(k, theta.size), which)
    Y = S[:, idx].T @ basis.Q[: alpha.size]
    vecs = np.stack([pencil.to_vector(y) for y in Y], 1)
    res_all = res.copy()
    lam, res, ok = theta[idx], res[idx], ok[idx]
    if verify is None:
        verify = not pencil.exact
    if verify:
        true = []
        for y, t in zip(Y, lam):
            r = pencil.apply(y) - t * y
            true.append(pencil.inner_norm(r, pencil.metric_mv(r)))
        res = np.array(true)
        res_all[idx] = res
    errors = _gap_errors(theta, res_all)[idx]
    if verify:
        ok = (errors if criterion == "eigenvalue" else res) <= np.maximum(
            tol * np.abs(lam), RESIDUAL_FLOOR * np.abs(theta).max()
        )
    inner_ok, message = pencil.status()
    if not ok.all() and not message:
        message = (
            f"{int((~ok).sum())} of {k} Ritz pair(s) did not reach tol={tol:g} within "
            f"max_steps={max_steps} (largest relative "
            f"{'residual' if criterion == 'residual' else 'error estimate'} "
            f"{float(np.max((res if criterion == 'residual' else errors) / np.maximum(np.abs(lam), 1e-300))):.3g})"
        )
    return EigResult(
        eigenvalues=lam,
        eigenvectors=vecs,
        residuals=res,
        converged_mask=ok,
        converged=bool(ok.all() and inner_ok),
        n_steps=int(alpha.size),
        n_matvecs=pencil.n_apply,
        method=pencil.method,
        message=message,
        kernel_dim=pencil.kernel_dim,
        solves_converged=inner_ok,
        error_estimates=errors,
        criterion=criterion,
        krylov=run if keep_krylov else None,
    )
