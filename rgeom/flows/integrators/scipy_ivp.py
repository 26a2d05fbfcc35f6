"""A bridge to the solvers behind :func:`scipy.integrate.solve_ivp` (``"scipy:RK45"``, …).

The state tuple is flattened into one float64 NumPy vector; the field is evaluated on the
state's backend (jitted once on JAX) and converted back. The solver is stepped exactly as
``solve_ivp`` steps it, so that divergence, ``max_steps`` and ``save_every`` apply as for the
native integrators.
"""

import dataclasses
from typing import ClassVar

import numpy as np

from .base import Integrator

__all__ = ["ScipyIVP", "METHODS"]

#: method -> (declared order, error-estimate order); ``None`` for variable-order methods.
METHODS = {
    "RK23": (3, 2),
    "RK45": (5, 4),
    "DOP853": (8, 7),
    "Radau": (5, 3),
    "BDF": (None, None),
    "LSODA": (None, None),
}


@dataclasses.dataclass(frozen=True)
class ScipyIVP(Integrator):
    """One of scipy's ``solve_ivp`` methods, driven by :func:`rgeom.flows.integrate`.

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.
    options : tuple of (str, value) pairs
        Extra solver options, e.g. ``(("max_step", 0.1),)`` (hashable, hence a tuple).

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.flows import integrate
    >>> sol = integrate(lambda t, y: (-y[0],), (np.array([1.0]),), t1=1.0, integrator="scipy:RK45",
    ...                 rtol=1e-10, atol=1e-12)
    >>> sol.status, bool(abs(sol.y_final[0][0] - np.exp(-1.0)) < 1e-9)
    ('success', True)
    """

    method: str = "RK45"
    options: tuple = ()

    adaptive: ClassVar[bool] = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"scipy method must be one of {sorted(METHODS)}, got {self.method!r}.")
        try:
            dict(self.options)
        except (TypeError, ValueError):
            raise ValueError(f"options must be a tuple of (name, value) pairs, got {self.options!r}.") from None

    @property
    def name(self):
        return f"scipy:{self.method}"

    @property
    def order(self):
        return METHODS[self.method][0]

    @property
    def error_order(self):
        return METHODS[self.method][1]

    @property
    def n_stages(self):
        return getattr(self._solver_class(), "n_stages", 1)

    def _solver_class(self):
        import scipy.integrate

        return getattr(scipy.integrate, self.method)

    def solve(self, field, y0, t0, t1, first_step, rtol, atol, *, bk, jit, save_every, max_steps,
              threshold, dense, bar):
        """Run the scipy solver (called by :func:`rgeom.flows.integrate`); returns a Solution."""
        from ..driver import _bounded, _cached, _diverged_message, _finish, _signature

        sizes = [int(y.shape[0]) for y in y0]
        cuts = np.cumsum(sizes)[:-1]
        if jit:       # compiled once per (field, state shapes), like the native loops
            fun = _cached(("scipy", field, _signature(y0)), lambda: _flat_field(field, bk, y0, cuts, True))
        else:
            fun = _flat_field(field, bk, y0, cuts, False)
        flat0 = np.concatenate([np.asarray(bk.to_numpy(y), dtype=np.float64) for y in y0])
        options = dict(self.options)
        if first_step is not None:
            options["first_step"] = min(first_step, t1 - t0)
        solver = self._solver_class()(fun, t0, flat0, t1, rtol=rtol, atol=atol, **options)
        rk = hasattr(solver, "n_stages") and self.method in ("RK23", "RK45", "DOP853")
        ts, flats, interpolants, n_acc, n_rej = [t0], [flat0], [], 0, 0 if rk else None
        status, message = "success", ""
        while solver.status == "running":
            if n_acc >= max_steps:
                status, message = "max_steps", f"max_steps={max_steps} steps reached at t = {solver.t:.10g}"
                break
            nfev = solver.nfev
            msg = solver.step()
            if solver.status == "failed":
                status, message = "failed", f"{self.name} failed at t = {solver.t:.10g}: {msg}"
                break
            n_acc += 1
            if rk:
                n_rej += (solver.nfev - nfev) // solver.n_stages - 1
            if dense:
                interpolants.append(solver.dense_output())
            bar.update(solver.t - solver.t_old)
            y = np.asarray(solver.y)
            if not _bounded((y,), threshold):
                status, message = "diverged", _diverged_message(solver.t, threshold)
            if status != "success" or n_acc % save_every == 0 or solver.status == "finished":
                ts.append(float(solver.t))
                flats.append(y.copy())
            if status != "success":
                break
        if status in ("max_steps", "failed") and ts[-1] != solver.t:
            ts.append(float(solver.t))
            flats.append(np.asarray(solver.y).copy())
        if status == "success":
            message = f"{self.name}: {n_acc} steps"
        traj = np.stack(flats)
        saved = [[bk.asarray(p)] for p in np.split(traj, cuts, axis=1)]
        y_final = tuple(p[0][-1] for p in saved)
        interp = None
        if dense and interpolants:
            from scipy.integrate import OdeSolution

            interp = _ScipyDense(OdeSolution(np.array([t0] + [s.t for s in interpolants]), interpolants), bk, cuts)
        return _finish(bk, ts, saved, y_final, status, solver.t, n_acc, solver.nfev, n_rej, message, self, interp)


def _flat_field(field, bk, y0, cuts, jit):
    """``fun(t, flat) -> flat`` (NumPy float64) for scipy, evaluating ``field`` on ``bk``."""
    from ..driver import _checked_field

    field = _checked_field(field, y0)
    if jit:
        import jax
        import jax.numpy as jnp

        dtype = jnp.result_type(*y0)

        @jax.jit
        def flat_field(t, flat):
            parts = tuple(jnp.split(flat.astype(dtype), cuts))
            return jnp.concatenate([jnp.asarray(p, dtype=dtype) for p in field(t, parts)])

        return lambda t, y: np.asarray(flat_field(t, y), dtype=np.float64)

    def fun(t, y):
        parts = tuple(bk.asarray(p) for p in np.split(y, cuts))
        return np.concatenate([np.asarray(bk.to_numpy(p), dtype=np.float64) for p in field(float(t), parts)])

    return fun


class _ScipyDense:
    """Wrap scipy's ``OdeSolution`` as a :class:`~rgeom.flows.solution.DenseOutput`."""

    def __init__(self, sol, bk, cuts):
        self.sol, self.bk, self.cuts = sol, bk, cuts

    def __call__(self, ts):
        y = np.asarray(self.sol(ts), dtype=np.float64).T          # (m, n)
        return tuple(self.bk.asarray(p) for p in np.split(y, self.cuts, axis=1))
