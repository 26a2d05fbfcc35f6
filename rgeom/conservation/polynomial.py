"""All conserved polynomials up to a degree: a linear system on monomial coefficients.

``P = Σₐ cₐ zᵃ`` is conserved iff ``⟨∇P, χ_ω⟩ ≡ 0`` for every generator, a linear condition on the
coefficients ``c``. When the lifting (and the inverse metric) are polynomial with rational
coefficients, the condition is expanded exactly over ``ℚ[z, ω]`` (sympy's sparse polynomial rings
evaluated through the same code that builds the numeric fields, on NumPy object arrays) and the
kernel is computed exactly (``DomainMatrix`` over ``ℚ``): no tolerance, no sampling. Otherwise the
condition is sampled at random points and generators and the kernel is decided by a
singular-value gap (``exact=False``; coefficients shown rounded). Laws are returned in reduced
row-echelon form (each has a pivot monomial absent from the others) and printed with sympy. Their
*independence rank* (the generic rank of their gradients) counts functionally independent laws:
products of laws are laws too, so the number of polynomials exceeds it from degree 4 on.
"""

import dataclasses
import itertools
import time
from fractions import Fraction

import numpy as np

from ._batch import batched, float64, to_backend, to_numpy
from .rank import EPS, decide_rank
from .sampling import sample_points

__all__ = ["PolynomialLaws", "polynomial_laws", "monomials"]


def monomials(n_vars, degree):
    """Exponent tuples of all monomials of degree ``1..degree`` in ``n_vars`` variables.

    Graded, then reverse-lexicographic in the variable order (``z₁²`` before ``z₁z₂``).

    Examples
    --------
    >>> from rgeom.conservation.polynomial import monomials
    >>> monomials(2, 2)
    [(1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]
    """
    out = []
    for deg in range(1, int(degree) + 1):
        for combo in itertools.combinations_with_replacement(range(n_vars), deg):
            e = [0] * n_vars
            for i in combo:
                e[i] += 1
            out.append(tuple(e))
    return out


@dataclasses.dataclass(frozen=True)
class PolynomialLaws:
    """Conserved polynomials found up to ``degree``.

    Attributes
    ----------
    degree : int
    names : tuple of str
        Coordinate names.
    monomials : tuple of tuple of int
        Exponents of the unknown coefficients' monomials (columns of ``coefficients``).
    coefficients : ndarray, shape (n_laws, n_monomials)
        The laws, in reduced row-echelon form (float64; exact fractions in ``exact_coefficients``).
    exact : bool
        Whether the kernel was computed exactly over ℚ.
    certain : bool
        Exact, or decided with a clear singular-value gap.
    independence_rank : int
        Generic rank of the laws' gradients (number of functionally independent laws).
    n_equations : int
    seconds : float
    exact_coefficients : tuple or None
        Per law, ``((monomial index, Fraction), ...)`` (exact path only).
    message : str
        Why the numeric path was taken, if it was.
    """

    degree: int
    names: tuple
    monomials: tuple
    coefficients: np.ndarray
    exact: bool
    certain: bool
    independence_rank: int
    n_equations: int
    seconds: float
    exact_coefficients: object = None
    message: str = ""

    @property
    def n_laws(self):
        """Number of linearly independent conserved polynomials found."""
        return int(self.coefficients.shape[0])

    def evaluate(self, z):
        """Values of the laws at ``z`` (shape ``(dim,)`` or ``(n, dim)``), NumPy float64."""
        z = np.asarray(z, dtype=np.float64)
        E = np.asarray(self.monomials, dtype=np.int64)
        mono = np.prod(z[..., None, :] ** E, axis=-1)
        return mono @ self.coefficients.T

    def sympy(self):
        """The laws as sympy expressions (rationals when exact)."""
        import sympy

        syms = [sympy.Symbol(n) for n in self.names]
        exprs = []
        for i in range(self.n_laws):
            if self.exact_coefficients is not None:
                terms = [(a, sympy.Rational(c.numerator, c.denominator))
                         for a, c in self.exact_coefficients[i]]
            else:
                terms = [(a, sympy.nsimplify(round(float(c), 9), rational=True))
                         for a, c in enumerate(self.coefficients[i]) if c != 0]
            exprs.append(sympy.Add(*[c * sympy.Mul(*[s ** e for s, e in zip(syms, self.monomials[a]) if e])
                                     for a, c in terms]))
        return exprs

    def expressions(self):
        """The laws as readable strings (sympy's printer; a plain one without sympy)."""
        try:
            return [str(e) for e in self.sympy()]
        except ImportError:  # pragma: no cover - sympy is optional
            return [_plain(self.names, self.monomials, row) for row in self.coefficients]

    def as_dict(self):
        """JSON-friendly summary."""
        return {"degree": self.degree, "n_laws": self.n_laws, "exact": self.exact, "certain": self.certain,
                "independence_rank": self.independence_rank, "laws": self.expressions(),
                "n_unknowns": len(self.monomials), "n_equations": self.n_equations,
                "seconds": round(self.seconds, 4), "message": self.message}


