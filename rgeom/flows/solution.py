"""The result of :func:`rgeom.flows.integrate`: trajectory, counts, status, dense output."""

import dataclasses
from typing import Optional

import numpy as np

from ..errors import ConvergenceError

__all__ = ["Solution", "DenseOutput", "RungeKuttaDense"]

STATUSES = ("success", "diverged", "max_steps", "failed")


@dataclasses.dataclass(frozen=True)
class Solution:
    """A trajectory of ``ẏ = field(t, y)`` and how it was obtained.

    Attributes
    ----------
    ts : ndarray, shape (n_saved,)
        Saved times (NumPy float64), ``ts[0] = t0``.
    ys : tuple of arrays
        Per state component, the saved states stacked: shape ``(n_saved, d_i)``, on the state's
        backend; ``ys[i][0]`` is the initial state.
    y_final : tuple of arrays
        The last state reached (the diverged one when ``status == "diverged"``).
    status : str
        ``"success"`` (reached ``t1`` / ran every step), ``"diverged"`` (a state entry became
        non-finite or exceeded ``divergence_threshold``), ``"max_steps"`` or ``"failed"`` (the
        adaptive step size underflowed, or the field is non-finite at the start).
    t_reached : float
        Time of ``y_final``.
    n_steps : int
        Accepted steps.
    n_field_evals : int
        Evaluations of the vector field (including those of the starting-step heuristic).
    n_rejected : int or None
        Rejected steps of an adaptive integrator (0 for fixed steps; ``None`` when the scipy
        solver does not report it).
    message : str
        Human-readable summary or reason for stopping.
    integrator : str
        Name of the integrator.
    order : int or None
        Its declared order.
    dense : DenseOutput or None
        The interpolant behind :meth:`interpolate` (``None`` without dense output).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows import integrate
    >>> sol = integrate(lambda t, y: (-y[0],), (np.array([1.0]),), dt=0.5, n_steps=2)
    >>> sol.ts.tolist(), sol.ys[0][:, 0].tolist(), sol.success
    ([0.0, 0.5, 1.0], [1.0, 0.5, 0.25], True)
    """

    ts: np.ndarray
    ys: tuple
    y_final: tuple
    status: str
    t_reached: float
    n_steps: int
    n_field_evals: int
    n_rejected: Optional[int] = 0
    message: str = ""
    integrator: str = ""
    order: Optional[int] = None
    dense: object = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}.")

    @property
    def success(self):
        """Whether the run reached its end (``status == "success"``)."""
        return self.status == "success"

    def check(self):
        """Return ``self`` if the run succeeded, else raise :class:`~rgeom.errors.ConvergenceError`.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.flows import integrate
        >>> sol = integrate(lambda t, y: (y[0] ** 2,), (np.array([1.0]),), dt=0.1, n_steps=100)
        >>> sol.status
        'diverged'
        >>> sol.check()
        Traceback (most recent call last):
        ...
        rgeom.errors.ConvergenceError: euler run diverged: the state became non-finite or exceeded 1e+12 in absolute value at t = 1.7
        """
        if not self.success:
            raise ConvergenceError(f"{self.integrator} run {self.status.replace('_', ' ')}: {self.message}")
        return self

    def interpolate(self, t):
        """The state at time(s) ``t`` from the dense output.

        Parameters
        ----------
        t : float or array_like, shape (m,)
            Times in ``[ts[0], t_reached]``.

        Returns
        -------
        tuple of arrays
            Per component, shape ``(d_i,)`` for a scalar ``t``, ``(m, d_i)`` otherwise.

        Raises
        ------
        ValueError
            Without dense output (only ``dopri5`` with ``save_every=1`` and the scipy solvers
            with ``dense_output=True`` keep one), or for ``t`` outside the integrated interval.
        """
        if self.dense is None:
            raise ValueError(
                f"this {self.integrator or 'integrator'} solution has no dense output: integrate with "
                "integrator='dopri5' and save_every=1 (or a scipy solver with dense_output=True)."
            )
        tt = np.asarray(t, dtype=np.float64)
        scalar = tt.ndim == 0
        tt = np.atleast_1d(tt)
        if tt.ndim != 1:
            raise ValueError(f"t must be a scalar or a 1-D array of times, got shape {tt.shape}.")
        lo, hi = float(self.ts[0]), float(self.t_reached)
        span = max(abs(lo), abs(hi), 1.0) * 1e-12
        if np.any(~np.isfinite(tt)) or np.any(tt < lo - span) or np.any(tt > hi + span):
            raise ValueError(f"t must lie in the integrated interval [{lo:g}, {hi:g}], got {t!r}.")
        out = self.dense(np.clip(tt, lo, hi))
        return tuple(o[0] for o in out) if scalar else out

    def __repr__(self):
        shapes = [tuple(y.shape) for y in self.ys]
        return (f"Solution(status={self.status!r}, t_reached={self.t_reached:g}, n_steps={self.n_steps}, "
                f"n_field_evals={self.n_field_evals}, n_rejected={self.n_rejected}, "
                f"integrator={self.integrator!r}, ys shapes={shapes})")


class DenseOutput:
    """An interpolant ``t ↦ y(t)`` (abstract): ``__call__(ts)`` with ``ts`` a NumPy float64 array
    of shape ``(m,)`` inside the integrated interval returns a tuple of arrays ``(m, d_i)``."""

    def __call__(self, ts):
        raise NotImplementedError


class RungeKuttaDense(DenseOutput):
    """Piecewise dense output of an adaptive Runge–Kutta run, one polynomial per accepted step.

    Holds the step end points ``ys``, the field there ``fs`` and the integrator's per-step
    coefficient ``r5s``; the integrator's ``dense_eval`` evaluates the polynomial.
    """

    def __init__(self, integrator, backend, ts, ys, fs, r5s):
        self.integrator, self.backend = integrator, backend
        self.ts, self.ys, self._fs, self._r5s = ts, ys, fs, r5s

    @property
    def fs(self):
        """The field at the step end points, per component ``(n_steps + 1, d_i)`` (backend arrays)."""
        self._fs = tuple(map(self.backend.asarray, self._fs))      # host arrays are converted once
        return self._fs

    @property
    def r5s(self):
        """The per-step dense-output coefficients, per component ``(n_steps, d_i)``."""
        self._r5s = tuple(map(self.backend.asarray, self._r5s))
        return self._r5s

    def _take(self, a, idx):
        if self.backend.name == "torch":
            import torch

            return a[torch.as_tensor(idx)]
        return a[idx]

    def __call__(self, ts):
        bk = self.backend
        i = np.clip(np.searchsorted(self.ts, ts, side="right") - 1, 0, self.ts.size - 2)
        h = self.ts[i + 1] - self.ts[i]
        theta = bk.asarray(((ts - self.ts[i]) / h)[:, None])
        h = bk.asarray(h[:, None])
        out = []
        for y, f, r in zip(self.ys, self.fs, self.r5s):
            out.append(self.integrator.dense_eval(theta, h, self._take(y, i), self._take(y, i + 1),
                                                  self._take(f, i), self._take(f, i + 1), self._take(r, i)))
        return tuple(out)
