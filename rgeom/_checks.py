"""Input validation shared by every layer (internal)."""

import numpy as np

from .errors import DenseSizeError, NonFiniteError, ShapeError

#: Largest dimension for which rgeom materialises a dense d x d matrix by default.
#: Every function that densifies takes ``max_dense_dim=`` to override it per call.
MAX_DENSE_DIM = 2000


def concrete(x):
    """Return ``x`` as a NumPy array, or ``None`` when it is an abstract (traced) value."""
    try:
        from autograd.tracer import getval

        x = getval(x)
    except ImportError:  # pragma: no cover - autograd is a core dependency
        pass
    mod = type(x).__module__
    if mod.startswith("torch"):
        try:
            return x.detach().cpu().numpy()
        except Exception:  # functorch-wrapped tensors have no data pointer
            return None
    try:
        return np.asarray(x)
    except Exception:  # jax tracers refuse conversion
        return None


def check_finite(x, name):
    """Raise :class:`NonFiniteError` naming ``name`` if ``x`` holds NaN or inf."""
    a = concrete(x)
    if a is not None and a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise NonFiniteError(f"{name} contains {bad} non-finite value(s) (NaN or inf).")
    return x


def check_vector(x, name, dim=None):
    """Require a 1-D array (of length ``dim`` when given) with finite entries."""
    shape = tuple(getattr(x, "shape", np.shape(x)))
    if len(shape) != 1:
        raise ShapeError(f"{name} must be a 1-D array of coordinates, got shape {shape}.")
    if dim is not None and shape[0] != dim:
        raise ShapeError(f"{name} must have shape ({dim},), got shape {shape}.")
    return check_finite(x, name)


def check_dense_size(dim, max_dense_dim, what):
    """Raise :class:`DenseSizeError` if a ``dim x dim`` matrix would exceed the limit."""
    limit = MAX_DENSE_DIM if max_dense_dim is None else int(max_dense_dim)
    if dim > limit:
        raise DenseSizeError(
            f"{what}: refusing to form a dense {dim} x {dim} matrix (max_dense_dim={limit}). "
            "Use the matrix-free operator (mv / solve), or pass a larger max_dense_dim."
        )
