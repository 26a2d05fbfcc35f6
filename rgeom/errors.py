"""Exceptions raised by rgeom.

Every error names the offending argument and what was expected. All of them derive from
:class:`RgeomError`; most also derive from the builtin that a user would catch anyway
(``ValueError``, ``TypeError``, ``RuntimeError``).
"""

__all__ = [
    "RgeomError",
    "ShapeError",
    "NonFiniteError",
    "NotPositiveDefiniteError",
    "SingularJacobianError",
    "DenseSizeError",
    "BackendError",
    "ConvergenceError",
    "TensorTypeError",
    "NumericalError",
]


class RgeomError(Exception):
    """Base class of every rgeom error."""


class ShapeError(RgeomError, ValueError):
    """An array does not have the shape an argument requires."""


class NonFiniteError(RgeomError, ValueError):
    """An input or intermediate value is NaN or infinite."""


class NotPositiveDefiniteError(RgeomError, ValueError):
    """A metric is not symmetric positive definite where it must be."""


class SingularJacobianError(RgeomError, ValueError):
    """A map is not invertible at a point (its Jacobian is singular or ill-conditioned)."""


class DenseSizeError(RgeomError, ValueError):
    """A dense matrix was requested above the size limit; use the matrix-free path."""


class BackendError(RgeomError, TypeError):
    """No backend could be chosen, or arrays of different backends were mixed."""


class ConvergenceError(RgeomError, RuntimeError):
    """An iterative solver or integrator did not reach its tolerance."""


class TensorTypeError(RgeomError, TypeError):
    """Objects of different tensor type (vector / covector / ...) were combined."""


class NumericalError(RgeomError, ArithmeticError):
    """A computed quantity violates a property it must have (e.g. a Hessian that is not symmetric)."""
