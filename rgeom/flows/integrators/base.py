"""The integrator interface and the tuple arithmetic every integrator is built from.

A *state* is a tuple of 1-D backend arrays and a *vector field* is ``field(t, state) -> tuple``
of the same shapes. Integrators never look inside the arrays: they combine whole tuples with
``+`` and ``*`` (which every backend overloads), so one implementation serves autograd (NumPy),
JAX (traced under ``jit``) and torch.
"""

import dataclasses
from typing import ClassVar, Optional

__all__ = ["Integrator", "FixedStep", "Adaptive", "lincomb", "error_norm"]


def lincomb(y, h, coeffs, ks):
    """``y + h Σⱼ cⱼ kⱼ`` component by component (zero coefficients are skipped).

    Parameters
    ----------
    y : tuple of arrays
        The base state.
    h : float or backend scalar
        Step size.
    coeffs : sequence of float
        One coefficient per stage.
    ks : sequence of tuples
        The stages ``kⱼ`` (each a state-shaped tuple).

    Returns
    -------
    tuple of arrays
        Same shapes as ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> y = (np.array([1.0, 2.0]),)
    >>> k1, k2 = (np.array([1.0, 0.0]),), (np.array([0.0, 1.0]),)
    >>> lincomb(y, 0.5, [2.0, 4.0], [k1, k2])[0].tolist()
    [2.0, 4.0]
    """
    out = []
    for i, yi in enumerate(y):
        acc = None
        for c, k in zip(coeffs, ks):
            if c == 0:
                continue
            term = k[i] if c == 1 else c * k[i]
            acc = term if acc is None else acc + term
        out.append(yi if acc is None else yi + h * acc)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Integrator:
    """An ODE integrator for ``ẏ = field(t, y)`` (abstract).

    Instances are small immutable (hashable) strategy objects; :func:`rgeom.flows.integrate`
    drives them. Concrete classes set the class attributes below.

    Attributes
    ----------
    name : str
        Registry name (:func:`rgeom.flows.integrators.get`).
    order : int or None
        Declared global order ``p``: the error at a fixed final time is ``O(hᵖ)``
        (``None`` for variable-order methods).
    adaptive : bool
        Whether the step size is chosen by error control (``t1`` and tolerances) instead of
        being fixed (``dt``).
    error_order : int or None
        Order of the embedded error estimate of adaptive methods (``None`` for fixed-step ones).
    n_stages : int
        Field evaluations per (attempted) step.
    """

    name: ClassVar[str] = "abstract"
    order: ClassVar[Optional[int]] = None
    adaptive: ClassVar[bool] = False
    error_order: ClassVar[Optional[int]] = None
    n_stages: ClassVar[int] = 1

    def describe(self):
        """One line: name, order, adaptive or fixed-step, evaluations per step."""
        kind = f"adaptive, error order {self.error_order}" if self.adaptive else "fixed step"
        return f"{self.name}: order {self.order}, {kind}, {self.n_stages} field evaluation(s) per step"


