"""K-FAC on a small MLP, with its Kronecker factors (scoped to the optimizer audit).

Each layer computes ``s = W ā`` from its input in homogeneous coordinates ``ā = (a; 1)``.
K-FAC (Martens & Grosse 2015) approximates the Fisher block of ``W`` by ``A ⊗ S`` with

    A = E[ā āᵀ]   (layer inputs),   S = E[Σₖ ∂f_k/∂s (∂f_k/∂s)ᵀ]   (output gradients),

here the Fisher of the squared loss ``½‖f − y‖²`` (Gaussian likelihood), whose expectation over
the model's outputs is exact and deterministic. The update is ``ΔW = −S⁻¹ ∇_W L A⁻¹``.

Luk & Grosse (2018): this is exactly natural gradient for a genuine metric
``tr(Vᵀ S V A)``, and it is *invariant* under per-layer affine changes of a layer's input and
output, ``W = Φ Wψ Ω + C`` (:class:`~rgeom.flows.map_families.KroneckerMap`): in the chart ψ the
layer's own input is ``Ω ā`` and its output gradient ``Φᵀ ∂L/∂s``, so ``A ↦ Ω A Ωᵀ``,
``S ↦ Φᵀ S Φ`` and the update maps back exactly, for finite steps too. Damping breaks this.
Maps that mix layers have no K-FAC in their chart (:class:`UnsupportedMapError`).

The full K-FAC metric (any network, sampled Fisher, convolutions) is a separate module; this one
is the reference on the audit's small tanh MLP.
"""

import dataclasses
from typing import ClassVar

import numpy as np

from ...backend import get_backend
from ...errors import ShapeError
from ...maps.affine import Affine
from ..map_families import KroneckerMap, MatrixLayout
from ._metric import check_damping
from .base import Component, Optimizer, UnsupportedMapError

__all__ = ["MLP", "KFAC"]


class MLP:
    """A fully connected tanh network with squared loss, ``f = W_L tanh(… tanh(W₁ x̄))``.

    Parameters are the flat concatenation of the weight matrices ``W_l`` (``out × (in + 1)``,
    row-major, last column = bias), described by :attr:`layout`. A network can carry fixed
    per-layer transforms (:meth:`reparametrized`): layer ``l`` then computes
    ``s = A_l Wψ_l (B_l ā) + C_l ā``, the same function of ``θ = g(ψ)``.

    Parameters
    ----------
    widths : sequence of int
        ``(n_in, hidden…, n_out)``.
    X : array, shape (n, n_in)
    Y : array, shape (n, n_out)

    Attributes
    ----------
    layout : MatrixLayout

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers.kfac import MLP
    >>> net = MLP((1, 2, 1), np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))
    >>> net.layout
    MatrixLayout([(2, 2), (1, 3)])
    >>> float(net.loss(np.zeros(net.layout.size)))               # ½ mean (0 − y)²
    0.25
    """

    def __init__(self, widths, X, Y, *, transforms=None):
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise ShapeError(f"MLP: widths must list at least two positive sizes, got {widths}.")
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != widths[0] or Y.shape != (X.shape[0], widths[-1]):
            raise ShapeError(f"MLP: need X (n, {widths[0]}) and Y (n, {widths[-1]}), "
                             f"got {X.shape}, {Y.shape}.")
        self.widths, self.X, self.Y = widths, X, Y
        self.layout = MatrixLayout([(widths[i + 1], widths[i] + 1) for i in range(len(widths) - 1)])
        self.transforms = transforms

    def reparametrized(self, g):
        """The same network in the chart ψ of a layer-wise map ``θ = g(ψ)`` (a KroneckerMap)."""
        if not isinstance(g, KroneckerMap) or g.layout != self.layout:
            raise UnsupportedMapError(
                f"MLP.reparametrized: need a KroneckerMap on {self.layout!r}, got {g!r}.")
        old = self.transforms or [(np.eye(r), np.eye(c), np.zeros((r, c))) for r, c in self.layout.shapes]
        # W_old = A0 W B0 + C0 with W = A Wψ B + C  =>  W_old = (A0 A) Wψ (B B0) + A0 C B0 + C0
        new = [(A0 @ A, B @ B0, A0 @ C @ B0 + C0)
               for (A0, B0, C0), A, B, C in zip(old, g.lefts, g.rights, g.shifts)]
        return MLP(self.widths, self.X, self.Y, transforms=new)

    def _forward(self, theta, perturbation=None):
        """Outputs ``(n, n_out)`` and the layers' own inputs ``[(n, in+1)]``."""
        bk = get_backend(None, theta)
        xp = bk.xp
        a = bk.asarray(self.X)
        ones = xp.ones((self.X.shape[0], 1), dtype=theta.dtype)
        inputs, offset = [], 0
        blocks = self.layout.split(theta)
        for i, W in enumerate(blocks):
            abar = xp.concatenate([a, ones], axis=1)
            x = abar if self.transforms is None else abar @ bk.asarray(self.transforms[i][1]).T
            s = x @ W.T
            if perturbation is not None:
                n_el = s.shape[0] * s.shape[1]
                s = s + xp.reshape(perturbation[offset:offset + n_el], s.shape)
                offset += n_el
            if self.transforms is not None:
                A, _, C = self.transforms[i]
                s = s @ bk.asarray(A).T + abar @ bk.asarray(C).T
            inputs.append(x)
            a = s if i == len(blocks) - 1 else xp.tanh(s)
        return a, inputs

    def outputs(self, theta):
        """Network outputs at the inputs ``X``, shape ``(n, n_out)``."""
        return self._forward(theta)[0]

    def loss(self, theta):
        """Squared loss ``½ mean_n ‖f(x_n) − y_n‖²``."""
        bk = get_backend(None, theta)
        r = self.outputs(theta) - bk.asarray(self.Y)
        return 0.5 * bk.xp.sum(r * r) / self.X.shape[0]

    def kfac_factors(self, theta):
        """Per layer ``(A, S)``: ``A = mean ā āᵀ`` and ``S = mean Σₖ gₖ gₖᵀ``, ``gₖ = ∂f_k/∂s``."""
        bk = get_backend(None, theta)
        xp = bk.xp
        n = self.X.shape[0]
        _, inputs = self._forward(theta)
        n_pert = n * sum(r for r, _ in self.layout.shapes)
        zero = xp.zeros(n_pert, dtype=theta.dtype)
        S = [0.0] * len(inputs)
        for k in range(self.widths[-1]):
            grads = bk.grad(lambda e: xp.sum(self._forward(theta, e)[0][:, k]), zero)
            offset = 0
            for i, (r, _) in enumerate(self.layout.shapes):
                Gk = xp.reshape(grads[offset:offset + n * r], (n, r))
                offset += n * r
                S[i] = S[i] + Gk.T @ Gk / n
        return [(x.T @ x / n, s) for x, s in zip(inputs, S)]

    def __repr__(self):
        return f"MLP(widths={self.widths})"


