"""The PyTorch backend, through :mod:`torch.func` (functional transforms, no ``.backward``)."""

import types

import numpy as onp

from ._base import Backend, HessianKernels, PointHessian


def _torch_namespace(torch):
    """A NumPy-flavoured view of torch with float64 creation defaults (what rgeom uses)."""
    f64 = torch.float64

    def asarray(x, dtype=None):
        if isinstance(x, torch.Tensor):
            return x if dtype is None else x.to(dtype)
        a = onp.asarray(x)
        if dtype is None and a.dtype.kind not in "fc":
            dtype = f64
        t = torch.as_tensor(a)
        return t if dtype is None else t.to(dtype)

    ns = types.SimpleNamespace(
        asarray=asarray,
        float64=f64,
        zeros=lambda shape, dtype=f64: torch.zeros(shape, dtype=dtype),
        ones=lambda shape, dtype=f64: torch.ones(shape, dtype=dtype),
        eye=lambda n, dtype=f64: torch.eye(n, dtype=dtype),
        zeros_like=torch.zeros_like,
        ones_like=torch.ones_like,
        logaddexp=lambda a, b: torch.logaddexp(torch.as_tensor(a, dtype=f64), b)
        if not isinstance(a, torch.Tensor)
        else torch.logaddexp(a, torch.as_tensor(b, dtype=a.dtype)),
        diag=torch.diag,
        linalg=torch.linalg,
        ndim=lambda x: x.ndim,
        size=lambda x: x.numel(),
    )
    for name in (
        "stack concatenate sum prod exp log log1p sqrt sin cos tan tanh sinh cosh arcsinh "
        "arctanh arctan arctan2 arccos arcsin abs sign where dot outer matmul reshape maximum "
        "minimum hypot expm1 square mean allclose einsum tensordot"
    ).split():
        setattr(ns, name, getattr(torch, name))
    return ns


class TorchBackend(Backend):
    """``torch.func`` transforms: ``jvp``, ``vjp``, ``grad``, ``jacfwd``; float64 by default."""

    name = "torch"

    def __init__(self):
        import torch
        import torch.func

        self._torch = torch
        self._func = torch.func
        self.xp = _torch_namespace(torch)

    def owns(self, x):
        return isinstance(x, self._torch.Tensor)

    def asarray(self, x, dtype=None):
        return self.xp.asarray(x, dtype)

    def to_numpy(self, x):
        return x.detach().cpu().numpy().copy()

    def value_and_grad(self, f, x):
        g, v = self._func.grad_and_value(f)(x)
        return v, g

    def grad(self, f, x):
        return self._func.grad(f)(x)

    def jvp(self, f, x, v):
        return self._func.jvp(f, (x,), (v,))

    def vjp(self, f, x, w):
        value, pullback = self._func.vjp(f, x)
        return value, pullback(w)[0]

    def jacobian(self, f, x):
        return self._func.jacfwd(f)(x)

    def hessian(self, f, x):
        return self._func.hessian(f)(x)

    def hessian_kernels(self, f):
        return _TorchHessianKernels(self, f)


class _TorchHessianKernels(HessianKernels):
    """Reverse-over-reverse with the gradient's graph kept (``create_graph`` once per point).

    Each product is one backward pass through that graph (``torch.autograd.grad`` with
    ``retain_graph=True``): the forward pass and the first backward pass are not redone.
    """

    def at(self, x, *args):
        torch = self.backend._torch
        leaf = x.detach().requires_grad_(True)
        with torch.enable_grad():
            g = torch.autograd.grad(self.f(leaf, *args), leaf, create_graph=True)[0]
        if not g.requires_grad:  # f is affine in x: the Hessian is zero
            return PointHessian(g.detach(), lambda v: torch.zeros_like(v))

        def mv(v):
            (hv,) = torch.autograd.grad(g, leaf, v.to(g.dtype), retain_graph=True, allow_unused=True)
            return torch.zeros_like(v) if hv is None else hv

        return PointHessian(g.detach(), mv)
