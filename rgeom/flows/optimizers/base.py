"""The optimizer interface: a vector field on a declared state, run by an integrator.

An optimizer's state is a tuple of 1-D arrays; :attr:`Optimizer.components` says what each one
is, so it can be carried between charts ``θ = g(ψ)``:

============  ==================================  ==========================
kind          example                             ψ-components → θ-components
============  ==================================  ==========================
``point``     the parameters θ                    ``g(ψ)``
``vector``    a velocity (momentum methods)       ``J u``
``covector``  a gradient average (Adam's ``m``)   ``J⁻ᵀ w``
``none``      Adam's ``v``, Shampoo's ``L, R``    no tensorial rule
============  ==================================  ==========================

The usual discrete update is **one explicit Euler step of the field with step size = learning
rate**; hyper-parameters that the literature states per step (momentum ``β``, EMA rates) are
re-expressed as rates per unit time so that the flow has a limit as ``lr → 0``
(``β = 1 − γ·lr``); :meth:`Optimizer.hyper` converts back.
"""

import dataclasses
import math
from typing import ClassVar

import numpy as np

from ..._checks import check_vector, concrete
from ...backend import get_backend
from ...errors import ConvergenceError, RgeomError, ShapeError, TensorTypeError

__all__ = ["Component", "Optimizer", "KINDS", "UnsupportedMapError", "check_lr", "map_state"]

#: The kinds a state component can have.
KINDS = ("point", "vector", "covector", "none")


@dataclasses.dataclass(frozen=True)
class Component:
    """One entry of an optimizer's state: its name and tensorial kind (one of :data:`KINDS`)."""

    name: str
    kind: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Component {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}.")


class UnsupportedMapError(RgeomError, ValueError):
    """An optimizer has no meaning in the chart of this map (e.g. K-FAC under a map that mixes layers)."""


def check_lr(lr, name="lr"):
    """Return ``lr`` as a float after checking that it is finite and ``> 0``.

    Examples
    --------
    >>> check_lr(0.1)
    0.1
    >>> check_lr(0.0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0 (the step size of the Euler step), got 0.0.
    """
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0, got {lr!r}.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 (the step size of the Euler step), got {lr!r}.")
    return value


def _check_steps(n_steps):
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
    return int(n_steps)


class Optimizer:
    """An optimizer as a vector field on its state (abstract; subclasses are frozen dataclasses).

    Subclasses set :attr:`name` and :attr:`components` and implement :meth:`field` (and
    :meth:`init` when the state has more than θ). Discrete schemes that are not Euler steps of a
    field (Riemannian GD by the exponential map, the geodesic-corrected step) set
    ``discrete = True`` and implement :meth:`step`.

    Attributes
    ----------
    name : str
        Registry name (:func:`rgeom.flows.optimizers.get`).
    components : tuple of Component
        The state, in order; the first is always the point θ.
    discrete : bool
        Whether :meth:`run` uses :meth:`step` instead of integrating :meth:`field`.
    """

    name: ClassVar[str] = "abstract"
    components: ClassVar[tuple] = (Component("theta", "point"),)
    discrete: ClassVar[bool] = False

    # --- the state and its field ------------------------------------------------------------------
    def init(self, loss, theta, *, backend=None):
        """The initial state at ``theta`` (a tuple of 1-D arrays matching :attr:`components`)."""
        return (theta,)

    def field(self, loss, *, lr=None, backend=None):
        """The vector field ``f(t, state) -> tuple`` of the optimizer's flow for ``loss``.

        ``lr`` is only used by fields that depend on the step size (Nesterov's look-ahead).
        """
        raise NotImplementedError

    def hyper(self, lr):
        """The classical per-step hyper-parameters at learning rate ``lr`` (a dict).

        Raises ``ValueError`` when ``lr`` is too large for the rates (``β = 1 − γ·lr <= 0``).
        """
        return {"lr": check_lr(lr)}

    def step(self, loss, state, lr, *, backend=None):
        """One discrete update of size ``lr`` (discrete schemes only); returns the new state."""
        raise NotImplementedError(f"{type(self).__name__} is a flow: run it through its field().")

    # --- charts -----------------------------------------------------------------------------------
    def pullback(self, g, *, dim=None):
        """The same algorithm in the chart ψ of ``θ = g(ψ)`` (what a user would run there).

        Chart-blind optimizers return themselves; those with a metric return a copy whose metric
        is pulled back along ``g``. ``dim`` is the dimension of θ (used when no metric is set).
        """
        return self

    # --- running ----------------------------------------------------------------------------------
    def run(self, loss, theta0, lr, n_steps, *, integrator=None, backend=None, save_every=1,
            divergence_threshold=None, progress=False, **options):
        """Run ``n_steps`` updates of size ``lr`` from ``theta0``.

        Parameters
        ----------
        loss : callable
            ``θ (d,) -> scalar`` on the backend of ``theta0``.
        theta0 : array, shape (d,)
        lr : float
            Learning rate = step size ``dt`` of the integrator (``> 0``).
        n_steps : int
            Number of steps; the run covers the time interval ``[0, lr · n_steps]``.
        integrator : None, str or Integrator
            ``None`` is the optimizer's own discrete update (Euler for flows). Other names are
            handed to :func:`rgeom.flows.integrate` (``"heun"``, ``"rk4"``, …); discrete
            schemes accept only ``None``/``"euler"``.
        backend, save_every, divergence_threshold, progress, **options
            Passed to :func:`rgeom.flows.integrate`.

        Returns
        -------
        Solution
            ``ys[0]`` is the θ trajectory, shape ``(n_saved, d)``, ``θ₀`` included; ``status``
            says ``"success"``, ``"diverged"`` (with ``t_reached``) or ``"failed"``.

        Raises
        ------
        ValueError
            If ``lr <= 0``, ``n_steps`` is not a positive integer, or ``lr`` is too large for
            the optimizer's rates.
        """
        lr = check_lr(lr)
        n_steps = _check_steps(n_steps)
        theta0 = check_vector(theta0, "theta0")
        self.hyper(lr)
        bk = get_backend(backend, theta0)
        state = self.init(loss, theta0, backend=bk)
        if self.discrete:
            if integrator not in (None, "euler"):
                raise ValueError(
                    f"{type(self).__name__} is a discrete scheme, not a flow: integrator must be None, "
                    f"got {integrator!r}. Its flow is natural gradient's: use get('ngd', ...)."
                )
            return _run_discrete(self, loss, state, lr, n_steps, bk, save_every, divergence_threshold,
                                 progress)
        from ..driver import integrate

        kwargs = dict(dt=lr, n_steps=n_steps, integrator=integrator or "euler", backend=bk,
                      save_every=save_every, progress=progress, **options)
        if divergence_threshold is not None:
            kwargs["divergence_threshold"] = divergence_threshold
        return integrate(self.field(loss, lr=lr, backend=bk), state, **kwargs)

    def __repr__(self):
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)) \
            if dataclasses.is_dataclass(self) else ""
        return f"{type(self).__name__}({fields})"