def _as_layerwise(g, layout):
    """``g`` as a KroneckerMap on ``layout``; translations are accepted too."""
    if isinstance(g, KroneckerMap) and g.layout == layout:
        return g
    if isinstance(g, Affine) and g.dim == layout.size and np.array_equal(g.A, np.eye(g.dim)):
        eyes = [(np.eye(r), np.eye(c)) for r, c in layout.shapes]
        return KroneckerMap(layout, [a for a, _ in eyes], [b for _, b in eyes], layout.split(g.b))
    raise UnsupportedMapError(
        f"K-FAC is defined in charts that keep the layer structure (per-layer W = A Wψ B + C on "
        f"{layout!r}); {g!r} mixes parameters across that structure."
    )


@dataclasses.dataclass(frozen=True, repr=False)
class KFAC(Optimizer):
    """K-FAC flow ``Ẇ_l = −(S_l + λI)⁻¹ ∇_{W_l} L (A_l + λI)⁻¹`` on an :class:`MLP`.

    The factors come from ``model``; the gradient from the ``loss`` handed to :meth:`field`
    (normally ``model.loss``).

    Parameters
    ----------
    model : MLP
    damping : float
        ``λ >= 0`` added to both factors (breaks the exact invariance).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows.optimizers import KFAC
    >>> from rgeom.flows.optimizers.kfac import MLP
    >>> rng = np.random.default_rng(0)
    >>> net = MLP((2, 1), rng.normal(size=(8, 2)), rng.normal(size=(8, 1)))   # linear regression
    >>> theta = np.zeros(3)
    >>> step = KFAC(net).field(net.loss)(0.0, (theta,))[0]
    >>> A = np.c_[net.X, np.ones(8)]                  # one linear layer: K-FAC = Gauss-Newton
    >>> np.allclose(step, np.linalg.lstsq(A, net.Y[:, 0], rcond=None)[0])
    True
    """

    model: MLP = None
    damping: float = 0.0
    name: ClassVar[str] = "kfac"
    components: ClassVar[tuple] = (Component("theta", "point"),)

    def __post_init__(self):
        if not isinstance(self.model, MLP):
            raise TypeError(f"KFAC: model must be an rgeom.flows.optimizers.kfac.MLP, got {self.model!r}.")
        check_damping(self.damping, "KFAC")

    def field(self, loss, *, lr=None, backend=None):
        layout, lam = self.model.layout, self.damping

        def f(t, state):
            theta = state[0]
            bk = get_backend(backend, theta)
            xp = bk.xp
            grads = layout.split(bk.grad(loss, theta))
            steps = []
            for G, (A, S) in zip(grads, self.model.kfac_factors(theta)):
                if lam:
                    A = A + lam * xp.eye(A.shape[0], dtype=A.dtype)
                    S = S + lam * xp.eye(S.shape[0], dtype=S.dtype)
                steps.append(-xp.linalg.solve(S, xp.linalg.solve(A, G.T).T))   # S⁻¹ G A⁻¹
            return (layout.join(steps),)

        return f

    def pullback(self, g, *, dim=None):
        return dataclasses.replace(self, model=self.model.reparametrized(_as_layerwise(g, self.model.layout)))
