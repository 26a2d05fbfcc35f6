"""The generating vector fields of a flow's conservation laws.

A model ``g(θ, x) = f(φ(θ), x)`` trained by the flow ``θ̇ = −M(θ) ∇L(θ)`` moves along
``Σᵢ cᵢ(t) χᵢ(θ)`` with ``χᵢ = M ∇φᵢ`` and coefficients ``cᵢ = −∂ℓ/∂φᵢ`` that the data and the
loss can make arbitrary. A function ``h`` is conserved for every data set and loss iff
``⟨∇h, χᵢ⟩ ≡ 0`` for all ``i`` (Marcotte, Gribonval & Peyré 2023). ``M`` is the identity for
gradient flow and ``G(θ)⁻¹`` for natural-gradient and mirror flows.

:class:`Generators` describes the family by one *lifting*: a scalar ``ℓ(θ, ω)`` such that the
fields ``χ_ω = M ∇_θ ℓ(·, ω)`` span, over all ``ω``, the same real vector space of fields as the
``χᵢ``. For a factorization, ``ℓ = ω·φ(θ)`` (linear in ``ω``, and ``ω = eᵢ`` gives ``χᵢ``). For a
ReLU network, the *data-free lifting* is the network with its ReLUs replaced by free real gates,
evaluated at a free input and read out along a free direction: multilinear in those, it is a
combination of all path products, so its gradients span the path-lifting fields without ever
listing the (exponentially many) paths.

Heavy-ball momentum ``θ̇ = v, v̇ = −τv − M∇L`` is lifted to phase space ``z = (θ, v, s)`` with
``s = e^{τt}`` (``ṡ = τs``; ``s = t`` when ``τ = 0``): the drift ``Y₀ = (v, −τv, τs)`` joins the
controls ``Yᵢ = (0, χᵢ, 0)``, and laws may depend on velocity and time (Marcotte, Gribonval &
Peyré 2024).
"""

import numpy as np

from .._checks import check_vector
from ..backend import get_backend
from ..errors import ShapeError

__all__ = ["Generators", "from_phi", "from_lifting", "from_model"]

FLOWS = ("gradient", "natural", "momentum")


def _normal_sampler(dim):
    return lambda rng: rng.standard_normal(dim)