class FixedStep(Integrator):
    """A one-step method with a fixed step size (abstract): implement :meth:`step`.

    Explicit Runge–Kutta methods may also declare their Butcher tableau ``(c, A, b)``
    (:attr:`tableau`); under JAX the driver then evaluates the stages in a loop with a single
    call site of the field, so the field is traced and compiled once instead of once per stage.
    :meth:`step` remains the definition (the tests check that both agree).
    """

    tableau: ClassVar[Optional[tuple]] = None

    def step(self, field, t, y, h):
        """Advance the state ``y`` (tuple) at time ``t`` by one step of size ``h``; returns a tuple."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Adaptive(Integrator):
    """An embedded Runge–Kutta pair with error control (abstract).

    Subclasses implement :meth:`attempt` (one trial step from the first-same-as-last stage
    ``f0 = field(t, y)``) and, when they provide dense output, :meth:`dense_coefficient`.

    Step-size control (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4; Söderlind's PI
    control): with the error norm ``e`` of the trial step and ``e_prev`` of the last accepted
    one, a step is accepted when ``e ≤ 1`` and the next step is ``h·factor`` with
    ``factor = clip(safety · e^(-α) · e_prev^β, min_factor, max_factor)``,
    ``α = 1/(q+1) − 0.75 β`` (``q`` = :attr:`error_order`); after a rejection the step is not
    increased. ``beta = 0`` (the default) is the elementary controller of
    :func:`scipy.integrate.solve_ivp`, so that ``Dopri5()`` takes exactly the steps of scipy's
    ``RK45``; ``beta = 0.04`` is Hairer's PI setting (smoother step sequences).

    Parameters
    ----------
    safety : float
        Safety factor ``< 1``.
    min_factor, max_factor : float
        Bounds on the step-size ratio.
    beta : float
        Weight of the previous error (PI control; 0 = elementary, Hairer's DOPRI5 uses 0.04).
    """

    safety: float = 0.9
    min_factor: float = 0.2
    max_factor: float = 10.0
    beta: float = 0.0

    adaptive: ClassVar[bool] = True
    #: ``(c, A, b, e, d)``: nodes, stage matrix (last row = ``b``, FSAL), weights, error weights
    #: ``b − b̂`` and dense-output weights; lets the JAX driver loop over stages (see FixedStep).
    tableau: ClassVar[Optional[tuple]] = None

    def __post_init__(self):
        if not (0 < self.safety < 1):
            raise ValueError(f"safety must be in (0, 1), got {self.safety!r}.")
        if not (0 < self.min_factor < 1 < self.max_factor):
            raise ValueError(f"need 0 < min_factor < 1 < max_factor, got {self.min_factor!r}, {self.max_factor!r}.")
        if not (0 <= self.beta < 1 / (self.error_order + 1)):
            raise ValueError(f"beta must be in [0, 1/(error_order+1)), got {self.beta!r}.")

    def attempt(self, field, t, y, f0, h):
        """One trial step: returns ``(y1, f1, err, stages)``.

        ``y1`` is the propagated solution, ``f1 = field(t + h, y1)`` (first same as last),
        ``err`` the embedded error estimate (a tuple shaped like ``y``) and ``stages`` the
        internal stages (for dense output).
        """
        raise NotImplementedError

    def step(self, field, t, y, h):
        """One step of the propagated (highest-order) formula with a fixed step ``h``."""
        return self.attempt(field, t, y, field(t, y), h)[0]

    def dense_coefficient(self, h, stages):
        """The per-step dense-output coefficient (a state-shaped tuple), or ``None``."""
        return None

    def control(self, err_norm, err_prev, rejected_last, ops):
        """Accept or reject a trial step and choose the next step-size ratio.

        Parameters
        ----------
        err_norm : scalar
            RMS error norm of the trial step (see :func:`error_norm`); NaN/inf rejects.
        err_prev : scalar
            Error norm of the last accepted step (``1`` initially).
        rejected_last : bool scalar
            Whether the previous attempt was rejected (the step is then not increased).
        ops : module
            ``numpy`` for Python floats, ``jax.numpy`` under ``jit``.

        Returns
        -------
        accept : bool scalar
        factor : scalar
            Next step size divided by the current one.
        """
        alpha = 1.0 / (self.error_order + 1) - 0.75 * self.beta
        finite = ops.isfinite(err_norm)
        positive = finite & (err_norm > 0)
        safe = ops.where(positive, err_norm, 1.0)
        base = self.safety * safe ** (-alpha)
        grow = ops.where(positive, base * err_prev ** self.beta, self.max_factor)
        grow = ops.clip(grow, self.min_factor, self.max_factor)
        grow = ops.where(rejected_last, ops.minimum(grow, 1.0), grow)
        shrink = ops.where(finite, ops.clip(base, self.min_factor, self.safety), self.min_factor)
        accept = finite & (err_norm <= 1.0)
        return accept, ops.where(accept, grow, shrink)


def error_norm(err, y0, y1, rtol, atol, xp):
    """RMS of ``err / (atol + rtol · max(|y0|, |y1|))`` over every entry of every component.

    The norm of :func:`scipy.integrate.solve_ivp`, taken over the concatenated state; a step is
    acceptable when it is ``≤ 1``.

    Examples
    --------
    >>> import numpy as np
    >>> y = (np.array([1.0, 1.0]), np.array([0.0]))
    >>> err = (np.array([1e-6, 1e-6]), np.array([1e-6]))
    >>> round(float(error_norm(err, y, y, 1e-6, 1e-6, np)), 6)   # sqrt((1/4 + 1/4 + 1)/3)
    0.707107
    """
    total, n = 0.0, 0
    for e, a, b in zip(err, y0, y1):
        scale = atol + rtol * xp.maximum(xp.abs(a), xp.abs(b))
        total = total + xp.sum((e / scale) ** 2)
        n += int(e.shape[0])
    return (total / max(n, 1)) ** 0.5
