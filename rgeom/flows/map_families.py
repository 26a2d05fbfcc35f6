"""Families of reparametrizations for the optimizer audit, each built reproducibly from a seed.

A family is a kind of map ``θ = g(ψ)`` under which an optimizer may or may not be *natural*
(its mapped ψ-trajectory equals its θ-trajectory). From the most to the least structured:

==========================  ==========================================================  ======
name                        map                                                         linear
==========================  ==========================================================  ======
``translation``             ``ψ + b``                                                   yes
``signed_permutation``      ``P diag(±1) ψ``                                            yes
``positive_diagonal``       ``diag(s) ψ``, ``s > 0``                                    yes
``orthogonal``              ``Q ψ``, ``QᵀQ = I``                                        yes
``general_linear``          ``A ψ + b``, ``A`` invertible (condition number ≤ ~8)       yes
``kronecker``               per layer ``W = A Wψ B`` on a :class:`MatrixLayout`         yes
``kronecker_orthogonal``    per layer ``W = Q₁ Wψ Q₂`` with orthogonal ``Q₁, Q₂``       yes
``activations``             per layer ``W̄ = Φ⁻¹(W̄ψ − d e_lastᵀ) Ω``: affine maps of      yes
                            inputs ``a ↦ U a + c`` and pre-activations ``s ↦ Φ s + d``
``elementwise``             ``θᵢ = a sinh((ψᵢ + cᵢ)/a)`` (:class:`~rgeom.maps.Sinh`)    no
``nonlinear``               affine couplings around an orthogonal mix                   no
==========================  ==========================================================  ======

Non-invertible maps (submersions ``π`` with ``L_big = L_small ∘ π``) are :class:`Submersion`
objects; :class:`DeepLinear` maps the factors of a deep linear network to its end-to-end matrix.
"""

import math

import numpy as np

from .._checks import check_dense_size
from ..backend import get_backend, namespace
from ..errors import NotPositiveDefiniteError, ShapeError, SingularJacobianError
from ..maps import Affine, AffineCoupling, Map, Scale, Sinh
from ..metrics.base import Metric
from ..models.layout import ParamLayout

__all__ = [
    "FAMILIES", "LINEAR_FAMILIES", "LAYOUT_FAMILIES", "make_map", "MatrixLayout", "KroneckerMap",
    "Submersion", "DeepLinear", "SubmersionPullback",
]

#: Every map family, in the order of the audit table's columns.
FAMILIES = (
    "translation", "signed_permutation", "positive_diagonal", "orthogonal", "general_linear",
    "kronecker", "kronecker_orthogonal", "activations", "elementwise", "nonlinear",
)
#: Families whose maps are affine (an invariant flow's Euler steps are then exactly invariant).
LINEAR_FAMILIES = FAMILIES[:8]
#: Families that act layer by layer on a :class:`MatrixLayout` (they need ``layout=``).
LAYOUT_FAMILIES = ("kronecker", "kronecker_orthogonal", "activations")