class Generators:
    """A family of vector fields ``χ_ω(z)`` whose real span over ``ω`` generates the Lie algebra.

    Build one with :func:`from_phi`, :func:`from_lifting`, :func:`from_model`, the architecture
    builders (:mod:`rgeom.conservation.architectures`) or :meth:`momentum`.

    Parameters
    ----------
    lift : callable
        ``lift(theta, omega, xp) -> scalar``: the lifting ``ℓ(θ, ω)``, written with the array
        namespace ``xp`` (the backend's; NumPy on object arrays for exact polynomial work).
    dim : int
        Number of parameters ``D``.
    omega_dim : int
        Length of ``ω``.
    inverse_metric : callable, optional
        ``inverse_metric(theta, u) -> M(θ) u`` (natural-gradient or mirror flows). ``None``: the
        identity (gradient flow).
    linear : bool
        ``ℓ`` is linear in ``ω`` (``ℓ = ω·φ``): the ``ω = eᵢ`` are a finite basis of generators.
    backend : None, str or Backend
        Backend of the heavy computations (``None``: autograd, rgeom's default).
    names : sequence of str, optional
        Coordinate names (for printed laws); default ``θ1 … θD``.
    sampler : callable, optional
        ``sampler(rng) -> (D,) ndarray``: random points (default standard normal).
    omega_sampler : callable, optional
        ``omega_sampler(rng, n) -> (n, omega_dim)``: random lifting coefficients (default
        standard normal rows).
    flow : str
        ``"gradient"`` or ``"natural"`` (a label; :meth:`momentum` makes ``"momentum"``).
    description : str
        One line shown in reports.

    Attributes
    ----------
    dim, omega_dim, names, backend, flow, linear, description
    base_dim : int
        Dimension of ``θ`` (``dim`` except after :meth:`momentum`, where ``dim = 2·base_dim + 1``).
    damping : float or None
        ``τ`` of the momentum lifting.

    Examples
    --------
    ``φ(θ) = θ₁θ₂θ₃``: one generator, the gradient of ``φ``:

    >>> import numpy as np
    >>> from rgeom.conservation import from_phi
    >>> gens = from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3)
    >>> gens.basis(np.array([1.0, 2.0, 3.0])).tolist()
    [[6.0, 3.0, 2.0]]
    """

    def __init__(self, lift, dim, omega_dim, *, inverse_metric=None, linear=False, backend=None,
                 names=None, sampler=None, omega_sampler=None, flow="gradient", description=""):
        if not callable(lift):
            raise TypeError(f"lift must be a callable lift(theta, omega, xp) -> scalar, "
                            f"got {type(lift).__name__}.")
        self.dim = self.base_dim = _positive(dim, "dim")
        self.omega_dim = _positive(omega_dim, "omega_dim")
        if inverse_metric is not None and not callable(inverse_metric):
            raise TypeError("inverse_metric must be a callable inverse_metric(theta, u) -> M(theta) u.")
        if flow not in ("gradient", "natural"):
            raise ValueError(f"flow must be 'gradient' or 'natural' (use .momentum() for momentum), "
                             f"got {flow!r}.")
        self.lift, self.inverse_metric, self.linear = lift, inverse_metric, bool(linear)
        self.backend = get_backend(backend)
        self.names = _names(names, self.dim)
        self._sampler = sampler or _normal_sampler(self.dim)
        self._omega_sampler = omega_sampler
        self.flow, self.damping, self.description, self._base = flow, None, str(description), None

    # --- the fields ----------------------------------------------------------------------------
    def field(self, z, omega):
        """One generator ``χ_ω(z)``, shape ``(dim,)``, on the backend (differentiable in ``z``)."""
        bk = self.backend
        return self.assemble(z, omega, lambda f, x: bk.grad(f, x), bk.xp)

    def assemble(self, z, omega, grad, xp, num=float):
        """``χ_ω(z)`` built with a given gradient operator and namespace (numeric or exact).

        ``grad(f, x)`` differentiates a scalar function; ``num`` converts Python floats (the
        damping) to the number type in use.
        """
        if self._base is None:
            g = grad(lambda t: self.lift(t, omega, xp), z)
            return g if self.inverse_metric is None else self.inverse_metric(z, g)
        d = self.base_dim
        theta, v, c = z[:d], z[d:2 * d], z[2 * d:]
        g = self._base.assemble(theta, omega[1:], grad, xp, num)
        zero_v, zero_c = 0 * v, 0 * c
        if self.damping:
            tau = num(self.damping)
            drift = xp.concatenate([v, v * (-tau), c * tau])   # arrays first: exact scalars
        else:
            drift = xp.concatenate([v, zero_v, 0 * c + 1])
        return drift * omega[0] + xp.concatenate([zero_v, g, zero_c])

    def basis(self, z):
        """All basis generators at ``z`` as rows, shape ``(omega_dim, dim)`` (NumPy, float64).

        Only for a lifting linear in ``ω`` (a finite factorization ``φ``).
        """
        if not self.linear:
            raise ValueError("basis() needs a lifting linear in omega (a finite factorization phi); "
                             "this family is sampled with random omega instead.")
        from ._batch import float64, to_backend, to_numpy

        bk = self.backend
        with float64(bk):
            z = to_backend(bk, check_vector(np.asarray(z, dtype=np.float64), "z", self.dim))
            eye = np.eye(self.omega_dim)
            return np.stack([to_numpy(bk, self.field(z, to_backend(bk, e))) for e in eye])

    # --- sampling ------------------------------------------------------------------------------
    def sample_point(self, rng):
        """A random point, shape ``(dim,)`` (NumPy float64)."""
        z = np.asarray(self._sampler(rng), dtype=np.float64)
        if z.shape != (self.dim,):
            raise ShapeError(f"sampler must return shape ({self.dim},), got {z.shape}.")
        return z

    def sample_omegas(self, rng, n):
        """``n`` random lifting coefficients, shape ``(n, omega_dim)``, each row of unit norm."""
        if self._omega_sampler is None:
            w = rng.standard_normal((n, self.omega_dim))
        else:
            w = np.asarray(self._omega_sampler(rng, n), dtype=np.float64)
            if w.shape != (n, self.omega_dim):
                raise ShapeError(f"omega_sampler must return shape ({n}, {self.omega_dim}), got {w.shape}.")
        return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), np.finfo(float).tiny)

    # --- momentum lifting ----------------------------------------------------------------------
    def momentum(self, damping=1.0):
        """The heavy-ball lifting to phase space ``z = (θ, v, s)``, ``s = e^{τt}`` (``t`` if ``τ = 0``).

        Parameters
        ----------
        damping : float
            ``τ ≥ 0`` in ``v̇ = −τ v − M ∇L``.

        Returns
        -------
        Generators
            ``dim = 2D + 1``, ``ω = (α₀, ω_base)``: ``α₀`` weighs the drift ``(v, −τv, τs)``.

        Examples
        --------
        >>> import numpy as np
        >>> from rgeom.conservation import from_phi
        >>> mom = from_phi(lambda th: th[:1] * th[1:], 2).momentum(damping=0.5)
        >>> mom.dim, mom.names
        (5, ('θ1', 'θ2', 'v_θ1', 'v_θ2', 's'))
        >>> mom.basis(np.array([1.0, 2.0, 3.0, 4.0, 2.0])).tolist()   # drift, then (0, ∇φ, 0)
        [[3.0, 4.0, -1.5, -2.0, 1.0], [0.0, 0.0, 2.0, 1.0, 0.0]]
        """
        if self._base is not None:
            raise ValueError("these generators are already lifted to phase space.")
        tau = float(damping)
        if not (np.isfinite(tau) and tau >= 0):
            raise ValueError(f"damping must be a finite number >= 0, got {damping!r}.")
        new = object.__new__(Generators)
        new.__dict__.update(self.__dict__)
        d = self.dim
        new._base, new.damping, new.flow = self, tau, "momentum"
        new.dim, new.base_dim, new.omega_dim = 2 * d + 1, d, self.omega_dim + 1
        new.names = self.names + tuple(f"v_{n}" for n in self.names) + ("s" if tau else "t",)
        base_sampler, base_omega = self._sampler, self._omega_sampler

        def sampler(rng):
            last = rng.uniform(0.5, 2.0, size=1)
            theta = np.asarray(base_sampler(rng), dtype=np.float64)
            return np.concatenate([theta, rng.standard_normal(d), last])

        new._sampler = sampler
        new._omega_sampler = None if base_omega is None else (
            lambda rng, n: np.concatenate([rng.standard_normal((n, 1)), base_omega(rng, n)], axis=1))
        new.description = f"{self.description} + heavy-ball momentum (τ = {tau:g})".strip()
        return new

    def __repr__(self):
        return (f"Generators(dim={self.dim}, omega_dim={self.omega_dim}, flow={self.flow!r}, "
                f"linear={self.linear}, backend={self.backend.name!r})")


