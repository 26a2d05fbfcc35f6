"""Automatic-differentiation backends: autograd (default), JAX and PyTorch.

A backend is chosen explicitly (``backend="jax"`` or a :class:`Backend` instance) or inferred
from the arrays passed in. There is no global switch and no environment variable: importing
rgeom imports neither JAX nor torch; each is imported the first time it is asked for.

Examples
--------
>>> import numpy as np
>>> from rgeom.backend import get_backend
>>> bk = get_backend(None, np.array([1.0, 2.0]))
>>> bk.name
'autograd'
>>> float(bk.grad(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))[1])
4.0
"""

import functools
import importlib.util
import sys

from ..errors import BackendError
from ._base import Backend, HessianKernels, PointHessian

__all__ = ["Backend", "HessianKernels", "PointHessian", "get_backend", "available_backends", "infer_backend", "BACKENDS"]

BACKENDS = ("autograd", "jax", "torch")
_MODULES = {"autograd": "autograd", "jax": "jax", "torch": "torch"}


@functools.lru_cache(maxsize=None)
def _load(name):
    if name == "autograd":
        from .autograd_backend import AutogradBackend

        return AutogradBackend()
    if name == "jax":
        from .jax_backend import JaxBackend

        return JaxBackend()
    if name == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend()
    raise BackendError(f"backend must be one of {BACKENDS} or a Backend instance, got {name!r}.")


def available_backends():
    """Names of the backends whose packages are installed (nothing is imported).

    Returns
    -------
    tuple of str
    """
    return tuple(n for n in BACKENDS if importlib.util.find_spec(_MODULES[n]) is not None)


def _vote(x):
    """Which backend owns array ``x``, or None for NumPy arrays / Python scalars."""
    mod = type(x).__module__
    if mod.startswith("autograd"):
        return "autograd"
    if mod.startswith("torch") and "torch" in sys.modules:
        return "torch" if _load("torch").owns(x) else None
    if ("jax" in mod or "jaxlib" in mod) and "jax" in sys.modules:
        return "jax" if _load("jax").owns(x) else None
    return None


def infer_backend(*arrays):
    """The backend that owns the given arrays: autograd for NumPy arrays and scalars.

    Raises
    ------
    BackendError
        If arrays of two different backends are mixed.
    """
    votes = {v for v in map(_vote, arrays) if v is not None}
    if len(votes) > 1:
        raise BackendError(
            f"arrays from different backends were mixed: {sorted(votes)}; convert them first "
            "(Backend.asarray) or pass backend= explicitly."
        )
    return _load(votes.pop() if votes else "autograd")


def get_backend(backend=None, *arrays):
    """Resolve ``backend`` (None, a name or a :class:`Backend`), inferring it from ``arrays``.

    Parameters
    ----------
    backend : None, str or Backend
        ``None`` infers from ``arrays`` (autograd when they are NumPy arrays).
    *arrays
        Arrays used for inference.

    Returns
    -------
    Backend
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        return infer_backend(*arrays)
    if not isinstance(backend, str):
        raise BackendError(f"backend must be None, a name in {BACKENDS} or a Backend, got {backend!r}.")
    if backend in _MODULES and importlib.util.find_spec(_MODULES[backend]) is None:
        raise BackendError(f"backend={backend!r} requested but {_MODULES[backend]} is not installed "
                           f"(pip install 'rgeom[{backend}]').")
    return _load(backend)


def namespace(*arrays):
    """The array namespace (``xp``) of the backend owning ``arrays``."""
    return infer_backend(*arrays).xp