class MatrixLayout(ParamLayout):
    """A flat parameter vector read as a list of matrices (row-major), e.g. the weights of an MLP.

    A :class:`rgeom.models.ParamLayout` whose tensors ``W0, W1, …`` are all matrices, with
    list-valued :meth:`split` / :meth:`join` on any backend.

    Parameters
    ----------
    shapes : sequence of (int, int)
        ``(rows, cols)`` of each block, in the order of the flat vector.

    Examples
    --------
    >>> import numpy as np
    >>> lay = MatrixLayout([(2, 3), (1, 3)])
    >>> lay.size
    9
    >>> [W.shape for W in lay.split(np.arange(9.0))]
    [(2, 3), (1, 3)]
    >>> lay.join(lay.split(np.arange(9.0))).tolist() == list(range(9))
    True
    """

    def __init__(self, shapes):
        shapes = [tuple(int(n) for n in s) for s in shapes]
        if not shapes or any(len(s) != 2 or min(s) < 1 for s in shapes):
            raise ShapeError("MatrixLayout: shapes must be a non-empty list of positive (rows, cols), "
                             f"got {shapes}.")
        super().__init__([f"W{i}" for i in range(len(shapes))], shapes)

    @property
    def size(self):
        """Total number of parameters (``dim``)."""
        return self.dim

    def split(self, theta):
        """The blocks of ``theta`` (shape ``(size,)``) as matrices of shapes :attr:`shapes`."""
        return list(self.unflatten(theta).values())

    def join(self, blocks):
        """Concatenate matrices (shapes :attr:`shapes`) into one flat vector of shape ``(size,)``."""
        xp = namespace(*blocks)
        return xp.concatenate([xp.reshape(B, (-1,)) for B in blocks])

    def __eq__(self, other):
        return isinstance(other, MatrixLayout) and other.shapes == self.shapes

    def __hash__(self):
        return hash(self.shapes)

    def __repr__(self):
        return f"MatrixLayout({list(self.shapes)})"


class KroneckerMap(Map):
    """Per-layer ``W_l = A_l Ψ_l B_l + C_l`` on a :class:`MatrixLayout` (``θ = g(ψ)``).

    In vectorized form each block is ``(A_l ⊗ B_lᵀ)`` acting on the row-major ``vec Ψ_l``: a linear
    map with Kronecker structure, which is what an affine change of a layer's input
    (``ā ↦ B ā``) and output (``s ↦ A s``) does to its weights. All tangent maps are closed form.

    Parameters
    ----------
    layout : MatrixLayout
    lefts, rights : sequence of arrays
        Invertible ``A_l`` (``rows × rows``) and ``B_l`` (``cols × cols``) per block.
    shifts : sequence of arrays, optional
        ``C_l`` (block shape); zero by default.

    Examples
    --------
    >>> import numpy as np
    >>> lay = MatrixLayout([(2, 2)])
    >>> g = KroneckerMap(lay, [np.diag([2.0, 1.0])], [np.eye(2)])
    >>> g(np.ones(4)).tolist()
    [2.0, 2.0, 1.0, 1.0]
    >>> round(float(g.log_abs_det_jacobian(np.ones(4))), 12)       # 2 log 2: det(A)^cols
    1.38629436112
    """

    def __init__(self, layout, lefts, rights, shifts=None):
        if not isinstance(layout, MatrixLayout):
            raise TypeError(f"KroneckerMap: layout must be a MatrixLayout, got {type(layout).__name__}.")
        n = len(layout.shapes)
        shifts = [np.zeros(s) for s in layout.shapes] if shifts is None else shifts
        if not len(lefts) == len(rights) == len(shifts) == n:
            raise ShapeError(f"KroneckerMap: need {n} lefts, rights and shifts "
                             f"(one per block of {layout!r}).")
        self.layout, self.dim = layout, layout.size
        self.lefts, self.rights, self.shifts = [], [], []
        logdet = 0.0
        for i, ((r, c), A, B, C) in enumerate(zip(layout.shapes, lefts, rights, shifts)):
            A, B, C = (np.asarray(M, dtype=np.float64) for M in (A, B, C))
            if A.shape != (r, r) or B.shape != (c, c) or C.shape != (r, c):
                raise ShapeError(
                    f"KroneckerMap: block {i} has shape {(r, c)}; need A {(r, r)}, B {(c, c)}, C {(r, c)}, "
                    f"got {A.shape}, {B.shape}, {C.shape}."
                )
            for name, M in (("A", A), ("B", B)):
                if not np.linalg.cond(M) < 1e12:
                    raise SingularJacobianError(
                        f"KroneckerMap: {name} of block {i} is singular or ill-conditioned.")
            self.lefts.append(A)
            self.rights.append(B)
            self.shifts.append(C)
            logdet += c * np.linalg.slogdet(A)[1] + r * np.linalg.slogdet(B)[1]
        self._inv = [(np.linalg.inv(A), np.linalg.inv(B)) for A, B in zip(self.lefts, self.rights)]
        self._logdet = float(logdet)

    def _apply(self, x, left, right, shift=None):
        bk = get_backend(None, x)
        blocks = []
        for X, A, B, C in zip(self.layout.split(x), left, right, shift or [None] * len(left)):
            Y = bk.asarray(A) @ X @ bk.asarray(B)
            blocks.append(Y if C is None else Y + bk.asarray(C))
        return self.layout.join(blocks)

    def forward(self, psi):
        return self._apply(psi, self.lefts, self.rights, self.shifts)

    def inverse(self, theta):
        bk = get_backend(None, theta)
        unshifted = theta - self.layout.join([bk.asarray(C) for C in self.shifts])
        return self._apply(unshifted, [a for a, _ in self._inv], [b for _, b in self._inv])

    def jvp(self, psi, u):
        return self._apply(u, self.lefts, self.rights)

    def vjp(self, psi, w):
        return self._apply(w, [A.T for A in self.lefts], [B.T for B in self.rights])

    def inverse_jvp(self, theta, v):
        return self._apply(v, [a for a, _ in self._inv], [b for _, b in self._inv])

    def inverse_vjp(self, theta, w):
        return self._apply(w, [a.T for a, _ in self._inv], [b.T for _, b in self._inv])

    def log_abs_det_jacobian(self, psi):
        return self._logdet

    def __repr__(self):
        return f"KroneckerMap({self.layout!r})"


