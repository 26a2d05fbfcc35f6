"""Conservation laws of gradient flows: discovery, counting and verification.

A function ``h(θ)`` is conserved by every gradient flow of a model ``f(φ(θ), x)`` — whatever the
data and the loss — iff ``∇h`` is orthogonal to the fields ``χᵢ = M ∇φᵢ`` and hence to the Lie
algebra they generate; near a generic point there are exactly ``D − dim Lie(W)`` independent
ones (Marcotte, Gribonval & Peyré, NeurIPS 2023, arXiv 2307.00144; momentum flows: ICML 2024,
arXiv 2405.12888).

* :mod:`~rgeom.conservation.generators` — the fields (factorizations, data-free liftings,
  natural-gradient / mirror metrics, the momentum lifting to phase space);
* :mod:`~rgeom.conservation.architectures` — builders for linear, ReLU, convolutional and
  attention models, with closed-form counts and laws;
* :mod:`~rgeom.conservation.lie` — ``dim Lie(W)`` with nested JVPs and measured rank gaps;
* :mod:`~rgeom.conservation.polynomial` — all polynomial laws up to a degree (exact rational
  kernels for polynomial ``φ``), printed with sympy;
* :mod:`~rgeom.conservation.verify` — drift of laws along integrated flows, with negative
  controls.

Nothing here imports sympy, torch or JAX until it is used.

Examples
--------
>>> from rgeom.conservation import architectures, lie_algebra
>>> arch = architectures.linear_network([2, 2, 2])
>>> res = lie_algebra(arch.generators())
>>> res.D, res.dim_W, res.dim_lie, res.n_laws, arch.expected_laws
(8, 4, 5, 3, 3)
"""

from . import architectures
from .generators import Generators, from_lifting, from_model, from_phi
from .lie import LieAlgebra, UncertainRankWarning, lie_algebra, lie_bracket
from .polynomial import PolynomialLaws, polynomial_laws
from .verify import Verification, verify_laws

__all__ = [
    "Generators", "from_phi", "from_lifting", "from_model", "architectures", "lie_algebra",
    "lie_bracket", "LieAlgebra", "UncertainRankWarning", "polynomial_laws", "PolynomialLaws",
    "verify_laws", "Verification",
]