def _positive(n, name):
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    return int(n)


def _names(names, dim):
    if names is None:
        return tuple(f"θ{i + 1}" for i in range(dim))
    names = tuple(str(n) for n in names)
    if len(names) != dim:
        raise ShapeError(f"names must have {dim} entries (one per coordinate), got {len(names)}.")
    if len(set(names)) != dim:
        raise ValueError("names must be distinct.")
    return names


def _inverse_metric(metric, inverse_metric):
    if metric is not None and inverse_metric is not None:
        raise ValueError("give either metric= (an rgeom Metric) or inverse_metric= (a callable), not both.")
    if metric is None:
        return inverse_metric
    if not hasattr(metric, "at"):
        raise TypeError(f"metric must be an rgeom.metrics.Metric, got {type(metric).__name__}.")
    return lambda theta, u: metric.at(theta).solve(u)


def from_phi(phi, dim, *, metric=None, inverse_metric=None, backend=None, names=None, sampler=None,
             n_components=None, description="factorization φ"):
    """Generators ``χᵢ = M ∇φᵢ`` of a factorization ``θ ↦ φ(θ)``.

    Parameters
    ----------
    phi : callable
        ``phi(theta) -> (d,)`` array, written for the chosen backend (autograd.numpy by default;
        polynomial code with ``+ - * @``, indexing and ``sum`` also runs on exact numbers, which
        :func:`rgeom.conservation.polynomial_laws` uses).
    dim : int
        ``D``, the length of ``θ``.
    metric : rgeom.metrics.Metric, optional
        Natural-gradient / mirror flow ``θ̇ = −G(θ)⁻¹∇L``: ``M = G⁻¹`` (via ``metric.at(θ).solve``).
    inverse_metric : callable, optional
        ``inverse_metric(theta, u) -> M(θ) u`` directly (e.g. ``theta * u`` for the entropic
        mirror flow, ``G = diag(1/θ)``).
    backend, names, sampler
        As in :class:`Generators`.
    n_components : int, optional
        ``d``; evaluated once at a sampled point when omitted.

    Returns
    -------
    Generators
        Linear in ``ω`` with ``omega_dim = d``.

    Examples
    --------
    A mirror flow changes the laws: for ``φ = θ₁θ₂`` the Euclidean flow conserves ``θ₁² − θ₂²``,
    the entropic one (``M = diag(θ)``) conserves ``θ₁ − θ₂``, since both generators are parallel
    to ``(1, 1)``:

    >>> import numpy as np
    >>> from rgeom.conservation import from_phi
    >>> gens = from_phi(lambda th: th[:1] * th[1:], 2, inverse_metric=lambda th, u: th * u)
    >>> gens.flow, gens.basis(np.array([2.0, 3.0])).tolist()
    ('natural', [[6.0, 6.0]])
    """
    if not callable(phi):
        raise TypeError(f"phi must be a callable phi(theta) -> (d,) array, got {type(phi).__name__}.")
    dim = _positive(dim, "dim")
    bk = get_backend(backend)
    if n_components is None:
        from ._batch import float64, to_backend

        with float64(bk):
            z = to_backend(bk, (sampler or _normal_sampler(dim))(np.random.default_rng(0)))
            out = phi(z)
        shape = tuple(getattr(out, "shape", np.shape(out)))
        if len(shape) != 1:
            raise ShapeError(f"phi(theta) must return a 1-D array of components, got shape {shape}.")
        n_components = shape[0]
    inv = _inverse_metric(metric, inverse_metric)

    def lift(theta, omega, xp):
        return xp.sum(omega * phi(theta))

    return Generators(lift, dim, n_components, inverse_metric=inv, linear=True, backend=bk, names=names,
                      sampler=sampler, flow="gradient" if inv is None else "natural",
                      description=description)


