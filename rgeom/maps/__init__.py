"""Reparametrizations ``θ = g(ψ)`` (diffeomorphisms) with autodiff or closed-form tangents.

Every map has ``__call__``, ``inverse``, ``inv`` (the inverse as a map), ``jvp`` (``J u``),
``vjp`` (``Jᵀ w``), ``inverse_jvp`` (``J⁻¹ v``), ``inverse_vjp`` (``J⁻ᵀ w``), ``jacobian`` (dense,
small ``d``), ``log_abs_det_jacobian`` and composition ``f @ g`` (``f ∘ g``).
"""

from .activations import ActivationAffine, LayerAffine, centering, dinh, random_affine, whitening
from .affine import Affine
from .base import Compose, Inverse, Map, from_functions
from .coordinates import Polar, Spherical
from .coupling import AffineCoupling
from .elementwise import Elementwise, Exp, LayerRescaling, Scale, Sinh, Softplus

__all__ = [
    "Map", "Compose", "Inverse", "from_functions", "Affine", "Polar", "Spherical",
    "AffineCoupling", "Elementwise", "Exp", "Softplus", "Sinh", "Scale", "LayerRescaling",
    "ActivationAffine", "LayerAffine", "centering", "whitening", "dinh", "random_affine",
]
