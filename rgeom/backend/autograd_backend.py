"""The default backend: HIPS autograd over NumPy (CPU, float64)."""

import functools
import warnings

import numpy as onp

from ._base import Backend


def _quiet(method):
    """Silence autograd's "Output seems independent of input" (a constant derivative is valid)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Output seems independent of input", UserWarning)
            return method(*args, **kwargs)

    return wrapper


class AutogradBackend(Backend):
    """Reverse-mode autograd. JVPs use the reverse-of-reverse trick because autograd's
    forward mode does not cover ``numpy.linalg`` (``slogdet``, ``solve``, ...)."""

    name = "autograd"

    def __init__(self):
        import autograd
        import autograd.numpy as anp
        from autograd.tracer import Box

        self._autograd = autograd
        self._box = Box
        self.xp = anp

    def owns(self, x):
        return isinstance(x, self._box)

    def asarray(self, x, dtype=None):
        if isinstance(x, self._box):
            return x
        a = onp.asarray(x)
        if dtype is not None:
            return a.astype(dtype)
        return a if a.dtype.kind in "fc" else a.astype(onp.float64)

    def to_numpy(self, x):
        from autograd.tracer import getval

        return onp.array(getval(x))

    @_quiet
    def value_and_grad(self, f, x):
        return self._autograd.value_and_grad(f)(x)

    @_quiet
    def jvp(self, f, x, v):
        # w -> Df(x)ᵀ w is linear; the VJP of that map applied to v is Df(x) v.
        pullback, value = self._autograd.make_vjp(f)(x)
        transpose, _ = self._autograd.make_vjp(pullback)(self.xp.zeros_like(value))
        return value, transpose(v)

    @_quiet
    def vjp(self, f, x, w):
        pullback, value = self._autograd.make_vjp(f)(x)
        return value, pullback(w)

    @_quiet
    def hvp(self, f, x, v):
        return self._autograd.hessian_vector_product(f)(x, v)

    @_quiet
    def jacobian(self, f, x):
        return self._autograd.jacobian(f)(x)

    @_quiet
    def hessian(self, f, x):
        return self._autograd.hessian(f)(x)