def _plain(names, monos, row):
    parts = []
    for a, c in enumerate(row):
        if c != 0:
            powers = (f"{n}**{e}" if e > 1 else n for n, e in zip(names, monos[a]) if e)
            parts.append(f"{c:+.6g}*" + "*".join(powers))
    return " ".join(parts) or "0"


def polynomial_laws(gens, degree=2, *, exact=None, n_points=None, seed=0, min_gap=1e4, max_unknowns=4000):
    """All conservation laws of ``gens`` that are polynomials of degree ``≤ degree`` (no constant).

    Parameters
    ----------
    gens : Generators
    degree : int
    exact : bool, optional
        ``None`` tries the exact path and falls back to the numeric one; ``True`` requires it
        (raises ``ValueError`` if the lifting is not polynomial over ℚ); ``False`` skips it.
    n_points : int, optional
        Numeric path: random points (default enough for twice as many equations as unknowns).
    seed : int
    min_gap : float
        Numeric path: ambiguity band of the rank decision.
    max_unknowns : int
        Refuse systems with more monomials than this (they grow like ``C(D + degree, degree)``).

    Returns
    -------
    PolynomialLaws

    Examples
    --------
    >>> from rgeom.conservation import architectures, polynomial_laws
    >>> laws = polynomial_laws(architectures.relu_network([1, 2, 1]).generators(), 2)
    >>> laws.exact, laws.n_laws, laws.independence_rank
    (True, 2, 2)
    >>> laws.expressions()
    ['W1[0,0]**2 - W2[0,0]**2', 'W1[1,0]**2 - W2[0,1]**2']
    """
    t0 = time.perf_counter()
    degree = int(degree)
    if degree < 1:
        raise ValueError(f"degree must be a positive integer, got {degree!r}.")
    monos = monomials(gens.dim, degree)
    if len(monos) > max_unknowns:
        raise ValueError(f"polynomial_laws: {len(monos)} monomials of degree <= {degree} in {gens.dim} "
                         f"variables exceed max_unknowns={max_unknowns}; lower the degree or raise "
                         "the limit.")
    message = ""
    if exact is not False:
        try:
            fields, ring_info = _symbolic_fields(gens)
        except (ImportError, TypeError, ValueError, ArithmeticError, AttributeError,
                NotImplementedError) as exc:
            if exact:
                raise ValueError(f"exact polynomial laws need a lifting polynomial over ℚ that runs on "
                                 f"NumPy object arrays: {type(exc).__name__}: {exc}") from exc
            fields = None
            message = f"exact path unavailable ({type(exc).__name__}: {exc}); numeric kernel used"
        if fields is not None:
            return _exact(gens, degree, monos, fields, ring_info, t0, seed)
    return _numeric(gens, degree, monos, n_points, seed, min_gap, t0, message)


