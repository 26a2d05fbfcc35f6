"""Models, losses, data and parameter layouts for curvature of trained networks.

Adapters turn a PyTorch module (:func:`from_torch`), a JAX ``apply(params, x)`` over a pytree
(:func:`from_jax`) or an autograd function (:func:`from_autograd`) into a :class:`Model`: a
function of one flat parameter vector ``θ``. Losses come by name (:func:`get_loss`) and data as
arrays, files or iterables of batches (:class:`Data`). Imports of torch / JAX happen inside the
adapters only.
"""

from .data import Data, load_arrays, progress
from .layout import ParamLayout
from .losses import LOSS_NAMES, Loss, get_loss
from .model import Layer, Model, dinh_rescaling, mlp
from .problem import Problem


def from_torch(module, **kwargs):
    """Wrap a ``torch.nn.Module``; see :func:`rgeom.models.torch_adapter.from_torch`."""
    from .torch_adapter import from_torch as f

    return f(module, **kwargs)


def from_jax(apply, params, **kwargs):
    """Wrap a JAX ``apply(params, x)``; see :func:`rgeom.models.jax_adapter.from_jax`."""
    from .jax_adapter import from_jax as f

    return f(apply, params, **kwargs)


def from_autograd(fn, params, **kwargs):
    """Wrap an autograd ``fn(params, x)``; see :func:`rgeom.models.autograd_adapter.from_autograd`."""
    from .autograd_adapter import from_autograd as f

    return f(fn, params, **kwargs)


__all__ = [
    "Data", "load_arrays", "progress", "ParamLayout", "LOSS_NAMES", "Loss", "get_loss", "Layer",
    "Model", "Problem", "mlp", "dinh_rescaling", "from_torch", "from_jax", "from_autograd",
]