def from_lifting(lift, dim, omega_dim, *, metric=None, inverse_metric=None, backend=None, names=None,
                 sampler=None, omega_sampler=None, description="data-free lifting"):
    """Generators ``χ_ω = M ∇_θ ℓ(θ, ω)`` of a lifting ``ℓ`` (e.g. a network with free gates).

    The real span of ``{χ_ω : ω}`` must be the span of the factorization's fields (true when ``ℓ``
    is ``ω ↦ c(ω)·φ(θ)`` with coefficients ``c(ω)`` spanning the components, e.g. multilinear in
    blocks of ``ω``). ``lift(theta, omega, xp)`` is written with the namespace ``xp``.

    Examples
    --------
    A rank-one lifting of the matrix product ``φ = U Vᵀ`` (``ω = (a, b)``, ``ℓ = aᵀ U Vᵀ b``):

    >>> import numpy as np
    >>> from rgeom.conservation import from_lifting
    >>> lift = lambda th, om, xp: xp.sum(om[:2] * xp.matmul(xp.reshape(th[:4], (2, 2)),
    ...                                    xp.matmul(xp.reshape(th[4:], (2, 2)).T, om[2:])))
    >>> gens = from_lifting(lift, 8, 4)
    >>> gens.linear, gens.field(np.arange(8.0), np.array([1.0, 0, 1.0, 0])).tolist()
    (False, [4.0, 5.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    """
    inv = _inverse_metric(metric, inverse_metric)
    return Generators(lift, dim, omega_dim, inverse_metric=inv, linear=False, backend=backend, names=names,
                      sampler=sampler, omega_sampler=omega_sampler,
                      flow="gradient" if inv is None else "natural", description=description)


def from_model(model, inputs, dim, *, metric=None, inverse_metric=None, backend=None, names=None,
               sampler=None, description="model on fixed inputs"):
    """Generators of ``φ(θ) = (model(θ, x))ₓ`` over the given inputs (all outputs flattened).

    The laws found are those of gradient flows on data drawn from ``inputs`` only. For ReLU
    networks prefer the data-free lifting of :func:`rgeom.conservation.architectures.relu_network`:
    a finite input set sees only the activation patterns it realizes.

    Parameters
    ----------
    model : callable
        ``model(theta, x) -> array`` on the chosen backend.
    inputs : sequence of arrays
        The inputs ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.conservation import from_model
    >>> gens = from_model(lambda th, x: th[0] * th[1] * x, [np.ones(1), 2 * np.ones(1)], 2)
    >>> gens.omega_dim, gens.basis(np.array([1.0, 3.0])).tolist()
    (2, [[3.0, 1.0], [6.0, 2.0]])
    """
    bk = get_backend(backend)
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    if not xs:
        raise ValueError("inputs must hold at least one input x.")

    def phi(theta):  # inputs converted on each call: inside rgeom's float64 scope on JAX
        xp = bk.xp
        return xp.concatenate([xp.reshape(model(theta, bk.asarray(x)), (-1,)) for x in xs])

    return from_phi(phi, dim, metric=metric, inverse_metric=inverse_metric, backend=bk, names=names,
                    sampler=sampler, description=description)
