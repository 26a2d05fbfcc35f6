"""Adapter for a PyTorch ``nn.Module`` (through :func:`torch.func.functional_call`)."""

import copy

import numpy as np

from .layout import ParamLayout
from .model import Layer, Model


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _conv_info(m):
    if m.groups != 1:
        raise NotImplementedError(f"K-FAC supports Conv2d with groups=1 only, got groups={m.groups}.")
    if m.padding_mode != "zeros":
        raise NotImplementedError(f"K-FAC supports zero padding only, got padding_mode={m.padding_mode!r}.")
    k, d = _pair(m.kernel_size), _pair(m.dilation)
    pad = m.padding
    if isinstance(pad, str):
        if pad == "valid":
            pad = (0, 0)
        elif all(di * (ki - 1) % 2 == 0 for ki, di in zip(k, d)):  # "same" with odd effective size
            pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        else:
            raise NotImplementedError("K-FAC: padding='same' with an even kernel is not supported.")
    return {"kernel_size": k, "stride": _pair(m.stride), "padding": _pair(pad), "dilation": d}


def from_torch(module, *, dtype="float64", name=None):
    """Wrap a ``torch.nn.Module`` as a :class:`~rgeom.models.Model` on the torch backend.

    The module is deep-copied, cast to ``dtype`` and put in eval mode (dropout off, batch-norm
    statistics frozen as buffers); the caller's module is not touched. Trainable parameters, in
    ``named_parameters()`` order, form ``θ``; ``nn.Linear`` and ``nn.Conv2d`` (groups=1) layers
    whose parameters are all trainable are recorded for K-FAC.

    Parameters
    ----------
    module : torch.nn.Module
    dtype : str
        ``"float64"`` (default) or ``"float32"``.
    name : str, optional

    Returns
    -------
    Model

    Examples
    --------
    >>> import torch, numpy as np
    >>> from rgeom.models import from_torch
    >>> net = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)))
    >>> net.dim, [l.weight for l in net.layers]
    (26, ['0.weight', '2.weight'])
    >>> net(np.zeros((5, 3))).shape
    (5, 2)
    """
    import torch
    from torch.func import functional_call

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: module must be a torch.nn.Module, got {type(module).__name__}.")
    tdtype = {"float64": torch.float64, "float32": torch.float32}.get(str(dtype).replace("torch.", ""))
    if tdtype is None:
        raise ValueError(f"from_torch: dtype must be 'float64' or 'float32', got {dtype!r}.")
    module = copy.deepcopy(module).to(tdtype).eval()
    params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("from_torch: the module has no trainable parameters.")
    buffers = {k: v.detach() for k, v in module.named_buffers()}
    layout = ParamLayout(list(params), [tuple(v.shape) for v in params.values()])

    ctx = {"tap": None}
    layers, unsupported = [], {}
    for mname, m in module.named_modules():
        kind = "dense" if isinstance(m, torch.nn.Linear) else "conv2d" if isinstance(m, torch.nn.Conv2d) else None
        if kind is None:
            if any(p.requires_grad for p in m.parameters(recurse=False)):
                unsupported[mname] = type(m).__name__  # named in K-FAC's error message
            continue
        prefix = f"{mname}." if mname else ""
        w, b = prefix + "weight", (prefix + "bias") if m.bias is not None else None
        if w not in params or (b is not None and b not in params):
            continue
        try:
            conv = _conv_info(m) if kind == "conv2d" else None
        except NotImplementedError as err:
            unsupported[mname] = f"{type(m).__name__}: {err}"
            continue
        index = len(layers)
        layers.append(Layer(kind, w, b, conv))

        def hook(mod, inp, out, index=index):
            tap = ctx["tap"]
            return None if tap is None else tap(index, inp[0], out)

        m.register_forward_hook(hook)

    def make_fn(new_buffers):
        bufs = dict(buffers)
        for k, v in new_buffers.items():
            bufs[k] = torch.as_tensor(np.asarray(v)).to(buffers[k].dtype)

        def fn(named, X, tap=None):
            ctx["tap"] = tap
            try:
                return functional_call(module, {**named, **bufs}, (X,))
            finally:
                ctx["tap"] = None

        return fn

    theta = torch.cat([v.reshape(-1) for v in params.values()])
    shapes = {k: tuple(v.shape) for k, v in buffers.items()}
    model = Model(make_fn({}), layout, theta, "torch", layers=layers, name=name or type(module).__name__,
                  buffers=(shapes, make_fn) if buffers else None)
    model.unsupported_layers = unsupported
    return model


def _unfold(a, conv):
    """Input patches of a conv layer: ``(N, C_in, H, W) -> (N, P, C_in·kh·kw)`` (torch or JAX array).

    Features are ordered ``(C_in, kh, kw)`` like ``weight.reshape(out, -1)`` on both backends.
    """
    if type(a).__module__.startswith("jax") or "Tracer" in type(a).__name__:
        import jax

        cols = jax.lax.conv_general_dilated_patches(
            a, tuple(conv["kernel_size"]), tuple(conv["stride"]), [(p, p) for p in conv["padding"]],
            rhs_dilation=tuple(conv["dilation"]), dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return cols.reshape(cols.shape[0], cols.shape[1], -1).transpose(0, 2, 1)
    import torch

    cols = torch.nn.functional.unfold(a, conv["kernel_size"], dilation=conv["dilation"],
                                      padding=conv["padding"], stride=conv["stride"])
    return cols.transpose(1, 2)
