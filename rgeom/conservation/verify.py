"""Verification along integrated flows: each law's drift, next to negative controls.

A conservation law must stay constant along an actual trajectory of the flow, on actual data,
up to the integrator's error; a quantity that is not a law (the loss, ``½‖θ‖²``, a law with a
flipped sign...) must visibly move on the same trajectory, or the check proves nothing. The flows
are integrated by :func:`rgeom.flows.integrate` (default ``"scipy:DOP853"`` at tight
tolerances):

* gradient / natural gradient: ``θ̇ = −M(θ)∇L(θ)``;
* heavy-ball momentum: ``θ̇ = v, v̇ = −τv − M∇L, ṡ = τs`` (``ṫ = 1`` when ``τ = 0``), the state
  ``z = (θ, v, s)`` of :meth:`Generators.momentum`.
"""

import dataclasses
import time

import numpy as np

from ..backend import get_backend
from ._batch import float64, to_backend, to_numpy

__all__ = ["Verification", "verify_laws", "mse_loss"]


def mse_loss(arch, *, n_data=16, seed=0, backend=None):
    """``L(θ) = ½ mean‖model(θ, X) − Y‖²`` of an architecture on random data ``X, Y ~ N(0, 1)``.

    Returns
    -------
    loss : callable
        ``θ -> scalar`` on the backend.
    data : (ndarray, ndarray)

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.conservation import architectures
    >>> from rgeom.conservation.verify import mse_loss
    >>> loss, (X, Y) = mse_loss(architectures.linear_network([2, 2, 2]), n_data=5)
    >>> X.shape, Y.shape, bool(np.isclose(loss(np.zeros(8)), 0.5 * np.mean(np.sum(Y ** 2, 1))))
    ((5, 2), (5, 2), True)
    """
    bk = get_backend(backend)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(n_data),) + tuple(arch.input_shape))
    y0 = np.asarray(arch.model(rng.standard_normal(arch.dim), X, np))
    Y = rng.standard_normal(y0.shape)

    def loss(theta):
        xp = bk.xp
        r = arch.model(theta, bk.asarray(X), xp) - bk.asarray(Y)
        return 0.5 * xp.sum(r * r) / X.shape[0]

    return loss, (X, Y)


@dataclasses.dataclass(frozen=True)
class Verification:
    """Drifts of laws and controls along one integrated trajectory.

    Attributes
    ----------
    flow : str
    law_names, control_names : tuple of str
    drift : ndarray
        ``max_t |h(z(t)) − h(z(0))|`` per law (absolute, in the law's units).
    relative_drift : ndarray
        ``drift / max(1, max_t |h(z(t))|)``.
    control_drift, control_relative_drift : ndarray
        The same for the controls.
    loss_start, loss_end : float
    status : str
        The integrator's status (``"success"`` expected).
    integrator : str
    rtol, atol, t1 : float
    n_steps : int
    seconds : float
    ts : ndarray, shape (n_saved,)
        Saved times of the trajectory.
    law_values, control_values : ndarray, shape (n_saved, n)
        The laws and controls along it.
    """

    flow: str
    law_names: tuple
    control_names: tuple
    drift: np.ndarray
    relative_drift: np.ndarray
    control_drift: np.ndarray
    control_relative_drift: np.ndarray
    loss_start: float
    loss_end: float
    status: str
    integrator: str
    rtol: float
    atol: float
    t1: float
    n_steps: int
    seconds: float
    ts: np.ndarray = dataclasses.field(default=None, repr=False)
    law_values: np.ndarray = dataclasses.field(default=None, repr=False)
    control_values: np.ndarray = dataclasses.field(default=None, repr=False)

    @property
    def max_drift(self):
        """Largest relative drift of the laws (0 without laws)."""
        return float(np.max(self.relative_drift, initial=0.0))

    @property
    def min_control_drift(self):
        """Smallest relative drift of the controls (``inf`` without controls)."""
        return float(np.min(self.control_relative_drift, initial=np.inf))

    def passed(self, tol=1e-8, control_min=1e-3):
        """Integration succeeded, every law drifted ``< tol`` and every control ``> control_min``."""
        return self.status == "success" and self.max_drift < tol and self.min_control_drift > control_min

    def as_dict(self):
        """JSON-friendly summary."""
        return {"flow": self.flow, "laws": dict(zip(self.law_names, map(float, self.relative_drift))),
                "controls": dict(zip(self.control_names, map(float, self.control_relative_drift))),
                "max_law_drift": self.max_drift, "min_control_drift": self.min_control_drift,
                "loss_start": self.loss_start, "loss_end": self.loss_end, "status": self.status,
                "integrator": self.integrator, "rtol": self.rtol, "atol": self.atol, "t1": self.t1,
                "n_steps": self.n_steps, "seconds": round(self.seconds, 4)}

    def summary(self):
        """Readable lines: one per law and control."""
        lines = [f"{self.flow} flow, {self.integrator} (rtol {self.rtol:g}, atol {self.atol:g}) "
                 f"to t = {self.t1:g}: {self.status}, {self.n_steps} steps, "
                 f"loss {self.loss_start:.6g} -> {self.loss_end:.6g}"]
        laws = zip(self.law_names, self.relative_drift)
        controls = zip(self.control_names, self.control_relative_drift)
        lines += [f"  law      drift {d:9.2e}   {n}" for n, d in laws]
        lines += [f"  control  drift {d:9.2e}   {n}" for n, d in controls]
        return "\n".join(lines)


