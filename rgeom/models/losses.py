"""Losses by name (or a user callable) with their output-space curvature.

A loss is a per-sample function ``ℓ(f, y)`` of the network output ``f`` (shape ``(C,)``) and the
target; the data loss is the mean ``L = (1/N) Σₙ ℓ(fₙ, yₙ)``. Every named loss is the negative
log-likelihood of a distribution ``p(y | f)`` (up to an additive constant), so

* its output Hessian ``Λ(f) = ∂²ℓ/∂f²`` does not depend on ``y`` (canonical links), and the exact
  Fisher ``E_{y∼p(·|f)}[∇ℓ ∇ℓᵀ]`` equals ``Λ`` — Fisher and GGN coincide for these losses;
* ``Λ = B Bᵀ`` has a closed-form factor ``B`` (used by K-FAC and the exact diagonal);
* targets can be sampled from ``p(· | f)`` (Monte-Carlo Fisher).

============================  ==========================================  ======================
name                          per-sample loss ``ℓ(f, y)``                  ``Λ(f)``
============================  ==========================================  ======================
``cross-entropy``             ``logsumexp(f) − Σ_c t_c f_c``               ``diag(p) − p pᵀ``
``categorical`` (alias)       (``t`` one-hot labels or probabilities)
``mse``                       ``(1/C) Σ_c (f_c − y_c)²`` (torch's mean)     ``(2/C) I``
``gaussian`` (``sigma``)      ``Σ_c (f_c − y_c)² / (2σ²)``                  ``I / σ²``
``bernoulli``                 ``Σ_c softplus(f_c) − y_c f_c`` (logits)     ``diag(p(1 − p))``
============================  ==========================================  ======================
"""

import numpy as np

from ..errors import ShapeError


class _Ops:
    """The few array operations the losses need, per backend (all differentiable)."""

    def __init__(self, bk):
        self.bk, self.xp = bk, bk.xp
        if bk.name == "torch":
            import torch

            self.lse = lambda F: torch.logsumexp(F, dim=1, keepdim=True)
            self.softplus = torch.nn.functional.softplus
        elif bk.name == "jax":
            import jax

            self.lse = lambda F: jax.nn.logsumexp(F, axis=1, keepdims=True)
            self.softplus = jax.nn.softplus
        else:
            from autograd.scipy.special import logsumexp

            self.lse = lambda F: logsumexp(F, axis=1, keepdims=True)
            self.softplus = lambda F: self.xp.logaddexp(0.0, F)

    def sum1(self, x):
        return self.xp.sum(x, 1)

    def softmax(self, F):
        return self.xp.exp(F - self.lse(F))

    def sigmoid(self, F):
        return 1.0 / (1.0 + self.xp.exp(-F))


