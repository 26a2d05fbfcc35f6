"""Hypothesis strategies for rgeom objects: SPD matrices, points, metrics, maps and losses.

Every strategy takes its controls as keyword-only arguments, checks them when it is built (a bad
argument raises :class:`hypothesis.errors.InvalidArgument` naming the argument and what was
expected) and can be bound to a backend with ``backend=`` (``None``: NumPy arrays and the
autograd backend; ``"jax"``; ``"torch"``).

Design choices:

* Random structure (orthogonal factors, weight matrices, masks) comes from a NumPy generator
  seeded by a drawn integer, and one drawn "strength" ``u ∈ [0, 1]`` controls how far an object
  is from the simplest one (identity, flat metric, linear map). This keeps draws cheap for any
  dimension, makes every example reproducible from its seed, and shrinks towards seed 0 and
  ``u = 0`` instead of through ill-conditioned intermediate matrices.
* Every object is built so its conditioning is bounded *by construction*, never by rejection:
  the promised bounds (stated per strategy) hold for every example, so float64 tolerances in
  tests can be stated up front.
* Drawn maps, metrics and losses are backend-generic: they evaluate through the array namespace
  of their input (``rgeom.backend.get_backend(None, x)``), so they work with NumPy, JAX and torch
  arrays alike. ``backend=`` fixes the array type of drawn arrays (:func:`points`,
  :func:`spd_matrices`) and checks, for objects, that the backend is installed.
"""

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .. import maps as _maps
from .. import metrics as _metrics
from .._checks import concrete
from ..backend import BACKENDS, Backend, get_backend
from ..errors import BackendError

__all__ = ["spd_matrices", "points", "metrics", "diffeomorphisms", "losses", "MAX_CONDITION"]

#: Largest ``max_condition`` the strategies accept (float64 leaves ~6 significant digits there).
MAX_CONDITION = 1e10

#: Map kinds understood by :func:`diffeomorphisms`.
MAP_KINDS = ("affine", "elementwise", "coupling")

_SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
_UNIT = st.floats(min_value=0.0, max_value=1.0, allow_subnormal=False)
_EPS = np.finfo(np.float64).eps


# --- argument validation ----------------------------------------------------------------------
def _is_real(x):
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, (bool, np.bool_)
    )


def _check_dim(dim, where, *, minimum=1):
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)) or dim < minimum:
        raise InvalidArgument(f"{where}: dim must be an integer >= {minimum}, got {dim!r}.")
    return int(dim)


def _check_condition(max_condition, where):
    if not _is_real(max_condition) or not (1.0 <= max_condition <= MAX_CONDITION):
        raise InvalidArgument(
            f"{where}: max_condition must be a real number in [1, {MAX_CONDITION:.0e}] "
            f"(a condition number is >= 1), got {max_condition!r}."
        )
    return float(max_condition)


def _check_positive(value, name, where):
    if not _is_real(value) or not (math.isfinite(value) and value > 0):
        raise InvalidArgument(f"{where}: {name} must be a finite real number > 0, got {value!r}.")
    return float(value)


def _resolve_backend(backend, where):
    if backend is None or isinstance(backend, Backend):
        return get_backend(backend)
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InvalidArgument(
            f"{where}: backend must be None (NumPy / autograd), a Backend or one of {BACKENDS}, "
            f"got {backend!r}."
        )
    try:
        return get_backend(backend)
    except BackendError as err:
        raise InvalidArgument(f"{where}: {err}") from None


def _on_backend(bk, array, where):
    """A float64 NumPy array as a float64 array of ``bk``; refuses silent down-casting."""
    x = bk.asarray(np.asarray(array, dtype=np.float64))
    if "float64" not in str(getattr(x, "dtype", "")):
        hint = (
            " Enable it first: jax.config.update('jax_enable_x64', True)."
            if bk.name == "jax"
            else ""
        )
        raise InvalidArgument(
            f"{where}: the {bk.name!r} backend turned a float64 array into {x.dtype}; rgeom's "
            f"strategies draw float64 only.{hint}"
        )
    return x