def _values(fn, Z):
    return np.array([np.asarray(fn(z), dtype=np.float64).reshape(-1) for z in Z])


def _drifts(vals):
    if vals.shape[1] == 0:
        return np.zeros(0), np.zeros(0)
    d = np.max(np.abs(vals - vals[0]), axis=0)
    return d, d / np.maximum(1.0, np.max(np.abs(vals), axis=0))


def verify_laws(loss, theta0, laws, *, law_names=None, controls=None, control_names=None, flow="gradient",
                metric=None, inverse_metric=None, damping=1.0, v0=None, t1=1.0, integrator="scipy:DOP853",
                rtol=1e-12, atol=1e-12, backend=None, max_steps=100_000):
    """Integrate a flow of ``loss`` from ``theta0`` and measure how much each law drifts.

    Parameters
    ----------
    loss : callable
        ``θ -> scalar`` on the backend.
    theta0 : array, shape (D,)
    laws : callable or PolynomialLaws
        ``z -> (n,)`` values on NumPy arrays (``z = θ``; ``z = (θ, v, s)`` for momentum), or the
        result of :func:`rgeom.conservation.polynomial_laws`.
    law_names : sequence of str, optional
    controls : callable, optional
        ``z -> (m,)`` quantities that must *not* be conserved. Default: the loss and ``½‖θ‖²``.
    control_names : sequence of str, optional
    flow : str
        ``"gradient"``, ``"natural"`` (needs ``metric`` or ``inverse_metric``) or ``"momentum"``.
    metric, inverse_metric
        As in :func:`rgeom.conservation.from_phi`.
    damping : float
        ``τ`` of the momentum flow.
    v0 : array, optional
        Initial velocity (momentum; default zero).
    t1 : float
    integrator, rtol, atol, max_steps
        Passed to :func:`rgeom.flows.integrate`.
    backend : None, str or Backend

    Returns
    -------
    Verification

    Examples
    --------
    Balancedness of a two-layer linear network along its gradient flow under MSE:

    >>> import numpy as np
    >>> from rgeom.conservation import architectures, verify_laws
    >>> from rgeom.conservation.verify import mse_loss
    >>> arch = architectures.linear_network([2, 2, 2])
    >>> loss, _ = mse_loss(arch)
    >>> res = verify_laws(loss, np.random.default_rng(1).standard_normal(8),
    ...                   lambda th: arch.known_laws(th, np))
    >>> res.status, res.max_drift < 1e-9, res.min_control_drift > 1e-2
    ('success', True, True)
    """
    from ..flows import integrate
    from .generators import _inverse_metric

    t_start = time.perf_counter()
    if flow not in ("gradient", "natural", "momentum"):
        raise ValueError(f"flow must be 'gradient', 'natural' or 'momentum', got {flow!r}.")
    inv = _inverse_metric(metric, inverse_metric)
    if flow == "natural" and inv is None:
        raise ValueError("flow='natural' needs metric= or inverse_metric=.")
    bk = get_backend(backend)
    theta0 = np.asarray(theta0, dtype=np.float64).reshape(-1)
    D = theta0.size
    if hasattr(laws, "evaluate") and hasattr(laws, "expressions"):
        law_names = law_names or tuple(laws.expressions())
        laws = laws.evaluate
    if not callable(laws):
        raise TypeError("laws must be a callable z -> values or a PolynomialLaws result.")
    tau = float(damping)

    def descent(theta):
        g = bk.grad(loss, theta)
        return g if inv is None else inv(theta, g)

    with float64(bk):
        if flow == "momentum":
            v0 = np.zeros(D) if v0 is None else np.asarray(v0, dtype=np.float64).reshape(-1)
            y0 = (to_backend(bk, theta0), to_backend(bk, v0), to_backend(bk, [1.0 if tau else 0.0]))

            def field(t, y):
                theta, v, c = y
                return (v, -tau * v - descent(theta), tau * c if tau else 0 * c + 1)
        else:
            y0 = (to_backend(bk, theta0),)

            def field(t, y):
                return (-descent(y[0]),)

        sol = integrate(field, y0, t1=float(t1), integrator=integrator, rtol=rtol, atol=atol, backend=bk,
                        max_steps=max_steps)
        Z = np.concatenate([to_numpy(bk, y) for y in sol.ys], axis=1)
        loss_vals = np.array([float(to_numpy(bk, loss(to_backend(bk, z[:D])))) for z in Z])
    hv = _values(laws, Z)
    if controls is None:
        cv = np.stack([loss_vals, 0.5 * np.sum(Z[:, :D] ** 2, axis=1)], axis=1)
        control_names = control_names or ("loss L(θ)", "½‖θ‖²")
    else:
        cv = _values(controls, Z)
    law_names = tuple(law_names) if law_names is not None else tuple(f"law {i}" for i in range(hv.shape[1]))
    control_names = tuple(control_names) if control_names is not None else tuple(
        f"control {i}" for i in range(cv.shape[1]))
    d, rd = _drifts(hv)
    cd, crd = _drifts(cv)
    return Verification(flow, law_names, control_names, d, rd, cd, crd, float(loss_vals[0]),
                        float(loss_vals[-1]), sol.status, sol.integrator, float(rtol), float(atol),
                        float(t1), int(sol.n_steps), time.perf_counter() - t_start, np.asarray(sol.ts),
                        hv, cv)