# --- the families -----------------------------------------------------------------------------------
def _orthogonal(rng, n):
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def _conditioned(rng, n, spread=0.7):
    """``U diag(e^u) Vᵀ`` with ``u ∈ [-spread, spread]``: condition number at most ``e^{2 spread}``."""
    return (_orthogonal(rng, n) * np.exp(rng.uniform(-spread, spread, n))) @ _orthogonal(rng, n).T


def _homogeneous(rng, n):
    """``[[U, c], [0, 1]]``: an affine map of a layer's input written in homogeneous coordinates."""
    B = np.eye(n)
    if n > 1:
        B[:-1, :-1] = _conditioned(rng, n - 1)
        B[:-1, -1] = 0.5 * rng.standard_normal(n - 1)
    return B


def _coupling(rng, d, weight):
    mask = np.zeros(d, dtype=bool)
    mask[rng.permutation(d)[: d // 2]] = True
    da, db = int(mask.sum()), d - int(mask.sum())
    S = weight * rng.standard_normal((db, da)) / math.sqrt(da)
    T = weight * rng.standard_normal((db, da)) / math.sqrt(da)
    return AffineCoupling(mask, S, T)


def _translation(rng, d, layout):
    return Affine(np.eye(d), 0.5 * rng.standard_normal(d))


def _signed_permutation(rng, d, layout):
    return Affine(np.eye(d)[rng.permutation(d)] * rng.choice([-1.0, 1.0], d))


def _positive_diagonal(rng, d, layout):
    return Scale(np.exp(rng.uniform(-0.7, 0.7, d)))


def _orthogonal_map(rng, d, layout):
    return Affine(_orthogonal(rng, d))


def _general_linear(rng, d, layout):
    return Affine(_conditioned(rng, d), 0.3 * rng.standard_normal(d))


def _kronecker(rng, d, layout):
    lefts = [_conditioned(rng, r) for r, _ in layout.shapes]
    rights = [_homogeneous(rng, c) for _, c in layout.shapes]
    return KroneckerMap(layout, lefts, rights)


def _kronecker_orthogonal(rng, d, layout):
    return KroneckerMap(layout, [_orthogonal(rng, r) for r, _ in layout.shapes],
                        [_orthogonal(rng, c) for _, c in layout.shapes])


def _activations(rng, d, layout):
    """K-FAC's family: each block is a homogeneous layer ``s = W̄ ā`` (last input coordinate 1)
    whose input and pre-activation get new affine coordinates ``ā' = Ω ā``, ``s' = Φ s + d``;
    then ``W̄' = Φ W̄ Ω⁻¹ + d e_lastᵀ`` (:class:`rgeom.maps.ActivationAffine` for any model)."""
    lefts, rights, shifts = [], [], []
    for r, c in layout.shapes:
        Phi_inv, Om = np.linalg.inv(_conditioned(rng, r)), _homogeneous(rng, c)
        e_last = np.zeros((1, c))
        e_last[0, -1] = 1.0
        lefts.append(Phi_inv)
        rights.append(Om)
        d = 0.5 * rng.standard_normal((r, 1))
        shifts.append(-Phi_inv @ (d @ e_last) @ Om)                     # −Φ⁻¹ d e_lastᵀ Ω
    return KroneckerMap(layout, lefts, rights, shifts)


def _elementwise(rng, d, layout):
    return Sinh(rng.uniform(1.5, 2.5)) @ Affine(np.eye(d), 0.5 * rng.standard_normal(d))


def _nonlinear(rng, d, layout):
    if d < 2:
        raise ShapeError("make_map('nonlinear'): a coupling map needs dim >= 2.")
    return _coupling(rng, d, 0.6) @ Affine(_orthogonal(rng, d)) @ _coupling(rng, d, 0.6)


_BUILDERS = {
    "translation": _translation, "signed_permutation": _signed_permutation,
    "positive_diagonal": _positive_diagonal, "orthogonal": _orthogonal_map,
    "general_linear": _general_linear, "kronecker": _kronecker,
    "kronecker_orthogonal": _kronecker_orthogonal, "activations": _activations, "elementwise": _elementwise,
    "nonlinear": _nonlinear,
}


def make_map(family, dim, *, seed=0, layout=None):
    """A map ``θ = g(ψ)`` of the named family on ``R^dim``, reproducible from ``seed``.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`.
    dim : int
        Dimension of the parameter vector.
    seed : int
        Seed of the NumPy generator that draws the map's parameters.
    layout : MatrixLayout, optional
        Required by the layer-wise families (:data:`LAYOUT_FAMILIES`); ``layout.size == dim``.

    Returns
    -------
    rgeom.maps.Map
        With an exact inverse; linear families are :class:`~rgeom.maps.Affine`,
        :class:`~rgeom.maps.Scale` or :class:`KroneckerMap`.

    Raises
    ------
    ValueError
        For an unknown family (the message lists the known ones).
    ShapeError
        If ``layout`` is missing for a layer-wise family or does not have ``dim`` entries.

    Examples
    --------
    >>> import numpy as np
    >>> g = make_map("orthogonal", 3, seed=1)
    >>> np.allclose(g.A.T @ g.A, np.eye(3))
    True
    >>> psi = np.array([0.1, -0.4, 0.3])
    >>> np.allclose(make_map("nonlinear", 3).inverse(make_map("nonlinear", 3)(psi)), psi)
    True
    """
    if family not in _BUILDERS:
        raise ValueError(f"make_map: unknown family {family!r}; known families: {', '.join(FAMILIES)}.")
    if int(dim) != dim or dim < 1:
        raise ShapeError(f"make_map: dim must be a positive integer, got {dim!r}.")
    if family in LAYOUT_FAMILIES:
        if layout is None:
            raise ShapeError(f"make_map({family!r}) acts layer by layer: pass layout=MatrixLayout(...).")
        if layout.size != dim:
            raise ShapeError(f"make_map({family!r}): {layout!r} has {layout.size} entries, but dim={dim}.")
    return _BUILDERS[family](np.random.default_rng(seed), int(dim), layout)


# --- submersions ---------------------------------------------------------------------------------
class Submersion:
    """A smooth map ``π: R^{dim_in} → R^{dim_out}`` with surjective differential (not invertible).

    A small model is a *quotient* of a big one when ``L_big = L_small ∘ π``; a natural optimizer
    maps the big model's trajectory onto the small model's. Subclasses implement :meth:`forward`;
    tangent maps come from autodiff on the input's backend.

    Attributes
    ----------
    dim_in, dim_out : int
    """

    dim_in = dim_out = None

    def forward(self, psi):
        """``π(ψ)``, shape ``(dim_in,) -> (dim_out,)``."""
        raise NotImplementedError

    def __call__(self, psi):
        if tuple(psi.shape) != (self.dim_in,):
            raise ShapeError(f"{self!r} expects a point of shape ({self.dim_in},), got {tuple(psi.shape)}.")
        return self.forward(psi)

    def jvp(self, psi, u):
        """``Dπ(ψ) u``, shape ``(dim_out,)``."""
        return get_backend(None, psi, u).jvp(self.forward, psi, u)[1]

    def vjp(self, psi, w):
        """``Dπ(ψ)ᵀ w``, shape ``(dim_in,)``."""
        return get_backend(None, psi, w).vjp(self.forward, psi, w)[1]

    def jacobian(self, psi, *, max_dense_dim=None):
        """Dense ``Dπ(ψ)``, shape ``(dim_out, dim_in)``."""
        check_dense_size(self.dim_in, max_dense_dim, f"{self!r}.jacobian")
        return get_backend(None, psi).jacobian(self.forward, psi)


class DeepLinear(Submersion):
    """The factors of a deep linear network to its end-to-end matrix: ``(W₁, …, W_N) ↦ W_N ⋯ W₁``.

    Parameters
    ----------
    n_out, n_in : int
        Shape of the end-to-end matrix ``W`` (``n_out × n_in``), flattened row-major.
    hidden : sequence of int
        Widths of the hidden layers; depth ``N = len(hidden) + 1`` (``()`` is the identity map).

    Attributes
    ----------
    layout : MatrixLayout
        Shapes of the factors, ``W₁`` first.

    Examples
    --------
    >>> import numpy as np
    >>> pi = DeepLinear(2, 2, hidden=(3,))
    >>> pi.dim_in, pi.dim_out
    (12, 4)
    >>> psi = np.concatenate([np.ones(6), np.ones(6)])         # W₁ = 1 (3×2), W₂ = 1 (2×3)
    >>> pi(psi).tolist()
    [3.0, 3.0, 3.0, 3.0]
    """

    def __init__(self, n_out, n_in, hidden=()):
        widths = [int(n_in), *[int(h) for h in hidden], int(n_out)]
        if any(w < 1 for w in widths):
            raise ShapeError(f"DeepLinear: every width must be positive, got {widths}.")
        self.layout = MatrixLayout([(widths[i + 1], widths[i]) for i in range(len(widths) - 1)])
        self.depth = len(widths) - 1
        self.dim_in, self.dim_out = self.layout.size, int(n_out) * int(n_in)

    def forward(self, psi):
        xp = namespace(psi)
        blocks = self.layout.split(psi)
        W = blocks[0]
        for B in blocks[1:]:
            W = B @ W
        return xp.reshape(W, (-1,))

    def _sides(self, psi):
        """Per factor ``i``: ``(A_i, B_i) = (W_N ⋯ W_{i+1}, W_{i-1} ⋯ W_1)``, so ``W = A_i W_i B_i``."""
        xp = namespace(psi)
        blocks = self.layout.split(psi)
        n_in, n_out = self.layout.shapes[0][1], self.layout.shapes[-1][0]
        rights = [xp.eye(n_in, dtype=psi.dtype)]
        for W in blocks[:-1]:
            rights.append(W @ rights[-1])
        lefts = [xp.eye(n_out, dtype=psi.dtype)]
        for W in blocks[:0:-1]:
            lefts.append(lefts[-1] @ W)
        return list(zip(lefts[::-1], rights))

    def jvp(self, psi, u):
        xp = namespace(psi, u)
        dW = sum(A @ U @ B for (A, B), U in zip(self._sides(psi), self.layout.split(u)))
        return xp.reshape(dW, (-1,))

    def vjp(self, psi, w):
        xp = namespace(psi, w)
        C = xp.reshape(w, (self.layout.shapes[-1][0], self.layout.shapes[0][1]))
        return self.layout.join([A.T @ C @ B.T for A, B in self._sides(psi)])

    def jacobian(self, psi, *, max_dense_dim=None):
        """Closed form: the block of ``W_i`` is ``A_i ⊗ B_iᵀ`` (row-major vec); ``(dim_out, dim_in)``."""
        check_dense_size(self.dim_in, max_dense_dim, f"{self!r}.jacobian")
        xp = namespace(psi)
        cols = [xp.reshape(xp.einsum("ar,cb->abrc", A, B), (self.dim_out, A.shape[1] * B.shape[0]))
                for A, B in self._sides(psi)]
        return xp.concatenate(cols, axis=1)

    def __repr__(self):
        return f"DeepLinear(depth={self.depth}, {self.layout!r})"


class SubmersionPullback(Metric):
    """``π*G``: the positive *semi*-definite ``Dπᵀ G(π(ψ)) Dπ`` on the big parameter space.

    Singular when ``dim_in > dim_out``, so there is no :meth:`at`; natural gradient uses it
    through ``pinv=True`` (pseudo-inverse of :meth:`matrix`).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> pi = DeepLinear(1, 1, hidden=(1,))
    >>> G = SubmersionPullback(rgeom.metrics.Euclidean(1), pi)
    >>> G.matrix(np.array([2.0, 3.0])).tolist()                 # (w₁w₂)' = (w₂, w₁)
    [[9.0, 6.0], [6.0, 4.0]]
    """

    def __init__(self, metric, pi):
        if not isinstance(metric, Metric) or not isinstance(pi, Submersion):
            raise TypeError("SubmersionPullback: expected an rgeom Metric and a Submersion.")
        self.base, self.map, self.dim = metric, pi, pi.dim_in

    def matvec(self, psi, u):
        pi = self.map
        return pi.vjp(psi, self.base.matvec(pi(psi), pi.jvp(psi, u)))

    def matrix(self, psi):
        J = self.map.jacobian(psi)
        return J.T @ self.base.matrix(self.map(psi)) @ J

    def pinv_solve(self, psi, w, rcond=1e-10):
        """``(Dπᵀ G Dπ)⁺ w`` without forming or decomposing the ``dim_in × dim_in`` matrix.

        With ``B = G^{1/2} Dπ`` (``dim_out × dim_in``) and its thin SVD ``B = U S Vᵀ``, the
        matrix is ``BᵀB`` and its pseudo-inverse ``V S⁻² Vᵀ``, keeping the eigenvalues
        ``s² > rcond · s²_max`` (the rule of a dense ``pinv(..., rtol=rcond)``); any rank, any
        positive semi-definite ``G``.
        """
        xp = namespace(psi, w)
        lam, Q = xp.linalg.eigh(self.base.matrix(self.map(psi)))
        root = (Q * xp.sqrt(xp.maximum(lam, xp.zeros_like(lam)))) @ Q.T
        _, s, Vt = xp.linalg.svd(root @ self.map.jacobian(psi), full_matrices=False)
        s2 = s * s                                  # descending: s2[0] is the largest
        kept = s2 > rcond * s2[0]
        inverse = xp.where(kept, 1.0 / xp.where(kept, s2, xp.ones_like(s2)), xp.zeros_like(s2))
        return Vt.T @ (inverse * (Vt @ w))

    def at(self, psi):
        raise NotPositiveDefiniteError(
            f"{self!r} is only positive semi-definite (rank <= {self.map.dim_out} < {self.dim}); "
            "use a pseudo-inverse (NaturalGradient(..., pinv=True))."
        )

    def __repr__(self):
        return f"SubmersionPullback({self.base!r}, {self.map!r})"