# --- construction helpers (pure NumPy, from a seeded generator) -------------------------------
def _orthogonal(rng, d):
    """A Haar-distributed orthogonal ``d × d`` matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.sign(np.diag(r))
    return q * np.where(s == 0, 1.0, s)


def _exponents(rng, d, u):
    """``d`` numbers in ``[0, u]``; for ``d >= 2`` the smallest is 0 and the largest ``u``."""
    r = rng.uniform(0.0, 1.0, d)
    if d >= 2:
        i, j = rng.choice(d, size=2, replace=False)
        r[i], r[j] = 0.0, 1.0
    return u * r


def _safe_condition(kappa, d):
    """Shrink a target condition number so rounding cannot push the realised one above it."""
    return max(1.0, kappa * (1.0 - 64.0 * d * _EPS * kappa))


def _spd(rng, d, u, kappa, scale):
    """``Q diag(λ) Qᵀ`` with ``λ ∈ scale · [1, κ^u]``; for ``d >= 2`` exactly ``cond = κ^u``."""
    kappa = _safe_condition(kappa, d)
    q = _orthogonal(rng, d)
    lam = scale * kappa ** _exponents(rng, d, u)
    G = (q * lam) @ q.T
    return 0.5 * (G + G.T)


# --- public strategies ------------------------------------------------------------------------
def spd_matrices(dim, *, max_condition=100.0, scale=1.0, backend=None):
    """Symmetric positive definite float64 matrices with a bounded condition number.

    Built as ``Q diag(λ) Qᵀ`` from a Haar-random orthogonal ``Q`` (from a drawn seed) and
    eigenvalues ``λ ∈ scale · [1, max_condition]``; a drawn ``u ∈ [0, 1]`` sets the spread, so that
    examples range from ``scale · I`` (``u = 0``, where shrinking goes) to condition number
    exactly ``max_condition`` (``u = 1``).

    Parameters
    ----------
    dim : int
        Matrix size ``d >= 1``.
    max_condition : float
        Upper bound on ``cond₂(G) = λ_max / λ_min``, in ``[1, 1e10]``. Holds up to rounding:
        ``np.linalg.cond(G) <= max_condition · (1 + 1e-12)`` for ``max_condition <= 1e3``.
    scale : float
        Smallest possible eigenvalue (``> 0``); all eigenvalues lie in
        ``[scale, scale · max_condition]``.
    backend : None, str or Backend
        Array type of the drawn matrices (``None``: NumPy).

    Returns
    -------
    SearchStrategy
        Of ``(dim, dim)`` float64 arrays on ``backend``, exactly symmetric.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        If ``dim < 1``, ``max_condition`` is outside ``[1, 1e10]``, ``scale <= 0`` or the backend
        is unknown or not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from rgeom.testing import spd_matrices
    >>> @settings(max_examples=20, database=None)
    ... @given(spd_matrices(3, max_condition=50.0))
    ... def check(G):
    ...     assert np.all(G == G.T) and np.linalg.eigvalsh(G)[0] >= 1.0 - 1e-12
    ...     assert np.linalg.cond(G) <= 50.0 * (1 + 1e-12)
    >>> check()
    """
    where = "spd_matrices"
    d = _check_dim(dim, where)
    kappa = _check_condition(max_condition, where)
    scale = _check_positive(scale, "scale", where)
    bk = _resolve_backend(backend, where)

    @st.composite
    def build(draw):
        seed, u = draw(_SEEDS), draw(_UNIT)
        return _on_backend(bk, _spd(np.random.default_rng(seed), d, u, kappa, scale), where)

    return build()


def points(dim, *, bound=1.0, backend=None):
    """Points (coordinate vectors) in the box ``[-bound, bound]^dim``, as float64 1-D arrays.

    Coordinates are drawn independently as finite floats (no NaN, no inf, no subnormals), so
    Hypothesis explores edges such as 0 and ``±bound`` and shrinks towards the origin.

    Parameters
    ----------
    dim : int
        Number of coordinates ``d >= 1``.
    bound : float
        Half-width of the box (``> 0``); matches the ``bound`` of :func:`diffeomorphisms`, inside
        which their conditioning is guaranteed.
    backend : None, str or Backend
        Array type (``None``: NumPy). JAX needs ``jax_enable_x64``; without it drawing raises
        ``InvalidArgument`` rather than silently giving float32.

    Returns
    -------
    SearchStrategy
        Of arrays of shape ``(dim,)``, dtype float64, on ``backend``.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        If ``dim < 1``, ``bound`` is not a finite positive number, or the backend is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from rgeom.testing import points
    >>> @settings(max_examples=20, database=None)
    ... @given(points(4, bound=2.0))
    ... def check(x):
    ...     assert x.shape == (4,) and x.dtype == np.float64 and np.all(np.abs(x) <= 2.0)
    >>> check()
    """
    where = "points"
    d = _check_dim(dim, where)
    bound = _check_positive(bound, "bound", where)
    bk = _resolve_backend(backend, where)
    coord = st.floats(
        min_value=-bound,
        max_value=bound,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
    )

    @st.composite
    def build(draw):
        return _on_backend(bk, draw(st.lists(coord, min_size=d, max_size=d)), where)

    return build()


# --- metrics ------------------------------------------------------------------------------------
class _DiagonalField:
    """``θ ↦ c ⊙ exp(a · tanh(Bθ + β))``: smooth, positive, ``cond <= max c / min c · e^{2a}``."""

    def __init__(self, c, a, B, beta, seed):
        self.c, self.a, self.B, self.beta = c, a, B, beta
        self.__name__ = f"c·exp({a:.3g}·tanh(Bθ+β)) [seed={seed}]"

    def __call__(self, theta):
        bk = get_backend(None, theta)
        xp = bk.xp
        z = bk.asarray(self.B) @ theta + bk.asarray(self.beta)
        return bk.asarray(self.c) * xp.exp(self.a * xp.tanh(z))


class _DenseField:
    """``θ ↦ M Mᵀ`` with ``M = C diag(exp(½ a tanh(Wθ + β)))``: exactly symmetric, SPD.

    ``cond(C D Cᵀ) <= cond(C)² cond(D) = cond(C Cᵀ) · e^{2a}``.
    """

    def __init__(self, C, a, W, beta, seed):
        self.C, self.a, self.W, self.beta = C, a, W, beta
        self.__name__ = f"C·diag(exp({a:.3g}·tanh(Wθ+β)))·Cᵀ [seed={seed}]"

    def __call__(self, theta):
        bk = get_backend(None, theta)
        xp = bk.xp
        z = bk.asarray(self.W) @ theta + bk.asarray(self.beta)
        M = bk.asarray(self.C) * xp.exp((0.5 * self.a) * xp.tanh(z))
        return M @ M.T


def _build_metric(kind, seed, u, d, kappa):
    rng = np.random.default_rng(seed)
    scale = float(np.exp(rng.uniform(-0.5, 0.5)))
    if kind == "constant":
        G = _spd(rng, d, u, kappa, scale)
        metric = _metrics.Dense.constant_matrix(G)
        try:
            metric.fn.__name__ = f"constant SPD, cond {np.linalg.cond(G):.3g} [seed={seed}]"
        except (AttributeError, TypeError):  # pragma: no cover - cosmetic only
            pass
        return metric
    # Split the budget: √κ for the constant factor, √κ for the θ-dependent one (e^{2a} = κ^{1/2}
    # at most; a >= half that so the metric really varies unless κ = 1).
    half = _safe_condition(kappa, d) ** 0.5
    a = 0.25 * math.log(_safe_condition(kappa, d)) * float(rng.uniform(0.5, 1.0))
    B = rng.standard_normal((d, d)) / math.sqrt(d)
    beta = rng.uniform(-1.0, 1.0, d)
    if kind == "diagonal":
        c = scale * half ** _exponents(rng, d, u)
        return _metrics.Diagonal(_DiagonalField(c, a, B, beta, seed), dim=d)
    C = np.linalg.cholesky(_spd(rng, d, u, half, scale))
    return _metrics.Dense(_DenseField(C, a, B, beta, seed), dim=d)


def metrics(dim, *, max_condition=100.0, constant=None, backend=None):
    """Riemannian metrics on ``R^dim`` with condition number at most ``max_condition`` everywhere.

    Three families (``constant`` selects among them):

    * constant: :meth:`rgeom.metrics.Dense.constant_matrix` of an :func:`spd_matrices` draw;
    * diagonal: :class:`rgeom.metrics.Diagonal` with entries ``c ⊙ exp(a · tanh(Bθ + β))``;
    * dense: :class:`rgeom.metrics.Dense` with ``G(θ) = C diag(exp(a · tanh(Wθ + β))) Cᵀ``.

    The θ-dependent ones are smooth (all derivatives bounded), vary on the unit scale of θ and
    keep ``cond G(θ) <= max_condition`` for *every* θ (the tanh bounds the variation).

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    max_condition : float
        Bound on ``cond₂ G(θ)`` over all θ, in ``[1, 1e10]``.
    constant : None or bool
        ``True``: only constant metrics; ``False``: only θ-dependent ones (which are then not
        flagged ``constant``, so Christoffel terms are computed); ``None``: all three families.
    backend : None, str or Backend
        Checked to be installed. The metrics are backend-generic (they compute through the
        namespace of θ), so they work with that backend's arrays.

    Returns
    -------
    SearchStrategy
        Of :class:`rgeom.metrics.Metric` with ``dim == d``.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        On ``dim < 1``, ``max_condition`` outside ``[1, 1e10]``, ``constant`` not None/True/False
        or an unknown backend.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from rgeom.testing import metrics, points
    >>> @settings(max_examples=20, database=None)
    ... @given(metrics(3, max_condition=20.0), points(3, bound=5.0))
    ... def check(G, theta):
    ...     M = G.at(theta).as_matrix()
    ...     assert np.allclose(M, M.T) and np.linalg.cond(M) <= 20.0 * (1 + 1e-9)
    >>> check()
    """
    where = "metrics"
    d = _check_dim(dim, where)
    kappa = _check_condition(max_condition, where)
    if constant not in (None, True, False):
        raise InvalidArgument(f"{where}: constant must be None, True or False, got {constant!r}.")
    _resolve_backend(backend, where)
    kinds = {
        None: ("constant", "diagonal", "dense"),
        True: ("constant",),
        False: ("diagonal", "dense"),
    }

    @st.composite
    def build(draw):
        kind, seed, u = draw(st.sampled_from(kinds[constant])), draw(_SEEDS), draw(_UNIT)
        return _build_metric(kind, seed, u, d, kappa)

    return build()


# --- diffeomorphisms ------------------------------------------------------------------------------
def _inf_norm(A):
    return float(np.abs(A).sum(axis=1).max()) if A.size else 0.0


def _affine(rng, u, d, kappa, R):
    """``A = U diag(σ) Vᵀ`` with ``σ ∈ κ^{[-u/2, u/2]}``: ``cond A = κ^u <= κ`` (any ψ)."""
    kappa = _safe_condition(kappa, d)
    sigma = kappa ** (_exponents(rng, d, u) - 0.5 * u)
    A = (_orthogonal(rng, d) * sigma) @ _orthogonal(rng, d).T
    b = rng.uniform(-0.5, 0.5, d)
    return _maps.Affine(A, b), _inf_norm(A) * R + float(np.abs(b).max())


def _elementwise(rng, u, d, kappa, R):
    """``Sinh(a)`` with ``cosh(R/a) <= κ`` on ``|ψ|∞ <= R``, or ``Scale(s)`` with ``cond <= κ``."""
    kappa = _safe_condition(kappa, d)
    if rng.uniform() < 0.5 and kappa > 1.0 + 1e-6:
        # cond J = max cosh(ψᵢ/a) / min cosh(ψⱼ/a) <= cosh(R/a) <= κ; u = 1 is the most curved.
        a = R / math.acosh(kappa) * (1.0 + 3.0 * (1.0 - u))
        return _maps.Sinh(a), a * math.sinh(R / a)
    s = kappa ** (_exponents(rng, d, u) - 0.5 * u) * rng.choice([-1.0, 1.0], size=d)
    return _maps.Scale(s), float(np.abs(s).max()) * R


def _coupling(rng, u, d, kappa, R):
    """``AffineCoupling`` with weights small enough that ``cond J <= κ`` on ``|ψ|∞ <= R``.

    With ``m = max|tanh(Sψ_a)| <= ‖S‖∞ R`` and ``c >= ‖∂θ_b/∂ψ_a‖₂ <= R e^m ‖S‖₂ + ‖T‖₂``:
    ``‖J‖ <= e^m + c`` and ``‖J⁻¹‖ <= e^m (1 + c)``, so ``cond J <= (e^m (1 + c))²``. We take
    ``e^m <= κ^{1/4}`` and ``1 + c <= κ^{1/4}``.
    """
    kappa = _safe_condition(kappa, d)
    mask = np.zeros(d, dtype=bool)
    mask[rng.permutation(d)[: int(rng.integers(1, d))]] = True
    da, db = int(mask.sum()), d - int(mask.sum())
    m_max = 0.25 * math.log(kappa)
    c_half = 0.5 * (kappa**0.25 - 1.0)
    S, T = rng.standard_normal((db, da)), rng.standard_normal((db, da))
    s_norm, t_norm = np.linalg.norm(S, 2), np.linalg.norm(T, 2)
    s_fac = min(
        m_max / (R * max(_inf_norm(S), 1e-300)),
        c_half / (R * math.exp(m_max) * max(s_norm, 1e-300)),
    )
    t_fac = c_half / max(t_norm, 1e-300)
    S, T = u * s_fac * S, u * t_fac * T
    R_out = R * math.exp(min(1.0, _inf_norm(S) * R)) + min(1.0, _inf_norm(T) * R)
    return _maps.AffineCoupling(mask, S, T), R_out


_BUILDERS = {"affine": _affine, "elementwise": _elementwise, "coupling": _coupling}


def _check_depth(depth, where):
    if _is_real(depth) and int(depth) == depth:
        lo = hi = int(depth)
    elif (
        isinstance(depth, (tuple, list))
        and len(depth) == 2
        and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in depth)
    ):
        lo, hi = int(depth[0]), int(depth[1])
    else:
        raise InvalidArgument(
            f"{where}: depth must be an int or a pair (min, max) of ints, got {depth!r}."
        )
    if not 1 <= lo <= hi <= 16:
        raise InvalidArgument(f"{where}: depth must satisfy 1 <= min <= max <= 16, got {depth!r}.")
    return lo, hi


def _check_kinds(kinds, d, where):
    if isinstance(kinds, str):
        kinds = (kinds,)
    try:
        kinds = tuple(kinds)
    except TypeError:
        raise InvalidArgument(
            f"{where}: kinds must be a sequence of names from {MAP_KINDS}, got {kinds!r}."
        ) from None
    unknown = [k for k in kinds if k not in MAP_KINDS]
    if unknown or not kinds:
        raise InvalidArgument(
            f"{where}: kinds must be a non-empty sequence of names from {MAP_KINDS}, got {kinds!r}."
        )
    usable = tuple(k for k in dict.fromkeys(kinds) if d >= 2 or k != "coupling")
    if not usable:
        raise InvalidArgument(
            f"{where}: kinds={kinds!r} with dim=1: a coupling map needs dim >= 2."
        )
    return usable


def diffeomorphisms(
    dim, *, depth=(1, 3), kinds=MAP_KINDS, max_condition=100.0, bound=1.0, backend=None
):
    """Compositions ``f_n ∘ … ∘ f_1`` of maps with exact inverses and bounded conditioning.

    Each factor is one of

    * ``"affine"``: :class:`rgeom.maps.Affine` ``Aψ + b`` with ``A = U diag(σ) Vᵀ``;
    * ``"elementwise"``: :class:`rgeom.maps.Sinh` (monotone, curved) or :class:`rgeom.maps.Scale`
      (possibly orientation-reversing);
    * ``"coupling"``: :class:`rgeom.maps.AffineCoupling` with a random mask and small weights
      (nonlinear, triangular Jacobian; needs ``dim >= 2``, skipped for ``dim = 1``),

    chained with ``@``. Every factor has a closed-form inverse, so ``g.inverse(g(ψ)) == ψ`` up to
    rounding (relative error ``<= 1e-12`` for ``max_condition <= 1e3``).

    Conditioning guarantee: for every ``ψ`` with ``max|ψᵢ| <= bound``,
    ``cond₂ J(ψ) <= max_condition`` (each of the ``n`` factors gets ``max_condition^{1/n}``, its
    parameters chosen from an a-priori bound on the box its input ranges over).

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    depth : int or (int, int)
        Number of factors, or its inclusive range; ``1 <= min <= max <= 16``.
    kinds : sequence of str
        Allowed factor kinds, a non-empty subset of ``("affine", "elementwise", "coupling")``.
    max_condition : float
        Bound on ``cond₂ J(ψ)`` over the box, in ``[1, 1e10]``.
    bound : float
        Half-width of the box ``|ψ|∞ <= bound`` on which the bound holds (use the same ``bound``
        in :func:`points`).
    backend : None, str or Backend
        Checked to be installed; the maps are backend-generic (they compute through the namespace
        of their input), so they work with that backend's arrays.

    Returns
    -------
    SearchStrategy
        Of :class:`rgeom.maps.Map` (a ``Compose`` when ``depth > 1``), ``θ = g(ψ)``.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        On a bad ``dim``, ``depth``, ``kinds`` (unknown names, empty, or only ``"coupling"`` with
        ``dim = 1``), ``max_condition``, ``bound`` or backend.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from rgeom.testing import diffeomorphisms, points
    >>> @settings(max_examples=20, database=None)
    ... @given(diffeomorphisms(3, max_condition=50.0), points(3))
    ... def check(g, psi):
    ...     assert np.allclose(g.inverse(g(psi)), psi, rtol=1e-12, atol=1e-12)
    ...     assert np.linalg.cond(g.jacobian(psi)) <= 50.0
    >>> check()
    """
    where = "diffeomorphisms"
    d = _check_dim(dim, where)
    lo, hi = _check_depth(depth, where)
    usable = _check_kinds(kinds, d, where)
    kappa = _check_condition(max_condition, where)
    bound = _check_positive(bound, "bound", where)
    _resolve_backend(backend, where)

    @st.composite
    def build(draw):
        n = draw(st.integers(min_value=lo, max_value=hi))
        kappa_i = kappa ** (1.0 / n)
        R, g = bound, None
        for _ in range(n):
            kind = draw(st.sampled_from(usable))
            seed, u = draw(_SEEDS), draw(_UNIT)
            f, R = _BUILDERS[kind](np.random.default_rng(seed), u, d, kappa_i, R)
            g = f if g is None else f @ g
        return g

    return build()


# --- losses ---------------------------------------------------------------------------------------
class _Loss:
    """``L(θ) = ½ uᵀAu + Σᵢ bᵢ (1 − cos(wᵢᵀu)) + kᵀu``, ``u = θ − c`` (``k = 0``: critical at c)."""

    def __init__(self, c, A, W, b, k, seed):
        self.c, self.A, self.W, self.b, self.k, self.seed = c, A, W, b, k, seed

    def __call__(self, theta):
        bk = get_backend(None, theta)
        xp = bk.xp
        u = theta - bk.asarray(self.c)
        quad = 0.5 * xp.sum(u * (bk.asarray(self.A) @ u))
        wave = xp.sum(bk.asarray(self.b) * (1.0 - xp.cos(bk.asarray(self.W) @ u)))
        return quad + wave + xp.sum(bk.asarray(self.k) * u)

    def __repr__(self):
        crit = "critical at c" if not np.any(self.k) else "kᵀu"
        return f"loss(½uᵀAu + Σb(1−cos Wu) [{crit}], d={self.c.shape[0]}, seed={self.seed})"


def losses(dim, *, critical_point=None, backend=None):
    """Smooth, non-quadratic scalar functions ``L: R^dim → R`` (losses), backend-generic.

    ``L(θ) = ½ uᵀAu + Σᵢ bᵢ (1 − cos(wᵢᵀu)) + kᵀu`` with ``u = θ − c``, a symmetric (possibly
    indefinite) ``A`` with entries of order 1, ``|bᵢ| <= 0.5``, ``W`` of order 1. Every derivative
    is bounded by a small multiple of ``1 + |u|``, so third-order Taylor terms are non-zero.

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    critical_point : array_like of shape (dim,), optional
        If given, ``c`` is this point and ``k = 0``: ``∇L(c) = 0`` exactly. Otherwise ``c`` is
        random in ``[-2, 2]^d`` and ``k`` random, so the gradient is generically non-zero.
    backend : None, str or Backend
        Checked to be installed; the losses compute through the namespace of their input.

    Returns
    -------
    SearchStrategy
        Of callables ``θ (d,) -> scalar``.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        On ``dim < 1``, a ``critical_point`` of the wrong shape or with non-finite entries, or an
        unknown backend.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from rgeom.backend import get_backend
    >>> from rgeom.testing import losses
    >>> c = np.array([0.5, -1.0])
    >>> @settings(max_examples=10, database=None)
    ... @given(losses(2, critical_point=c))
    ... def check(L):
    ...     assert np.all(get_backend(None, c).grad(L, c) == 0.0)
    >>> check()
    """
    where = "losses"
    d = _check_dim(dim, where)
    if critical_point is not None:
        cp = concrete(critical_point)
        if (
            cp is None
            or np.shape(cp) != (d,)
            or not np.all(np.isfinite(np.asarray(cp, dtype=float)))
        ):
            raise InvalidArgument(
                f"{where}: critical_point must be a finite array of shape ({d},), "
                f"got {critical_point!r}."
            )
        critical_point = np.array(cp, dtype=np.float64)
    _resolve_backend(backend, where)

    @st.composite
    def build(draw):
        seed = draw(_SEEDS)
        rng = np.random.default_rng(seed)
        A = rng.uniform(-1.0, 1.0, (d, d))
        A = 0.5 * (A + A.T) + np.eye(d)
        W = rng.standard_normal((d, d)) / math.sqrt(d)
        b = rng.uniform(-0.5, 0.5, d)
        if critical_point is None:
            c, k = rng.uniform(-2.0, 2.0, d), rng.uniform(-1.0, 1.0, d)
        else:
            c, k = critical_point, np.zeros(d)
        return _Loss(c, A, W, b, k, seed)

    return build()
