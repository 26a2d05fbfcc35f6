"""The JAX backend.

rgeom never flips ``jax_enable_x64``: that is process-wide state owned by the user. Without it
JAX computes in float32, and rgeom's results say so (``dtype`` fields). Enable it yourself,
e.g. ``jax.config.update("jax_enable_x64", True)``, for float64 work.
"""

import numpy as onp

from ._base import Backend, HessianKernels, PointHessian


class JaxBackend(Backend):
    """Forward-over-reverse JAX transformations; ``jit`` is :func:`jax.jit`."""

    name = "jax"

    def __init__(self):
        import jax
        import jax.numpy as jnp

        self._jax = jax
        self.xp = jnp

    def owns(self, x):
        return isinstance(x, self._jax.Array)

    def asarray(self, x, dtype=None):
        if isinstance(x, self._jax.Array):
            return x if dtype is None else x.astype(dtype)
        a = onp.asarray(x)
        if dtype is None and a.dtype.kind not in "fc":
            dtype = onp.float64
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, x):
        return onp.array(x)

    def value_and_grad(self, f, x):
        return self._jax.value_and_grad(f)(x)

    def grad(self, f, x):
        return self._jax.grad(f)(x)

    def jvp(self, f, x, v):
        return self._jax.jvp(f, (x,), (v,))

    def vjp(self, f, x, w):
        value, pullback = self._jax.vjp(f, x)
        return value, pullback(w)[0]

    def jacobian(self, f, x):
        return self._jax.jacfwd(f)(x)

    def hessian(self, f, x):
        return self._jax.hessian(f)(x)

    def jit(self, f):
        """``jax.jit(f)`` with XLA's constant folding off.

        rgeom jits closures (a Riemannian Hessian product closes over the loss, its data and the
        point), so the data are compile-time constants, and XLA would evaluate every data-only
        computation (a K-FAC input Gram, say) at compile time with its slow HLO interpreter: the
        first K-FAC Christoffel product on the 85k-parameter benchmark MLP took 69 s to compile,
        against 1.2 s unfolded (that work then runs with each product instead).
        """
        return self._jax.jit(f, compiler_options={"xla_disable_hlo_passes": "constant_folding"})

    def hessian_kernels(self, f):
        return _JaxHessianKernels(self, f)


class _JaxHessianKernels(HessianKernels):
    """Compiled kernels: the linearised gradient (forward-over-reverse, primal work done once per
    point) for products, nested forward mode for quadratic forms.

    ``jax.linearize(∇f, x)`` runs the forward and backward passes once and returns the tangent
    map ``v ↦ ∇²f(x) v`` with their residuals; each product then costs only the tangent pass.
    ``vᵀ∇²f(x)v`` is the second derivative of ``t ↦ f(x + t v)``: two nested JVPs, cheaper than
    a product followed by a dot. Everything is compiled once per :class:`HessianKernels` (so per
    function), with ``x`` and ``args`` as arguments: new points do not recompile.
    """

    def __init__(self, backend, f):
        super().__init__(backend, f)
        jax = backend._jax
        grad = jax.grad(f)
        self._linearize = jax.jit(lambda x, args: jax.linearize(lambda y: grad(y, *args), x))
        self._apply = jax.jit(lambda lin, v: lin(v))

        def quad(x, args, v):
            first = lambda y: jax.jvp(lambda z: f(z, *args), (y,), (v,))[1]  # noqa: E731
            return jax.jvp(first, (x,), (v,))[1]

        self._quad = jax.jit(quad)

    def at(self, x, *args):
        g, lin = self._linearize(x, args)
        return PointHessian(g, lambda v: self._apply(lin, v), lambda v: self._quad(x, args, v))
