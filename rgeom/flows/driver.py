"""One driver, :func:`integrate`, for every integrator and every backend.

On JAX the loop itself is compiled: fixed-step integrators run as one ``lax.while_loop`` per
chunk of saved states, the adaptive ones as one ``lax.while_loop`` per chunk of accepted steps,
each jitted once per (field, integrator, options) and reused for every call with the same state
shapes (no per-step Python dispatch, no per-step recompilation). On autograd (NumPy) and torch
the loop is plain Python. scipy's solvers are bridged in
:mod:`rgeom.flows.integrators.scipy_ivp`.
"""

import collections
import math

import numpy as np

from .._checks import check_vector
from ..backend import get_backend
from ..linalg._progress import progress_bar
from . import integrators as _integrators
from .integrators.base import Adaptive, FixedStep, error_norm
from .integrators.scipy_ivp import ScipyIVP
from .solution import Solution

__all__ = ["integrate"]

#: States saved per compiled chunk (a power of two ≤ this, so few buffer shapes are compiled).
_CHUNK = 64
_JIT_CACHE = collections.OrderedDict()
_JIT_CACHE_SIZE = 16

_RUNNING, _SUCCESS, _DIVERGED, _MAX_STEPS, _FAILED = range(5)
_STATUS = {_SUCCESS: "success", _DIVERGED: "diverged", _MAX_STEPS: "max_steps", _FAILED: "failed"}