class Loss:
    """Base class: a per-sample loss ``ℓ(f, y)`` on outputs ``F`` of shape ``(N, C)``.

    Attributes
    ----------
    name : str
    likelihood : bool
        ``True`` when ``ℓ`` is a negative log-likelihood (Fisher and Monte-Carlo Fisher defined).
    """

    name = "loss"
    likelihood = True

    # -- targets --------------------------------------------------------------------------
    def targets(self, y, n_out, n):
        """Validate targets for ``n`` outputs of width ``n_out``; return them as float64 ``(n, C)``."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 1 and n_out == 1:
            y = y[:, None]
        if y.shape != (n, n_out):
            raise ShapeError(
                f"loss {self.name!r}: targets y must have shape ({n}, {n_out}) to match the model "
                f"output (N, C) = ({n}, {n_out}), got {y.shape}."
            )
        return y

    # -- values and curvature (backend arrays) -------------------------------------------
    def per_sample(self, ops, F, T):
        """``ℓ(fₙ, tₙ)`` for each sample, shape ``(N,)``."""
        raise NotImplementedError

    def hess_mv(self, ops, F, V, T=None):
        """``Λ(fₙ) vₙ`` for each sample, shape ``(N, C)`` (the output-space curvature; ``T`` only
        matters for user callables)."""
        raise NotImplementedError

    def hess_sqrt(self, ops, F):
        """A factor ``B`` with ``Λ(fₙ) = Bₙ Bₙᵀ``, shape ``(N, C, K)``."""
        raise NotImplementedError

    def sample(self, F, rng, n_samples):
        """Targets drawn from ``p(· | fₙ)``: NumPy ``(n_samples, N, C)`` float64."""
        raise NotImplementedError

    #: For the named losses ``∇_f ℓ(f, t) = ∇_f ℓ(f, 0) − target_slope · t`` (affine in ``t``).
    target_slope = None

    def output_grad(self, ops, F, T):
        """``∇_f ℓ(fₙ, tₙ)`` for each sample, shape ``(N, C)`` (autodiff unless overridden)."""
        return ops.bk.grad(lambda G: ops.xp.sum(self.per_sample(ops, G, T)), F)

    def output_grad_many(self, ops, F, Ys):
        """``∇_f ℓ(fₙ, yₛₙ)`` for a stack of targets ``Ys`` (S, N, C) -> (N, C, S)."""
        if self.target_slope is not None:
            g0 = self.output_grad(ops, F, ops.xp.zeros_like(F))
            return ops.xp.einsum("snc->ncs", g0[None] - self.target_slope * Ys)
        return ops.xp.stack([self.output_grad(ops, F, Ys[s]) for s in range(Ys.shape[0])], 2)

    def __repr__(self):
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits: the categorical negative log-likelihood.

    Targets are integer labels ``(N,)`` in ``[0, C)`` or probability rows ``(N, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import get_loss
    >>> ce = get_loss("cross-entropy")
    >>> ce.targets(np.array([0, 2]), 3, 2).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """

    name = "cross-entropy"

    def targets(self, y, n_out, n):
        y = np.asarray(y)
        if y.ndim == 1:
            if y.shape[0] != n:
                raise ShapeError(f"loss 'cross-entropy': {y.shape[0]} labels for {n} outputs.")
            if y.dtype.kind == "f" and not np.all(y == np.round(y)):
                raise ShapeError("loss 'cross-entropy': 1-D targets must be integer class labels.")
            lab = y.astype(np.int64)
            if n and (lab.min() < 0 or lab.max() >= n_out):
                raise ShapeError(
                    f"loss 'cross-entropy': labels must lie in [0, {n_out}) for a model with "
                    f"{n_out} outputs, got labels in [{lab.min()}, {lab.max()}]."
                )
            return np.eye(n_out)[lab]
        t = super().targets(y, n_out, n)
        if np.any(t < 0) or not np.allclose(t.sum(1), 1.0, atol=1e-6):
            raise ShapeError("loss 'cross-entropy': (N, C) targets must be probability rows (>= 0, sum 1).")
        return t

    def per_sample(self, ops, F, T):
        return ops.lse(F)[:, 0] - ops.sum1(T * F)

    target_slope = 1.0

    def output_grad(self, ops, F, T):
        return ops.softmax(F) - T

    def hess_mv(self, ops, F, V, T=None):
        p = ops.softmax(F)
        return p * V - p * ops.sum1(p * V)[:, None]

    def hess_sqrt(self, ops, F):
        xp = ops.xp
        p = ops.softmax(F)
        s = xp.sqrt(p)
        C = F.shape[1]
        eye = ops.bk.asarray(np.eye(C), dtype=F.dtype)
        # diag(p) − p pᵀ = (diag(√p) − p √pᵀ)(diag(√p) − √p pᵀ)
        return s[:, :, None] * eye[None] - p[:, :, None] * s[:, None, :]

    def sample(self, F, rng, n_samples):
        F = np.asarray(F, dtype=np.float64)
        p = np.exp(F - F.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        c = np.cumsum(p, 1)
        u = rng.random((n_samples, F.shape[0], 1))
        lab = np.minimum((u > c[None]).sum(-1), F.shape[1] - 1)
        return np.eye(F.shape[1])[lab]


class MSE(Loss):
    """Mean squared error ``(1/C) ‖f − y‖²`` per sample (torch's ``MSELoss()`` overall).

    The Gaussian negative log-likelihood with variance ``σ² = C/2`` up to a constant.
    """

    name = "mse"

    def per_sample(self, ops, F, T):
        return ops.xp.mean((F - T) ** 2, 1)

    def output_grad(self, ops, F, T):
        return (2.0 / F.shape[1]) * (F - T)

    def output_grad_many(self, ops, F, Ys):
        c = 2.0 / F.shape[1]
        return ops.xp.einsum("snc->ncs", c * F[None] - c * Ys)

    def hess_mv(self, ops, F, V, T=None):
        return (2.0 / F.shape[1]) * V

    def hess_sqrt(self, ops, F):
        C = F.shape[1]
        eye = ops.bk.asarray(np.sqrt(2.0 / C) * np.eye(C), dtype=F.dtype)
        return ops.xp.zeros_like(F)[:, :, None] + eye[None]

    def sample(self, F, rng, n_samples):
        F = np.asarray(F, dtype=np.float64)
        return F[None] + np.sqrt(F.shape[1] / 2.0) * rng.standard_normal((n_samples,) + F.shape)


class Gaussian(Loss):
    """Gaussian negative log-likelihood ``‖f − y‖² / (2σ²)`` (constant dropped).

    Parameters
    ----------
    sigma : float
        Known noise standard deviation (> 0).
    """

    name = "gaussian"

    def __init__(self, sigma=1.0):
        if not float(sigma) > 0:
            raise ValueError(f"gaussian loss: sigma must be > 0, got {sigma!r}.")
        self.sigma = float(sigma)

    def per_sample(self, ops, F, T):
        return ops.sum1((F - T) ** 2) / (2.0 * self.sigma ** 2)

    def output_grad(self, ops, F, T):
        return (F - T) / self.sigma ** 2

    @property
    def target_slope(self):
        return 1.0 / self.sigma ** 2

    def hess_mv(self, ops, F, V, T=None):
        return V / self.sigma ** 2

    def hess_sqrt(self, ops, F):
        C = F.shape[1]
        eye = ops.bk.asarray(np.eye(C) / self.sigma, dtype=F.dtype)
        return ops.xp.zeros_like(F)[:, :, None] + eye[None]

    def sample(self, F, rng, n_samples):
        F = np.asarray(F, dtype=np.float64)
        return F[None] + self.sigma * rng.standard_normal((n_samples,) + F.shape)

    def __repr__(self):
        return f"Gaussian(sigma={self.sigma})"


class Bernoulli(Loss):
    """Independent Bernoulli negative log-likelihood on logits (binary cross-entropy).

    Targets in ``{0, 1}`` (or ``[0, 1]``), shape ``(N, C)`` or ``(N,)`` for one output.
    """

    name = "bernoulli"

    def targets(self, y, n_out, n):
        t = super().targets(y, n_out, n)
        if np.any(t < 0) or np.any(t > 1):
            raise ShapeError("loss 'bernoulli': targets must lie in [0, 1].")
        return t

    def per_sample(self, ops, F, T):
        return ops.sum1(ops.softplus(F) - T * F)

    target_slope = 1.0

    def output_grad(self, ops, F, T):
        return ops.sigmoid(F) - T

    def hess_mv(self, ops, F, V, T=None):
        p = ops.sigmoid(F)
        return p * (1.0 - p) * V

    def hess_sqrt(self, ops, F):
        C = F.shape[1]
        p = ops.sigmoid(F)
        eye = ops.bk.asarray(np.eye(C), dtype=F.dtype)
        return ops.xp.sqrt(p * (1.0 - p))[:, :, None] * eye[None]

    def sample(self, F, rng, n_samples):
        p = 1.0 / (1.0 + np.exp(-np.asarray(F, dtype=np.float64)))
        return (rng.random((n_samples,) + p.shape) < p[None]).astype(np.float64)


class CallableLoss(Loss):
    """A user loss ``fn(F, T) -> (N,)`` per-sample values, written for the model's backend.

    Its output Hessian comes from automatic differentiation; there is no likelihood, so the Fisher
    and Monte-Carlo Fisher are unavailable (use the GGN or the empirical Fisher).
    """

    likelihood = False

    def __init__(self, fn, name=None):
        if not callable(fn):
            raise TypeError(f"loss must be a name or a callable fn(outputs, targets) -> (N,), got {fn!r}.")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def targets(self, y, n_out, n):
        y = np.asarray(y, dtype=np.float64)
        if y.shape[:1] != (n,):
            raise ShapeError(f"loss {self.name!r}: targets must have {n} rows, got shape {y.shape}.")
        return y

    def per_sample(self, ops, F, T):
        out = self.fn(F, T)
        if tuple(getattr(out, "shape", ())) != (F.shape[0],):
            raise ShapeError(
                f"loss {self.name!r}: the callable must return per-sample losses of shape "
                f"({F.shape[0]},), got {tuple(getattr(out, 'shape', ()))}."
            )
        return out

    def hess_mv(self, ops, F, V, T=None):
        return ops.bk.hvp(lambda G: ops.xp.sum(self.per_sample(ops, G, T)), F, V)

    def __repr__(self):
        return f"CallableLoss({self.name})"


_LOSSES = {
    "cross-entropy": CrossEntropy, "cross_entropy": CrossEntropy, "ce": CrossEntropy,
    "categorical": CrossEntropy, "mse": MSE, "gaussian": Gaussian, "bernoulli": Bernoulli,
    "bce": Bernoulli,
}

#: Loss names accepted by :func:`get_loss` and the command line.
LOSS_NAMES = ("cross-entropy", "categorical", "mse", "gaussian", "bernoulli")


def get_loss(loss, **kwargs):
    """A :class:`Loss` from a name in :data:`LOSS_NAMES`, a :class:`Loss`, or a callable.

    Parameters
    ----------
    loss : str, Loss or callable
        A callable is ``fn(outputs (N, C), targets (N, ...)) -> (N,)`` per-sample losses.
    **kwargs
        Passed to the loss class (``sigma=`` for ``"gaussian"``).

    Examples
    --------
    >>> from rgeom.models import get_loss
    >>> get_loss("gaussian", sigma=0.5)
    Gaussian(sigma=0.5)
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        key = loss.lower()
        if key not in _LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {list(LOSS_NAMES)} or a callable.")
        return _LOSSES[key](**kwargs)
    return CallableLoss(loss)
