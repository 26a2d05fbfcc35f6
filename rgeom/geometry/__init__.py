"""Typed objects, transformation rules, the Riemannian Hessian and geodesics."""

from .density import Density
from .hessian import flat, gradient, natural_gradient, riemannian_hessian, shape_operator, sharp
from .rules import PulledBackFunction, pullback, pushforward
from .tensors import BilinearForm, Covector, Operator, Vector

__all__ = [
    "Density", "gradient", "natural_gradient", "riemannian_hessian", "shape_operator", "sharp",
    "flat", "pullback", "pushforward", "PulledBackFunction", "BilinearForm", "Covector",
    "Operator", "Vector",
]
