"""A model, a loss and a data set bound together: the data loss ``L(θ)`` and its batches.

``L(θ) = (1/N) Σₙ ℓ(f(θ, xₙ), yₙ)`` over the whole data set, accumulated batch by batch. The
metrics of :mod:`rgeom.metrics.fisher` and :mod:`rgeom.metrics.kfac` walk the same prepared
batches (inputs and targets converted once to the model's backend and dtype).
"""

import numpy as np

from ..errors import ShapeError
from .data import Data, progress
from .losses import _Ops, get_loss
from .model import Model


class Problem:
    """Model + loss + data, validated against each other.

    Parameters
    ----------
    model : Model
    loss : str, Loss or callable
        See :func:`rgeom.models.get_loss`.
    data : anything :meth:`rgeom.models.Data.from_any` accepts
    batch_size : int, optional
        Re-batch array data (memory control for large data sets).
    progress : bool, optional
        Progress bars over batches for one-pass accumulations (``None``: only on a terminal).

    Attributes
    ----------
    n : int
        Number of samples ``N``.
    n_out : int
        Width ``C`` of the model output.
    batches : list of (X, T, n_b)
        Backend inputs, float targets ``(n_b, C)`` (one-hot labels for cross-entropy) and sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import mlp, Problem
    >>> X = np.random.default_rng(0).normal(size=(6, 3)); y = np.array([0, 1, 0, 1, 1, 0])
    >>> prob = Problem(mlp([3, 4, 2]), "cross-entropy", (X, y))
    >>> prob.n, prob.n_out, round(float(prob.loss_value()), 6)
    (6, 2, 0.783504)
    """

    def __init__(self, model, loss, data, *, batch_size=None, progress=None):
        if not isinstance(model, Model):
            raise TypeError(f"model must be an rgeom.models.Model (use from_torch / from_jax / "
                            f"from_autograd / mlp), got {type(model).__name__}.")
        self.model, self.loss = model, get_loss(loss)
        self.data = Data.from_any(data, batch_size=batch_size)
        self.backend, self.ops = model.backend, _Ops(model.backend)
        self.progress = progress
        self.n = self.data.n
        self.batches = []
        self.n_out = None
        self._hessian_kernels = None
        for i, (X, y) in enumerate(self.data):
            Xb = model.asarray(X)
            try:
                F = model.apply(model.theta, Xb)
            except ShapeError:
                raise
            except Exception as e:  # the model cannot consume this input
                raise ShapeError(f"model {model.name!r} failed on data batch {i} with X of shape "
                                 f"{np.shape(X)}: {type(e).__name__}: {e}") from e
            if self.n_out is None:
                self.n_out = int(F.shape[1])
            T = self.loss.targets(y, int(F.shape[1]), int(F.shape[0]))
            self.batches.append((Xb, self.backend.asarray(T.astype(self.backend.to_numpy(F).dtype)), int(X.shape[0])))

    @property
    def dim(self):
        """Number of parameters ``D``."""
        return self.model.dim

    def iterate(self, desc=None):
        """The prepared batches, with a progress bar when enabled."""
        return progress(self.batches, total=len(self.batches), desc=desc, enabled=self.progress)

    def _loss_on(self, theta, *data):
        """``L(θ)`` on explicit ``(X, T)`` pairs (so that compiled kernels take the data as arguments)."""
        xp = self.backend.xp
        total = 0.0
        for X, T in data:
            total = total + xp.sum(self.loss.per_sample(self.ops, self.model.apply(theta, X), T))
        return total / self.n

    def objective(self, theta):
        """The data loss ``L(θ)`` (a backend scalar, differentiable in ``theta``)."""
        return self._loss_on(theta, *[(X, T) for X, T, _ in self.batches])

    __call__ = objective

    def loss_value(self, theta=None):
        """``L(θ)`` as a float (default: the model's parameters)."""
        theta = self.model.theta if theta is None else theta
        return float(self.backend.to_numpy(self.objective(theta)))

    def gradient(self, theta=None):
        """``∇L(θ)``, shape ``(D,)`` (backend array)."""
        theta = self.model.theta if theta is None else theta
        return self.backend.grad(self.objective, theta)

    def hvp(self, theta, v):
        """Hessian-vector product ``∇²L(θ) v`` (one forward-over-reverse pass over the data).

        For many products at one point use :meth:`hessian_operator`.
        """
        return self.backend.hvp(self.objective, theta, v)

    def hessian_operator(self, theta=None):
        """``∇²L(θ)`` at one point for many products, sharing the per-point work.

        The backend's fastest kernels (:meth:`rgeom.backend.Backend.hessian_kernels`): torch keeps
        the gradient's graph and runs one backward pass through it per product; JAX compiles the
        linearised gradient once per problem (new points do not recompile) and evaluates only its
        tangent per product, and quadratic forms ``vᵀ∇²L v`` by two nested JVPs. The spectral
        engine uses this when the loss given to :func:`rgeom.flatness` /
        :func:`rgeom.linalg.shape.shape_problem` is a :class:`Problem` or its ``objective``.

        Parameters
        ----------
        theta : backend array, shape (D,), optional
            The point (default: the model's parameters).

        Returns
        -------
        rgeom.backend.PointHessian
            ``gradient`` ``∇L(θ)`` (D,), ``mv(v)`` ``∇²L(θ) v`` and ``quad(v)`` ``vᵀ∇²L(θ) v``, on
            backend arrays.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.models import mlp, Problem
        >>> X = np.random.default_rng(0).normal(size=(6, 3)); y = np.array([0, 1, 0, 1, 1, 0])
        >>> prob = Problem(mlp([3, 4, 2]), "cross-entropy", (X, y))
        >>> H = prob.hessian_operator()
        >>> v = np.ones(prob.dim)
        >>> bool(np.allclose(H.mv(v), prob.hvp(prob.model.theta, v), rtol=1e-12))
        True
        >>> bool(np.isclose(H.quad(v), v @ prob.hvp(prob.model.theta, v), rtol=1e-12))
        True
        """
        theta = self.model.theta if theta is None else theta
        if self._hessian_kernels is None:  # compiled kernels live as long as the problem
            self._hessian_kernels = self.backend.hessian_kernels(self._loss_on)
        return self._hessian_kernels.at(theta, *[(X, T) for X, T, _ in self.batches])

    def accuracy(self, theta=None):
        """Fraction of samples whose arg-max output matches the arg-max target (classification)."""
        theta = self.model.theta if theta is None else theta
        hits = 0
        for X, T, _ in self.batches:
            F = self.backend.to_numpy(self.model.apply(theta, X))
            hits += int(np.sum(F.argmax(1) == self.backend.to_numpy(T).argmax(1)))
        return hits / self.n

    def with_model(self, model):
        """The same loss and data for another model (e.g. a rescaled checkpoint)."""
        return Problem(model, self.loss, self.data, progress=self.progress)

    def __repr__(self):
        return f"Problem({self.model!r}, loss={self.loss.name!r}, N={self.n}, C={self.n_out})"
