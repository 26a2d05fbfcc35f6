"""Adapter for a JAX function ``apply(params, x)`` over a parameter pytree (Flax-style)."""

from .layout import ParamLayout
from .model import Model


def _key_name(k):
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def from_jax(apply, params, *, layers=(), name=None):
    """Wrap ``apply(params, x) -> outputs`` and a parameter pytree as a :class:`~rgeom.models.Model`.

    Leaves are named by their tree path joined with dots (``"params.Dense_0.kernel"``) in
    ``jax.tree_util`` order. rgeom does not enable float64: with ``jax_enable_x64`` off the
    parameters and results are float32 (the results say so).

    Parameters
    ----------
    apply : callable
        ``apply(params, x)``; with ``layers``, it must also accept ``tap=`` (see :class:`Model`).
    params : pytree of arrays
        E.g. Flax's ``variables`` dict.
    layers : sequence of Layer, optional
        Declared affine layers (weights ``(out, in)``) for K-FAC.
    name : str, optional

    Returns
    -------
    Model

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from rgeom.models import from_jax
    >>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    >>> net = from_jax(lambda p, x: jnp.tanh(x @ p["w"] + p["b"]), params)
    >>> net.layout.names, net(np.zeros((4, 3))).shape
    (('b', 'w'), (4, 2))
    """
    import jax
    import jax.numpy as jnp

    if not callable(apply):
        raise TypeError(f"from_jax: apply must be callable apply(params, x), got {apply!r}.")
    leaves_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not leaves_paths:
        raise ValueError("from_jax: params has no array leaves.")
    names = [".".join(_key_name(k) for k in path) or f"leaf{i}" for i, (path, _) in enumerate(leaves_paths)]
    leaves = [jnp.asarray(v) for _, v in leaves_paths]
    layout = ParamLayout(names, [tuple(v.shape) for v in leaves])

    def fn(named, X, tap=None):
        tree = jax.tree_util.tree_unflatten(treedef, [named[n] for n in names])
        return apply(tree, X) if tap is None else apply(tree, X, tap=tap)

    theta = jnp.concatenate([v.reshape(-1) for v in leaves])
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.result_type(float))
    return Model(fn, layout, theta, "jax", layers=layers, name=name or getattr(apply, "__name__", "jax"))