def integrate(field, y0, *, t0=0.0, t1=None, dt=None, n_steps=None, integrator="euler", rtol=1e-6,
              atol=1e-9, backend=None, jit=True, save_every=1, max_steps=100_000,
              divergence_threshold=1e12, progress=False, dense_output=None):
    """Integrate ``ẏ = field(t, y)`` from ``y(t0) = y0``.

    Parameters
    ----------
    field : callable
        ``field(t, state) -> tuple``: the vector field; ``state`` is a tuple of 1-D arrays and the
        result a tuple of the same shapes (``t`` is a Python float, or a traced scalar on JAX).
    y0 : tuple of arrays
        Initial state, e.g. ``(θ,)``, ``(θ, v)``, ``(θ, m, s)``; each a 1-D array.
    t0, t1 : float
        Start and end time. Fixed-step integrators take two of ``dt``, ``n_steps``, ``t1``;
        adaptive ones need ``t1``.
    dt : float, optional
        Step size (the learning rate of an optimizer), ``> 0``. For adaptive integrators, the
        initial step (chosen automatically when omitted).
    n_steps : int, optional
        Number of fixed steps; the run covers ``[t0, t0 + n_steps·dt]``. With ``t1`` and ``dt``
        the number is ``⌈(t1 − t0)/dt⌉`` and the last step is shortened to land on ``t1``.
    integrator : str or Integrator
        ``"euler"``, ``"heun"`` (``"rk2"``), ``"rk4"``, ``"dopri5"``, ``"scipy:RK45"``,
        ``"scipy:DOP853"``, … (see :func:`rgeom.flows.integrators.get`) or an instance.
    rtol, atol : float
        Tolerances of adaptive integrators: a step is accepted when the RMS over all entries of
        ``err / (atol + rtol·max(|y|, |y_new|))`` is ``≤ 1`` (scipy's norm).
    backend : None, str or Backend
        Inferred from ``y0`` when omitted.
    jit : bool
        On JAX, compile the whole loop (default). ``False`` runs a Python loop (debugging).
    save_every : int
        Save every ``save_every``-th (accepted) step; the initial and the final state are
        always saved.
    max_steps : int
        Adaptive integrators stop with status ``"max_steps"`` after this many attempted steps;
        a fixed-step run given ``t1`` and ``dt`` refuses to start if it needs more.
    divergence_threshold : float
        The run stops with status ``"diverged"`` when a state entry is non-finite or exceeds
        this in absolute value.
    progress : bool
        Show a progress bar on stderr (only when it is a terminal).
    dense_output : bool, optional
        Keep what :meth:`Solution.interpolate` needs. Default: on for ``dopri5`` when
        ``save_every == 1`` (it costs no field evaluation), off otherwise.

    Returns
    -------
    Solution
        ``ts`` (NumPy float64, shape ``(n_saved,)``), ``ys`` (per component an array of shape
        ``(n_saved, d_i)`` on the state's backend, initial state included), ``y_final``,
        ``status`` (``"success"``, ``"diverged"``, ``"max_steps"`` or ``"failed"``),
        ``t_reached``, evaluation counts.

    Raises
    ------
    ValueError
        ``dt <= 0`` ("learning rate dt must be > 0"), ``t1 <= t0``, inconsistent or missing
        ``dt``/``n_steps``/``t1``, non-positive tolerances, ``save_every`` or ``max_steps``.
    ShapeError
        When a state component is not 1-D, or the field returns a tuple of other length or
        shapes.
    NonFiniteError
        When ``y0`` holds NaN or inf.

    Examples
    --------
    Euler steps of the gradient flow of ``½|θ|²`` (learning rate 0.1) contract by ``0.9``:

    >>> import numpy as np
    >>> from rgeom.flows import integrate
    >>> field = lambda t, y: (-y[0],)
    >>> sol = integrate(field, (np.array([1.0, -2.0]),), dt=0.1, n_steps=10)
    >>> sol.status, sol.n_field_evals, sol.ys[0].shape
    ('success', 10, (11, 2))
    >>> np.allclose(sol.y_final[0], 0.9 ** 10 * np.array([1.0, -2.0]))
    True

    The adaptive integrator meets its tolerance and interpolates between steps:

    >>> sol = integrate(field, (np.array([1.0]),), t1=2.0, integrator="dopri5", rtol=1e-8)
    >>> bool(abs(sol.y_final[0][0] - np.exp(-2.0)) < 1e-8)
    True
    >>> bool(abs(sol.interpolate(0.5)[0][0] - np.exp(-0.5)) < 1e-7)
    True
    """
    integ = _integrators.get(integrator)
    bk, y0 = _check_state(y0, backend)
    save_every = _positive_int(save_every, "save_every")
    max_steps = _positive_int(max_steps, "max_steps")
    threshold = float(divergence_threshold)
    if not threshold > 0:
        raise ValueError(f"divergence_threshold must be > 0, got {divergence_threshold!r}.")
    if not callable(field):
        raise TypeError(f"field must be a callable field(t, state) -> tuple, got {type(field).__name__}.")
    t0 = float(t0)
    checked = _checked_field(field, y0)
    use_jit = bool(jit) and bk.name == "jax"
    bar_total = None
    if integ.adaptive or isinstance(integ, ScipyIVP):
        if t1 is None:
            raise ValueError(f"integrator {integ.name!r} is adaptive: t1 (the end time) is required.")
        if n_steps is not None:
            raise ValueError(f"integrator {integ.name!r} is adaptive: n_steps cannot be set (use t1).")
        t1 = _end_time(t0, t1)
        h0 = None if dt is None else _check_dt(dt)
        rtol, atol = _check_tol(rtol, atol)
        dense = _dense_flag(dense_output, integ, save_every)
        bar_total = t1 - t0
    else:
        if not isinstance(integ, FixedStep):
            raise TypeError(f"integrator must be a FixedStep, Adaptive or ScipyIVP instance, got {integ!r}.")
        t1, dt, n_steps = _grid(t0, t1, dt, n_steps, max_steps, integ.name)
        if dense_output:
            raise ValueError(f"dense_output needs an adaptive integrator ('dopri5' or 'scipy:...'), "
                             f"got {integ.name!r}.")
        bar_total = n_steps
    # Overflow and NaN are outcomes to report (status "diverged"/"failed"), not NumPy warnings.
    with progress_bar(bar_total, integ.name, progress) as bar, \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if isinstance(integ, ScipyIVP):
            return integ.solve(field, y0, t0, t1, h0, rtol, atol, bk=bk, jit=use_jit, save_every=save_every,
                               max_steps=max_steps, threshold=threshold, dense=dense, bar=bar)
        if integ.adaptive:
            run = _adaptive_jax if use_jit else _adaptive_python
            return run(integ, field if use_jit else checked, y0, t0, t1, h0, rtol, atol, bk, save_every,
                       max_steps, threshold, dense, bar)
        run = _fixed_jax if use_jit else _fixed_python
        return run(integ, field if use_jit else checked, y0, t0, t1, dt, n_steps, bk, save_every,
                   threshold, bar)


