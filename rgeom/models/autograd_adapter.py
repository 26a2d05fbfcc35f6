"""Adapter for an autograd (NumPy) function ``fn(params, x)``."""

import numpy as np

from .layout import ParamLayout
from .model import Model


def from_autograd(fn, params, *, layers=(), name=None):
    """Wrap ``fn(params, x) -> outputs`` written with ``autograd.numpy`` as a :class:`~rgeom.models.Model`.

    Parameters
    ----------
    fn : callable
        ``fn(params, x)``; with ``layers`` it must also accept ``tap=`` (see :class:`Model`).
    params : dict str -> array, list / tuple of arrays, or one array
        Passed back to ``fn`` in the same structure (lists get names ``"0"``, ``"1"``, ...).
    layers : sequence of Layer, optional
        Declared affine layers for K-FAC.
    name : str, optional

    Returns
    -------
    Model

    Examples
    --------
    >>> import autograd.numpy as anp, numpy as np
    >>> from rgeom.models import from_autograd
    >>> net = from_autograd(lambda p, x: anp.tanh(x @ p["w"]), {"w": np.ones((3, 2))})
    >>> net.dim, net(np.zeros((4, 3))).shape
    (6, (4, 2))
    """
    if not callable(fn):
        raise TypeError(f"from_autograd: fn must be callable fn(params, x), got {fn!r}.")
    if isinstance(params, dict):
        named = {str(k): np.asarray(v, dtype=np.float64) for k, v in params.items()}
        rebuild = lambda p: p  # noqa: E731
    elif isinstance(params, (list, tuple)):
        named = {str(i): np.asarray(v, dtype=np.float64) for i, v in enumerate(params)}
        kind = type(params)
        rebuild = lambda p: kind(p[str(i)] for i in range(len(named)))  # noqa: E731
    else:
        named = {"theta": np.asarray(params, dtype=np.float64)}
        rebuild = lambda p: p["theta"]  # noqa: E731
    layout = ParamLayout.from_named(named)

    def wrapped(p, X, tap=None):
        return fn(rebuild(p), X) if tap is None else fn(rebuild(p), X, tap=tap)

    return Model(wrapped, layout, layout.flatten(named), "autograd", layers=layers,
                 name=name or getattr(fn, "__name__", "autograd"))