# --- exact path ---------------------------------------------------------------------------------
def _symbolic_fields(gens):
    from sympy import QQ, Symbol
    from sympy.polys.rings import PolyElement, ring

    syms = [Symbol(n) for n in gens.names] + [Symbol(f"_ω{i}") for i in range(gens.omega_dim)]
    R, *xs = ring(syms, QQ)
    z = np.array(xs[:gens.dim], dtype=object)
    w = np.array(xs[gens.dim:], dtype=object)

    def grad(f, x):
        val = f(x)
        if not isinstance(val, PolyElement):
            val = R(val)
        return np.array([val.diff(xi) for xi in x], dtype=object)

    def num(x):
        fr = Fraction(x)
        return QQ(fr.numerator, fr.denominator)

    out = gens.assemble(z, w, grad, np, num)
    fields = []
    for f in np.asarray(out, dtype=object).reshape(-1):
        if isinstance(f, (float, np.floating)):
            raise TypeError("the field has floating-point entries")
        fields.append(f if isinstance(f, PolyElement) else R(f))
    if len(fields) != gens.dim:
        raise ValueError(f"the field has {len(fields)} components, expected {gens.dim}")
    return fields, (R, QQ)


def _exact(gens, degree, monos, fields, ring_info, t0, seed):
    from sympy.polys.matrices import DomainMatrix

    R, QQ = ring_info
    n_w = gens.omega_dim
    rows, entries = {}, {}
    for a, alpha in enumerate(monos):
        col = R.zero
        for i, e in enumerate(alpha):
            if e and fields[i]:
                lower = list(alpha) + [0] * n_w
                lower[i] -= 1
                col += fields[i].mul_term((tuple(lower), QQ(e)))
        for monom, coeff in col.terms():
            r = rows.setdefault(monom, len(rows))
            entries.setdefault(r, {})[a] = coeff
    n_eq = len(rows)
    A = DomainMatrix(entries, (max(n_eq, 1), len(monos)), QQ)
    K = A.nullspace()
    if K.shape[0] == 0 or (K.shape[0] == 1 and not any(K.to_sdm().get(0, {}).values())):
        basis = []
    else:
        basis = K.rref()[0].to_Matrix().tolist()
    exact_rows = []
    for row in basis:
        terms = tuple((a, Fraction(int(c.p), int(c.q))) for a, c in enumerate(row) if c != 0)
        if terms:
            exact_rows.append(terms)
    coeffs = np.zeros((len(exact_rows), len(monos)))
    for k, terms in enumerate(exact_rows):
        for a, c in terms:
            coeffs[k, a] = float(c)
    rank = _independence_rank_exact(exact_rows, monos, gens.dim, seed, QQ)
    return PolynomialLaws(degree, gens.names, tuple(monos), coeffs, True, True, rank, n_eq,
                          time.perf_counter() - t0, tuple(exact_rows), "")


def _independence_rank_exact(rows, monos, dim, seed, QQ, n_points=3):
    """Generic rank of the laws' gradients, exactly at random integer points (the maximum)."""
    from sympy.polys.matrices import DomainMatrix

    if not rows:
        return 0
    rng = np.random.default_rng(seed)
    best = 0
    for _ in range(n_points):
        z = [int(v) for v in rng.integers(-30, 31, size=dim)]
        J = []
        for terms in rows:
            g = [Fraction(0)] * dim
            for a, c in terms:
                alpha = monos[a]
                for i, e in enumerate(alpha):
                    if e:
                        val = c * e
                        for j, f in enumerate(alpha):
                            val *= z[j] ** (f - (1 if j == i else 0))
                        g[i] += val
            J.append([QQ(v.numerator, v.denominator) for v in g])
        best = max(best, DomainMatrix(J, (len(J), dim), QQ).rank())
    return best


# --- numeric path -------------------------------------------------------------------------------
def _grad_monomials(E, z):
    """``∂ zᵃ / ∂zᵢ`` for all monomials ``a`` at points ``z``: shape ``(n, n_mono, dim)``."""
    n, dim = z.shape
    out = np.empty((n, E.shape[0], dim))
    for i in range(dim):
        lower = E.copy()
        lower[:, i] = np.maximum(lower[:, i] - 1, 0)
        out[:, :, i] = E[:, i] * np.prod(z[:, None, :] ** lower[None], axis=-1)
    return out