# --- argument checks ----------------------------------------------------------------------------
def _check_state(y0, backend):
    if not isinstance(y0, (tuple, list)):
        raise TypeError(f"y0 must be a tuple of 1-D arrays, e.g. (theta,), got {type(y0).__name__}.")
    if len(y0) == 0:
        raise ValueError("y0 must have at least one component, got an empty tuple.")
    bk = get_backend(backend, *y0)
    state = tuple(check_vector(bk.asarray(y), f"y0[{i}]") for i, y in enumerate(y0))
    return bk, state


def _check_dt(dt):
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"learning rate dt must be a number > 0, got {dt!r}.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"learning rate dt must be > 0 (and finite), got {dt!r}.")
    return value


def _positive_int(n, name):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    return int(n)


def _end_time(t0, t1):
    t1 = float(t1)
    if not (math.isfinite(t1) and t1 > t0):
        raise ValueError(f"t1 must be a finite time > t0 = {t0!r}, got {t1!r}.")
    return t1


def _check_tol(rtol, atol):
    rtol, atol = float(rtol), float(atol)
    if not (rtol > 0 and math.isfinite(rtol)):
        raise ValueError(f"rtol must be a finite number > 0, got {rtol!r}.")
    if not (atol >= 0 and math.isfinite(atol)):
        raise ValueError(f"atol must be a finite number >= 0, got {atol!r}.")
    return rtol, atol


def _dense_flag(dense_output, integ, save_every):
    if dense_output is None:
        return isinstance(integ, Adaptive) and save_every == 1
    if dense_output and isinstance(integ, Adaptive) and save_every != 1:
        raise ValueError(f"dense_output=True with {integ.name!r} needs save_every=1, got {save_every}.")
    return bool(dense_output)


def _grid(t0, t1, dt, n_steps, max_steps, name):
    """Resolve the fixed-step grid from two (or three consistent) of ``t1``, ``dt``, ``n_steps``."""
    if dt is not None:
        dt = _check_dt(dt)
    if n_steps is not None:
        n_steps = _positive_int(n_steps, "n_steps")
    if t1 is not None:
        t1 = _end_time(t0, t1)
    given = sum(x is not None for x in (t1, dt, n_steps))
    if given < 2:
        raise ValueError(f"fixed-step integrator {name!r} needs two of dt (learning rate), n_steps and t1.")
    if dt is not None and n_steps is not None:
        end = t0 + n_steps * dt
        if t1 is not None and not math.isclose(t1, end, rel_tol=1e-12, abs_tol=1e-12):
            raise ValueError(f"t1={t1!r} is inconsistent with t0 + n_steps·dt = {end!r}; give two of them.")
        return end, dt, n_steps
    if dt is not None:
        n_steps = max(1, math.ceil((t1 - t0) / dt * (1 - 1e-12)))
        if n_steps > max_steps:
            raise ValueError(f"t1 and dt={dt!r} need {n_steps} steps, more than max_steps={max_steps}.")
        return t1, dt, n_steps
    return t1, (t1 - t0) / n_steps, n_steps


def _checked_field(field, y0):
    """``field`` with its output checked against the state's structure (length and shapes)."""
    from ..errors import ShapeError

    shapes = tuple(tuple(y.shape) for y in y0)

    def checked(t, y):
        out = field(t, y)
        if not isinstance(out, (tuple, list)) or len(out) != len(shapes):
            got = f"a {type(out).__name__}" if not isinstance(out, (tuple, list)) else f"{len(out)} components"
            raise ShapeError(f"field(t, state) must return a tuple of {len(shapes)} arrays shaped like the "
                             f"state {shapes}, got {got}.")
        got = tuple(tuple(getattr(o, "shape", ())) for o in out)
        if got != shapes:
            raise ShapeError(f"field(t, state) returned shapes {got}, expected the state's shapes {shapes}.")
        return tuple(out)

    return checked


def _bounded(y, threshold):
    """Python-side divergence test: every entry finite and ``|entry| <= threshold``."""
    for a in y:
        if a.shape[0] and not float(abs(a).max()) <= threshold:     # NaN compares False
            return False
    return True


def _time_grid(t0, dt, t1, n_steps, steps):
    steps = np.asarray(steps, dtype=np.float64)
    return np.where(steps >= n_steps, t1, t0 + steps * dt)