def _finite_and_bounded(state, threshold):
    for a in state:
        a = concrete(a)
        if a is not None and a.size and not np.abs(a).max() <= threshold:     # NaN compares False
            return False
    return True


def _run_discrete(opt, loss, state, lr, n_steps, bk, save_every, threshold, progress):
    """Loop :meth:`Optimizer.step` and package the result like :func:`rgeom.flows.integrate`."""
    from ...linalg._progress import progress_bar
    from ..solution import Solution

    threshold = 1e12 if threshold is None else float(threshold)
    saved, ts = [state], [0.0]
    status, message, k = "success", f"{n_steps} steps of {type(opt).__name__} with lr = {lr:g}", 0
    with progress_bar(n_steps, type(opt).__name__, progress) as bar:
        for k in range(1, n_steps + 1):
            try:
                new = tuple(opt.step(loss, state, lr, backend=bk))
            except (ConvergenceError, np.linalg.LinAlgError, FloatingPointError) as err:
                status, message, k = "failed", f"step {k} failed at t = {(k - 1) * lr:.6g}: {err}", k - 1
                break
            state = new
            bar.update(1)
            if not _finite_and_bounded(state, threshold):
                status = "diverged"
                message = (f"the state became non-finite or exceeded {threshold:g} in absolute value "
                           f"at t = {k * lr:.6g}")
            if status != "success" or k % save_every == 0 or k == n_steps:
                saved.append(state)
                ts.append(k * lr)
            if status != "success":
                break
    ys = tuple(bk.xp.stack([s[i] for s in saved]) for i in range(len(state)))
    return Solution(ts=np.asarray(ts, dtype=np.float64), ys=ys, y_final=tuple(state), status=status,
                    t_reached=float(ts[-1]), n_steps=k, n_field_evals=k, message=message,
                    integrator=f"{opt.name}.step", order=None)


def map_state(optimizer, g, psi_state):
    """Carry a state from the chart ψ to the chart θ of ``θ = g(ψ)``, component by component.

    Points by ``g``, vectors by ``J u``, covectors by ``J⁻ᵀ w``.

    Raises
    ------
    TensorTypeError
        For a component of kind ``"none"`` (it has no transformation rule).

    Examples
    --------
    >>> import numpy as np, rgeom
    >>> from rgeom.flows.optimizers import get
    >>> opt = get("heavy_ball")
    >>> state = (np.array([2.0, 0.0]), np.array([0.0, 1.0]))   # (r, φ) and a velocity dφ
    >>> [x.round(12).tolist() for x in map_state(opt, rgeom.maps.Polar(), state)]
    [[2.0, 0.0], [0.0, 2.0]]
    """
    if len(psi_state) != len(optimizer.components):
        raise ShapeError(f"{optimizer!r} has {len(optimizer.components)} state components, "
                         f"got {len(psi_state)}.")
    psi = psi_state[0]
    out = []
    for comp, x in zip(optimizer.components, psi_state):
        if comp.kind == "point":
            out.append(g(x))
        elif comp.kind == "vector":
            out.append(g.jvp(psi, x))
        elif comp.kind == "covector":
            out.append(g.inverse_vjp(g(psi), x))
        else:
            raise TensorTypeError(
                f"state component {comp.name!r} of {type(optimizer).__name__} has no tensorial rule "
                "(kind 'none'): it cannot be carried to another chart."
            )
    return tuple(out)