def _equations(gens, E, pts, per_point, rng):
    """Rows ``⟨∇zᵃ, χ_ω⟩(θ)`` at the points (scaled later) and their rounding scale."""
    bk = gens.backend
    n = pts.shape[0]
    if gens.linear:
        oms = np.tile(np.eye(gens.omega_dim), (n, 1))
    else:
        oms = gens.sample_omegas(rng, n * per_point)
    thetas = np.repeat(pts, per_point, axis=0)
    with float64(bk):
        Y = to_numpy(bk, batched(bk, gens.field)(to_backend(bk, thetas), to_backend(bk, oms)))
    G = _grad_monomials(E, thetas)                          # (n_eq, n_mono, dim)
    # round-off of each entry is ~ eps × (sum of the absolute terms), times the error of the
    # fields themselves (autodiff in float64: a small multiple of eps); 100 eps covers both
    return np.einsum("kad,kd->ka", G, Y), np.einsum("kad,kd->ka", np.abs(G), np.abs(Y))


def _numeric(gens, degree, monos, n_points, seed, min_gap, t0, message, max_rounds=20):
    rng = np.random.default_rng(seed)
    E = np.asarray(monos, dtype=np.int64)
    n_mono = E.shape[0]
    per_point = gens.omega_dim if gens.linear else min(gens.dim + 3, 2 * n_mono)
    batch = int(n_points) if n_points is not None else max(2, int(np.ceil(n_mono / per_point)) + 1)
    pts_all, blocks, notes, rank_prev, decision = [], [], [], None, None
    # add batches of random points until the rank stops growing: while the sampled kernel is
    # larger than the true one, a new generic point adds an independent equation (probability 1)
    for _ in range(max_rounds):
        pts, msg = sample_points(gens, batch, rng)
        notes.extend(msg)
        pts_all.append(pts)
        blocks.append(_equations(gens, E, pts, per_point, rng))
        A = np.concatenate([b[0] for b in blocks])
        A_abs = np.concatenate([b[1] for b in blocks])
        scale = np.maximum(np.linalg.norm(A_abs, axis=0), np.finfo(float).tiny)
        noise = np.maximum(100 * EPS * np.linalg.norm(A_abs / scale, axis=1), np.finfo(float).tiny)
        decision = decide_rank(A / scale, noise, min_gap=min_gap)
        if decision.rank == rank_prev or decision.rank == n_mono:
            break
        rank_prev = decision.rank
    else:
        notes.append(f"the rank still grew after {max_rounds} batches of points; kernel uncertain")
    _, _, Vt = np.linalg.svd(A / scale, full_matrices=True)
    coeffs = _rref(Vt[decision.rank:] / scale)              # kernel in the original coefficients
    rank = 0
    if coeffs.shape[0]:
        pts = np.concatenate(pts_all)[:5]
        grads = np.einsum("la,kad->kld", coeffs, _grad_monomials(E, pts))
        rank = max(decide_rank(g).rank for g in grads)
    certain = decision.certain and decision.rank in (rank_prev, n_mono)
    notes = [message] + notes if message else notes
    return PolynomialLaws(degree, gens.names, tuple(monos), coeffs, False, certain, rank, A.shape[0],
                          time.perf_counter() - t0, None, "; ".join(notes))


def _rref(K, tol=1e-9):
    """Reduced row-echelon form of the rows of ``K`` (partial pivoting), tiny entries zeroed."""
    K = np.array(K, dtype=np.float64)
    r, pivots = 0, []
    for col in range(K.shape[1]):
        if r == K.shape[0]:
            break
        p = r + int(np.argmax(np.abs(K[r:, col])))
        if abs(K[p, col]) <= tol * max(1.0, np.abs(K).max()):
            continue
        K[[r, p]] = K[[p, r]]
        K[r] /= K[r, col]
        for q in range(K.shape[0]):
            if q != r:
                K[q] -= K[q, col] * K[r]
        pivots.append(col)
        r += 1
    K = K[:r]
    K[np.abs(K) < tol] = 0.0
    return K