def _finish(bk, ts, saved, y_final, status, t_reached, n_steps, n_evals, n_rejected, message, integ,
            dense=None):
    ys = tuple(bk.xp.concatenate(parts) if len(parts) > 1 else parts[0] for parts in saved)
    return Solution(ts=np.asarray(ts, dtype=np.float64), ys=ys, y_final=tuple(y_final), status=status,
                    t_reached=float(t_reached), n_steps=int(n_steps), n_field_evals=int(n_evals),
                    n_rejected=n_rejected, message=message, integrator=integ.name, order=integ.order,
                    dense=dense)


def _diverged_message(t, threshold):
    return f"the state became non-finite or exceeded {threshold:g} in absolute value at t = {t:.10g}"


# --- fixed step ---------------------------------------------------------------------------------
def _fixed_python(integ, field, y0, t0, t1, dt, n_steps, bk, save_every, threshold, bar):
    y, steps, saved, status, k = y0, [], [[yi[None]] for yi in y0], "success", 0
    while k < n_steps:
        t = t0 + k * dt
        t_next = t1 if k + 1 == n_steps else t0 + (k + 1) * dt
        y = integ.step(field, t, y, t_next - t)
        k += 1
        bar.update(1)
        ok = _bounded(y, threshold)
        if not ok or k % save_every == 0 or k == n_steps:
            steps.append(k)
            for parts, yi in zip(saved, y):
                parts.append(yi[None])
        if not ok:
            status = "diverged"
            break
    ts = np.concatenate([[t0], _time_grid(t0, dt, t1, n_steps, steps)])
    message = (f"{k} steps of {integ.name} with dt = {dt:g}" if status == "success"
               else _diverged_message(ts[-1], threshold))
    return _finish(bk, ts, saved, y, status, ts[-1], k, k * integ.n_stages, 0, message, integ)


def _cached(key, build):
    fn = _JIT_CACHE.get(key)
    if fn is None:
        fn = _JIT_CACHE[key] = build()
        while len(_JIT_CACHE) > _JIT_CACHE_SIZE:
            _JIT_CACHE.popitem(last=False)
    else:
        _JIT_CACHE.move_to_end(key)
    return fn


def _signature(y):
    return tuple((tuple(a.shape), str(a.dtype)) for a in y)


def _chunk_size(n_saves):
    return min(_CHUNK, 1 << max(0, math.ceil(math.log2(max(n_saves, 1)))))


def _jax_bounded(y, threshold):
    import jax.numpy as jnp

    ok = True
    for a in y:
        if a.shape[0]:
            ok = ok & (jnp.max(jnp.abs(a)) <= threshold)
    return ok


#: Inline every stage of a Runge–Kutta step (fast to run, slow to compile) while the field's
#: program times the number of stages stays below this many jaxpr equations; beyond it the stages
#: run in a loop with one call site of the field (compiled once, ~5 µs of loop overhead a stage).
_MAX_INLINED_EQNS = 600


