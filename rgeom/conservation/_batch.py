"""Vectorized evaluation and float64 scopes for the conservation-law engine (internal).

Everything the Lie-algebra computation evaluates is a function ``f(theta, omegas)`` of one point
and one random coefficient block, evaluated on a list of (point, block) pairs. :func:`batched`
maps it over the pairs with the backend's own vectorization: ``torch.func.vmap`` (eager, no
compilation), ``jax.vmap`` under ``jax.jit``, or a Python loop on autograd.

:func:`float64` is the precision scope: rank decisions need float64. On JAX it enters the scoped
``jax.enable_x64(True)`` context (a context-local setting restored on exit; the process-wide
``jax_enable_x64`` flag owned by the user is not changed); elsewhere it does nothing.
"""

import contextlib

import numpy as np

from ..errors import BackendError


def batched(bk, f, jit=True):
    """``F(thetas (N, D), omegas (N, ...)) -> (N, ...)`` with ``F[n] = f(thetas[n], omegas[n])``."""
    if bk.name == "torch":
        from torch.func import vmap

        return vmap(f)
    if bk.name == "jax":
        import jax

        g = jax.vmap(f)
        return jax.jit(g) if jit else g

    def looped(thetas, omegas):
        return bk.xp.stack([f(t, o) for t, o in zip(thetas, omegas)])

    return looped


def to_backend(bk, a):
    """A float64 NumPy array as an array of backend ``bk``."""
    return bk.asarray(np.asarray(a, dtype=np.float64))


def to_numpy(bk, x):
    """A backend array as a float64 NumPy array."""
    return np.asarray(bk.to_numpy(x), dtype=np.float64)


@contextlib.contextmanager
def float64(bk):
    """Scope in which backend ``bk`` computes in float64 (see the module docstring)."""
    if bk.name != "jax":
        yield
        return
    import jax

    scope = getattr(jax, "enable_x64", None)
    if scope is None:  # pragma: no cover - older JAX
        try:
            from jax.experimental import enable_x64 as scope
        except ImportError:
            scope = None
    if scope is None:  # pragma: no cover - older JAX without a scoped switch
        if not jax.config.jax_enable_x64:
            raise BackendError(
                "rgeom.conservation needs float64 on JAX for its rank decisions; enable it with "
                "jax.config.update('jax_enable_x64', True) or use backend='torch'/'autograd'."
            )
        yield
        return
    with scope(True):
        yield