def _jaxpr_size(jaxpr):
    n = 0
    for eqn in jaxpr.eqns:
        n += 1
        for p in eqn.params.values():
            for sub in (p if isinstance(p, (tuple, list)) else (p,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    n += _jaxpr_size(inner)
    return n


def _inline_stages(field, integ, y0):
    """Whether to inline the stages of ``integ`` for ``field`` (see :data:`_MAX_INLINED_EQNS`)."""
    import jax

    if integ.tableau is None:
        return True
    t = np.asarray(0.0, dtype=y0[0].dtype)
    size = _jaxpr_size(jax.make_jaxpr(lambda t, y: field(t, y))(t, y0).jaxpr)
    return size * (integ.n_stages + 1) <= _MAX_INLINED_EQNS


def _stage_loop(field, t, y, h, c, A, K, start):
    """Explicit Runge–Kutta stages ``K[i] = field(t + cᵢh, y + h Σⱼ Aᵢⱼ K[j])``, ``i ≥ start``, in a
    ``fori_loop`` with one call site of ``field``: it is traced and compiled once, not per stage."""
    import jax

    def body(i, K):
        yi = tuple(a + h * (A[i] @ k) for a, k in zip(y, K))
        return tuple(k.at[i].set(f.astype(k.dtype)) for k, f in zip(K, field(t + c[i] * h, yi)))

    return jax.lax.fori_loop(start, c.shape[0], body, K)


def _jax_step(integ, field, t, y, h, inline):
    """One fixed step on JAX: the stage loop when the integrator declares a tableau."""
    import jax.numpy as jnp

    if inline:
        return integ.step(field, t, y, h)
    c, A, b = (jnp.asarray(x, y[0].dtype) for x in integ.tableau)
    K = _stage_loop(field, t, y, h, c, A, tuple(jnp.zeros(c.shape + a.shape, a.dtype) for a in y), 0)
    return tuple(a + h * (b @ k) for a, k in zip(y, K))


def _jax_attempt(integ, field, t, y, f0, h, inline):
    """One adaptive trial step on JAX; returns ``(y1, f1, err, r5)`` (``r5``: dense coefficient)."""
    import jax.numpy as jnp

    if inline:
        y1, f1, err, stages = integ.attempt(field, t, y, f0, h)
        return y1, f1, err, integ.dense_coefficient(h, stages)
    c, A, b, e, d = (jnp.asarray(x, y[0].dtype) for x in integ.tableau)
    K = tuple(jnp.zeros(c.shape + a.shape, a.dtype).at[0].set(f) for a, f in zip(y, f0))
    K = _stage_loop(field, t, y, h, c, A, K, 1)          # stage 0 is f0 (first same as last)
    y1 = tuple(a + h * (b @ k) for a, k in zip(y, K))
    return y1, tuple(k[-1] for k in K), tuple(h * (e @ k) for k in K), tuple(h * (d @ k) for k in K)


def _build_fixed_chunk(field, integ, size, y0):
    import jax
    import jax.numpy as jnp

    checked = _checked_field(field, y0)
    inline = _inline_stages(checked, integ, y0)

    def chunk(y, k0, n_steps, save_every, t0, dt, t1, threshold):
        k_stop = jnp.minimum(k0 + size * save_every, n_steps)
        bufs = tuple(jnp.zeros((size,) + yi.shape, yi.dtype) for yi in y)

        def cond(carry):
            k, _, ok, _ = carry
            return ok & (k < k_stop)

        def body(carry):
            k, y, _, bufs = carry
            t = t0 + k * dt
            t_next = jnp.where(k + 1 >= n_steps, t1, t0 + (k + 1) * dt)
            y1 = tuple(a.astype(b.dtype) for a, b in zip(_jax_step(integ, checked, t, y, t_next - t, inline), y))
            slot = (k - k0) // save_every            # the state after step k+1 goes to its save slot
            bufs = tuple(b.at[slot].set(a) for b, a in zip(bufs, y1))
            return k + 1, y1, _jax_bounded(y1, threshold), bufs

        k, y, ok, bufs = jax.lax.while_loop(cond, body, (k0, y, jnp.asarray(True), bufs))
        return y, k, ok, bufs

    return jax.jit(chunk)


def _fixed_jax(integ, field, y0, t0, t1, dt, n_steps, bk, save_every, threshold, bar):
    import jax.numpy as jnp

    dtype = jnp.result_type(*y0)
    size = _chunk_size(math.ceil(n_steps / save_every))
    run = _cached(("fixed", field, integ, size, _signature(y0)), lambda: _build_fixed_chunk(field, integ, size, y0))
    scalars = [np.asarray(x, dtype=dtype) for x in (t0, dt, t1, threshold)]   # NumPy: no dispatch
    y, k, ok, steps, saved = y0, 0, True, [], [[np.asarray(yi)[None]] for yi in y0]
    while k < n_steps and ok:
        y, k_new, ok_, bufs = run(y, k, n_steps, save_every, *scalars)
        k_new, ok = int(k_new), bool(ok_)
        used = -(-(k_new - k) // save_every)
        steps.extend(min(k + (j + 1) * save_every, k_new) for j in range(used))
        for parts, b in zip(saved, bufs):
            parts.append(np.asarray(b)[:used])       # slice on the host: no compile per length
        bar.update(k_new - k)
        k = k_new
    ts = np.concatenate([[t0], _time_grid(t0, dt, t1, n_steps, steps)])
    status = "success" if ok else "diverged"
    message = (f"{k} steps of {integ.name} with dt = {dt:g}" if ok else _diverged_message(ts[-1], threshold))
    return _finish(bk, ts, _to_backend(bk, saved), y, status, ts[-1], k, k * integ.n_stages, 0, message, integ)


def _to_backend(bk, saved):
    """Host-side chunks (NumPy) -> one backend array per component (one transfer each)."""
    return [[bk.asarray(np.concatenate(parts))] for parts in saved]


# --- adaptive -----------------------------------------------------------------------------------
def _initial_step(field, t0, y0, f0, t1, integ, rtol, atol, xp, ops):
    """Hairer's starting-step heuristic (as :func:`scipy.integrate.solve_ivp`), one evaluation.

    ``xp`` is the array namespace, ``ops`` the scalar one (``jax.numpy`` under jit,
    :data:`_PY` for Python floats).
    """
    scale = tuple(atol + xp.abs(y) * rtol for y in y0)
    n = sum(int(y.shape[0]) for y in y0)

    def rms(v):
        return (sum(xp.sum((a / s) ** 2) for a, s in zip(v, scale)) / n) ** 0.5

    d0, d1 = rms(y0), rms(f0)
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = ops.minimum(ops.where(small, 1e-6, 0.01 * d0 / ops.where(small, 1.0, d1)), t1 - t0)
    f1 = field(t0 + h0, tuple(y + h0 * f for y, f in zip(y0, f0)))
    d2 = rms(tuple(a - b for a, b in zip(f1, f0))) / h0
    flat = (d1 <= 1e-15) & (d2 <= 1e-15)
    h1 = ops.where(flat, ops.maximum(1e-6, h0 * 1e-3),
                   (0.01 / ops.where(flat, 1.0, ops.maximum(d1, d2))) ** (1.0 / (integ.error_order + 1)))
    return ops.minimum(ops.minimum(100 * h0, h1), t1 - t0)


class _PyScalars:
    """Scalar operations on Python floats (the Python loops convert backend scalars first)."""

    @staticmethod
    def where(cond, a, b):
        return a if bool(cond) else b

    @staticmethod
    def minimum(a, b):
        return min(float(a), float(b))

    @staticmethod
    def maximum(a, b):
        return max(float(a), float(b))


_PY = _PyScalars()


def _min_step(t, xp):
    return 10 * xp.abs(xp.nextafter(t, xp.asarray(np.inf, dtype=getattr(t, "dtype", None))) - t)


def _adaptive_message(status, t, threshold, n_acc, n_rej, integ, max_steps):
    if status == _SUCCESS:
        return f"{integ.name}: {n_acc} accepted and {n_rej} rejected steps"
    if status == _DIVERGED:
        return _diverged_message(t, threshold)
    if status == _MAX_STEPS:
        return f"max_steps={max_steps} attempted steps reached at t = {t:.10g}"
    if n_acc == n_rej == 0:
        return f"the field is non-finite at the initial state (t = {t:.10g})"
    return (f"the step size fell below 10 ulps of t at t = {t:.10g} (a singularity or a stiff flow), "
            "or the field is non-finite there")


def _adaptive_python(integ, field, y0, t0, t1, h0, rtol, atol, bk, save_every, max_steps, threshold,
                     dense, bar):
    xp = bk.xp
    f = field(t0, y0)
    n_evals = 1
    f_ok = _bounded(f, np.inf)
    if h0 is None and f_ok:
        h = float(_initial_step(field, t0, y0, f, t1, integ, rtol, atol, xp, _PY))
        n_evals += 1
    else:
        h = min(h0 or np.inf, t1 - t0)
    t, y, err_prev, rejected, n_acc, n_rej = t0, y0, 1.0, False, 0, 0
    ts, saved = [t0], [[yi[None]] for yi in y0]
    fs, r5s = ([[fi[None]] for fi in f], [[] for _ in y0]) if dense else (None, None)
    status = _RUNNING if f_ok else _FAILED
    while status == _RUNNING:
        t_new = min(t + h, t1)
        h_eff = t_new - t
        if n_acc + n_rej >= max_steps or h_eff < float(_min_step(np.float64(t), np)):
            status = _MAX_STEPS if n_acc + n_rej >= max_steps else _FAILED
            if n_acc % save_every:                  # the current state was not saved yet
                ts.append(t)
                for parts, yi in zip(saved, y):
                    parts.append(yi[None])
            break
        y1, f1, err, stages = integ.attempt(field, t, y, f, h_eff)
        n_evals += integ.n_stages
        en = float(error_norm(err, y, y1, rtol, atol, xp))
        accept, factor = integ.control(en, err_prev, rejected, np)
        if accept:
            n_acc += 1
            bar.update(h_eff)
            if dense:
                for parts, r in zip(r5s, integ.dense_coefficient(h_eff, stages)):
                    parts.append(r[None])
            t, y, f, err_prev, rejected = t_new, y1, f1, max(en, 1e-4), False
            if not _bounded(y, threshold):
                status = _DIVERGED
            elif t >= t1:
                status = _SUCCESS
            if status != _RUNNING or n_acc % save_every == 0:
                ts.append(t)
                for parts, yi in zip(saved, y):
                    parts.append(yi[None])
                if dense:
                    for parts, fi in zip(fs, f):
                        parts.append(fi[None])
        else:
            n_rej += 1
            rejected = True
        h = h_eff * float(factor)
    message = _adaptive_message(status, t, threshold, n_acc, n_rej, integ, max_steps)
    interp = _dense(integ, bk, ts, saved, fs, r5s) if dense and len(ts) > 1 else None
    return _finish(bk, ts, saved, y, _STATUS[status], t, n_acc, n_evals, n_rej, message, integ, interp)


def _dense(integ, bk, ts, saved, fs, r5s, concatenate=None):
    from .solution import RungeKuttaDense

    concatenate = concatenate or bk.xp.concatenate
    cat = (lambda parts: concatenate(parts) if len(parts) > 1 else parts[0])
    return RungeKuttaDense(integ, bk, np.asarray(ts, dtype=np.float64), tuple(map(cat, saved)),
                           tuple(map(cat, fs)), tuple(map(cat, r5s)))


def _build_adaptive_chunk(field, integ, size, dense, select, y0):
    """The compiled adaptive loop: up to ``size`` saved steps per call. The first call (no field
    evaluation yet) also evaluates ``f(t0, y0)`` and, if ``select``, the starting step."""
    import jax
    import jax.numpy as jnp

    checked = _checked_field(field, y0)
    inline = _inline_stages(checked, integ, y0)

    def chunk(carry, t1, threshold, max_steps, save_every, rtol, atol):
        def start(c):
            t, y, _, h, err_prev, rejected, n_acc, n_rej, n_evals, status = c
            f0 = tuple(a.astype(b.dtype) for a, b in zip(checked(t, y), y))
            if select:
                h = _initial_step(checked, t, y, f0, t1, integ, rtol, atol, jnp, jnp).astype(t.dtype)
            status = jnp.where(_jax_bounded(f0, jnp.inf), status, _FAILED)
            return t, y, f0, h, err_prev, rejected, n_acc, n_rej, n_evals + 1 + select, status

        carry = jax.lax.cond(carry[8] == 0, start, lambda c: c, carry)
        y = carry[1]
        bufs = (jnp.zeros((size,), carry[0].dtype),
                tuple(jnp.zeros((size,) + a.shape, a.dtype) for a in y),
                tuple(jnp.zeros((size,) + a.shape, a.dtype) for a in y) if dense else (),
                tuple(jnp.zeros((size,) + a.shape, a.dtype) for a in y) if dense else ())

        def cond(c):
            state, n_saved, _ = c
            return (state[-1] == _RUNNING) & (n_saved < size)

        def body(c):
            (t, y, f, h, err_prev, rejected, n_acc, n_rej, n_evals, status), n_saved, bufs = c
            status = jnp.where(n_acc + n_rej >= max_steps, _MAX_STEPS, status)
            t_new = jnp.minimum(t + h, t1)
            h_eff = t_new - t
            status = jnp.where((status == _RUNNING) & (h_eff < _min_step(t, jnp)), _FAILED, status)
            running = status == _RUNNING
            y1, f1, err, r5 = _jax_attempt(integ, checked, t, y, f, h_eff, inline)
            y1 = tuple(a.astype(b.dtype) for a, b in zip(y1, y))
            f1 = tuple(a.astype(b.dtype) for a, b in zip(f1, y))
            en = error_norm(err, y, y1, rtol, atol, jnp)
            accept, factor = integ.control(en, err_prev, rejected, jnp)
            accept = accept & running
            t_ = jnp.where(accept, t_new, t)
            y_ = tuple(jnp.where(accept, a, b) for a, b in zip(y1, y))
            f_ = tuple(jnp.where(accept, a, b) for a, b in zip(f1, f))
            ok = _jax_bounded(y1, threshold)
            status = jnp.where(accept & ~ok, _DIVERGED,
                               jnp.where(accept & (t_new >= t1), _SUCCESS, status))
            n_acc_ = n_acc + accept
            # Save every save_every-th accepted state, the last one, and on a failure the current
            # state unless it was saved when it was accepted.
            save = (accept & (((n_acc_ % save_every) == 0) | (status != _RUNNING))) | \
                (~running & ((n_acc % save_every) != 0))
            ts_b, ys_b, fs_b, rs_b = bufs
            ts_b = ts_b.at[n_saved].set(t_)
            ys_b = tuple(b.at[n_saved].set(a) for b, a in zip(ys_b, y_))
            if dense:
                fs_b = tuple(b.at[n_saved].set(a) for b, a in zip(fs_b, f_))
                rs_b = tuple(b.at[n_saved].set(a.astype(b.dtype)) for b, a in zip(rs_b, r5))
            state = (t_, y_, f_, jnp.where(status == _RUNNING, h_eff * factor, h),
                     jnp.where(accept, jnp.maximum(en, 1e-4), err_prev), ~accept,
                     n_acc_, n_rej + ((~accept) & running), n_evals + integ.n_stages * running, status)
            return state, n_saved + save, (ts_b, ys_b, fs_b, rs_b)

        state, n_saved, bufs = jax.lax.while_loop(cond, body, (carry, jnp.asarray(0), bufs))
        return state, n_saved, bufs, carry[2]

    return jax.jit(chunk)


def _adaptive_jax(integ, field, y0, t0, t1, h0, rtol, atol, bk, save_every, max_steps, threshold, dense,
                  bar):
    import jax
    import jax.numpy as jnp

    dtype = jnp.result_type(*y0)
    sc = lambda x: np.asarray(x, dtype=dtype)           # noqa: E731  (NumPy scalars: no dispatch)
    size, select = _CHUNK, h0 is None
    run = _cached(("adaptive", size, dense, select, integ, field, _signature(y0)),
                  lambda: _build_adaptive_chunk(field, integ, size, dense, select, y0))
    int_dtype = jax.dtypes.canonicalize_dtype(np.int64)      # int32 unless x64 is enabled
    i64 = lambda x: np.asarray(x, dtype=int_dtype)            # noqa: E731
    # n_evals = 0 makes the first chunk evaluate f(t0, y0) (the f slot holds y0 as a placeholder).
    carry = (sc(t0), y0, y0, sc(0.0 if select else min(h0, t1 - t0)), sc(1.0), np.asarray(False),
             i64(0), i64(0), i64(0), i64(_RUNNING))
    t1_, threshold_, rtol_, atol_ = sc(t1), sc(threshold), sc(rtol), sc(atol)
    ts, saved = [np.array([t0])], [[np.asarray(yi)[None]] for yi in y0]
    fs, r5s = ([], [[] for _ in y0]) if dense else (None, None)
    t_prev = t0
    while True:
        carry, n_saved, (ts_b, ys_b, fs_b, rs_b), f0 = run(carry, t1_, threshold_, max_steps, save_every, rtol_,
                                                            atol_)
        if dense and not fs:
            fs = [[np.asarray(fi)[None]] for fi in f0]
        used = int(n_saved)
        ts.append(np.asarray(ts_b, dtype=np.float64)[:used])    # slices on the host: no compiles
        for parts, b in zip(saved, ys_b):
            parts.append(np.asarray(b)[:used])
        if dense:
            for parts, b in zip(fs, fs_b):
                parts.append(np.asarray(b)[:used])
            for parts, b in zip(r5s, rs_b):
                parts.append(np.asarray(b)[:used])
        t_now = float(carry[0])
        bar.update(t_now - t_prev)
        t_prev = t_now
        if int(carry[-1]) != _RUNNING:
            break
    t, y, _, _, _, _, n_acc, n_rej, n_evals, status = carry
    status, t, n_acc, n_rej = int(status), float(t), int(n_acc), int(n_rej)
    ts = np.concatenate(ts)
    message = _adaptive_message(status, t, threshold, n_acc, n_rej, integ, max_steps)
    saved = _to_backend(bk, saved)
    # the dense-output data stays on the host until the first interpolate() call
    interp = _dense(integ, bk, ts, saved, fs, r5s, np.concatenate) if dense and ts.size > 1 else None
    return _finish(bk, ts, saved, y, _STATUS[status], t, n_acc, int(n_evals), n_rej, message, integ, interp)
