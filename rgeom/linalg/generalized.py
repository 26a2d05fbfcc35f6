"""The generalized problem ``A v = λ M v`` as one self-adjoint operator (internal).

Every estimator of the engine (Lanczos, Hutchinson, Hutch++, SLQ) works on an operator that is
self-adjoint in some inner product. :class:`Pencil` chooses the cheapest such form of
``E = M⁻¹ A`` (for flatness: ``A`` = Riemannian Hessian, ``M`` = metric, ``E`` = shape operator):

``"standard"``
    ``M = I``: ``E = A`` in the Euclidean inner product. One ``A`` product per application.
``"whitened"``
    ``M`` has a factor ``W`` with ``W Wᵀ = M⁺`` (``whiten``; symmetric ``M^{+1/2}`` unless the
    metric also gives ``whiten_t``): ``C = Wᵀ A W``, symmetric and similar to ``E`` (same
    spectrum, and — since ``‖C‖_F² = Σ λ²`` — probe variances that do not depend on the chart);
    eigenvectors ``v = W y``. One ``A`` product and two whitenings per application.
``"metric"``
    ``E = M⁻¹ A`` in the ``M``-inner product ``⟨x, y⟩_M = xᵀ M y``, where it is self-adjoint.
    One ``A`` product and one solve (exact, or conjugate gradients with its own status) per
    application.

For a singular metric (known kernel, pseudo-inverse semantics) the operator is restricted to the
range of ``M``: probes and start vectors are projected there and ``range_dim = d − kernel_dim``.
:meth:`Pencil.project` projects in *Krylov* coordinates: the metric's tangent projector
``M.project`` in modes ``"metric"`` and ``"whitened"`` with a symmetric factor (Krylov
coordinates are tangent coordinates there), and the factor's own ``M.factor_project`` with a
non-symmetric ``W`` (e.g. K-FAC's eigen-coordinates ``W = Q Λ^{+1/2}``, where it is a 0/1 mask).
"""

import numpy as np

from ..errors import NotPositiveDefiniteError, ShapeError
from ._kernels import dot, norm
from .cg import cg, cg_pinv
from .operators import aslinearoperator, metric_from_matrix

MODES = ("standard", "whitened", "metric")
#: ``xᵀMx < −INDEFINITE_RTOL ‖x‖ ‖Mx‖`` proves the metric indefinite (rounding gives ~1e-16).
INDEFINITE_RTOL = 1e-8


class Pencil:
    """``E = M⁻¹ A`` made self-adjoint; counts products and records inner-solve failures.

    Parameters
    ----------
    A : LinearOperator
        Symmetric (the Hessian).
    M : LinearOperator or None
        Symmetric positive (semi)definite metric; ``None`` or an identity-tagged operator gives
        the standard problem.
    mode : str, optional
        Force ``"whitened"`` or ``"metric"`` (default: whitened when ``M`` offers ``whiten``).
    cg_rtol, cg_max_iter : float, int
        Inner conjugate-gradient tolerance and iteration cap (only used without an exact solve).
    """

    def __init__(self, A, M=None, *, mode=None, cg_rtol=1e-10, cg_max_iter=None):
        self.A = aslinearoperator(A)
        self.d = self.A.dim
        if isinstance(M, np.ndarray):
            M = metric_from_matrix(M)
        if M is not None:
            M = aslinearoperator(M)
            if M.dim != self.d:
                raise ShapeError(f"metric has dimension {M.dim} but the operator has {self.d}.")
            if M.is_identity:
                M = None
        self.M = M
        if mode is None:
            mode = "standard" if M is None else ("whitened" if M.has_whiten else "metric")
        if (
            mode not in MODES
            or (mode != "standard" and M is None)
            or (mode == "whitened" and not M.has_whiten)
        ):
            raise ValueError(
                f"mode={mode!r} is not available for this metric (choose from {MODES})."
            )
        self.mode = mode
        self.kernel_dim = 0 if M is None else M.kernel_dim
        self.range_dim = self.d - (self.kernel_dim or 0)
        self.exact = mode != "metric" or M.has_solve
        # without an exact solve: CG when the metric is known to be regular or comes with a range
        # projector (consistent systems); otherwise the minimum-norm CG on the normal equations,
        # which gives the pseudo-inverse without knowing the kernel (and the projector G⁺G).
        self._factor_coords = mode == "whitened" and not M.symmetric_factor
        if self._factor_coords and self.kernel_dim and not M.has_factor_project:
            raise ValueError(
                f"the metric is singular (kernel_dim={self.kernel_dim}) and its whitening factor W "
                "is not symmetric (whiten_t given) but it offers no factor_project, the projector "
                "onto the range of Wᵀ in W's coordinates: the engine cannot restrict probes to its "
                "range."
            )
        if mode == "whitened" and self.kernel_dim and M.symmetric_factor and not M.has_project:
            raise ValueError(
                f"the metric is singular (kernel_dim={self.kernel_dim}) and offers whiten but "
                "neither unwhiten nor project: the engine cannot restrict probes to its range."
            )
        self.pinv = (
            mode == "metric" and not M.has_solve and self.kernel_dim != 0 and not M.has_project
        )
        self._projects = (
            M is not None
            and self.kernel_dim != 0
            and (M.has_factor_project if self._factor_coords else (M.has_project or self.pinv))
        )
        self.cg_rtol, self.cg_max_iter = cg_rtol, cg_max_iter
        self.n_apply = 0  # products with A
        self.cg_iterations = 0
        self.cg_failures = []  # messages of inner solves that did not converge
        self._last_solution = None

    @property
    def uses_metric_inner(self):
        """Whether the Krylov inner product is ``⟨x, y⟩_M`` (mode ``"metric"``)."""
        return self.mode == "metric"

    @property
    def method(self):
        if self.mode == "standard":
            return "standard"
        if self.mode == "whitened":
            return "whitened Wᵀ A W" if self._factor_coords else "whitened M^{-1/2} A M^{-1/2}"
        if self.exact:
            return "M-inner product, exact solves"
        return "M-inner product, " + ("pseudo-inverse CG solves" if self.pinv else "CG solves")

    # --- the operator --------------------------------------------------------------------
    def project(self, x):
        """Project Krylov coordinates onto the range of ``M`` (identity for a regular metric).

        Start vectors and probes (Lanczos, Hutchinson, Hutch++, SLQ) pass through here. With a
        non-symmetric factor ``W`` this is ``M.factor_project`` (the range of ``Wᵀ``), not a
        projector of tangent vectors.
        """
        if not self._projects:
            return x
        if self._factor_coords:
            return self.M.factor_project(x)
        if self.M.has_project:
            return self.M.project(x)
        return self.solve(self.M.mv(x))  # G⁺ G x

    def _A(self, x):
        self.n_apply += 1
        return self.A.mv(x)

    def solve(self, b):
        """``M⁺ b``: exact, or by conjugate gradients (failures recorded, not raised)."""
        if self.M.has_solve:
            return self.M.solve(b)
        solver = cg_pinv if self.pinv else cg
        res = solver(
            self.M, b, rtol=self.cg_rtol, max_iter=self.cg_max_iter, name=f"metric {self.M.name}"
        )
        self.cg_iterations += res.n_iter
        if not res.converged:
            self.cg_failures.append(res.message)
        return res.x

    def apply(self, x):
        """The self-adjoint operator in Krylov coordinates (see the module docstring)."""
        if self.mode == "standard":
            return self._A(x)
        if self.mode == "whitened":
            return self.M.whiten_t(self._A(self.M.whiten(x)))
        Ax = self._A(self.project(x))
        return self.solve(Ax if self.pinv else self.project(Ax))

    def apply_with_metric_image(self, x):
        """``(E x, M E x)`` in mode ``"metric"`` (``M E x`` is ``A x`` when solves are exact)."""
        Ax = self._A(self.project(x))
        if not self.pinv:
            Ax = self.project(Ax)
        y = self.solve(Ax)
        return y, (Ax if self.exact else self.M.mv(y))

    def metric_mv(self, x):
        """``M x`` in mode ``"metric"``; ``x`` otherwise (Euclidean Krylov coordinates)."""
        return self.M.mv(x) if self.mode == "metric" else x

    def inner_norm(self, x, Mx):
        """``√⟨x, x⟩`` in the Krylov inner product, raising if the metric is not positive."""
        sq = dot(x, Mx)
        # rounding in x·Mx is ~ε‖x‖‖Mx‖; a genuinely indefinite metric gives a much larger negative
        if self.mode == "metric" and sq < -INDEFINITE_RTOL * norm(x) * norm(Mx):
            raise NotPositiveDefiniteError(
                f"metric {self.M.name} is not positive definite: found xᵀ M x = {sq:.3g} < 0."
            )
        return np.sqrt(max(sq, 0.0))

    def to_vector(self, y):
        """Krylov coordinates → a tangent vector ``v`` with ``A v = λ M v``."""
        return self.M.whiten(y) if self.mode == "whitened" else y

    def form(self, x):
        """``xᵀ C x`` for the operator ``C`` of :meth:`apply` (Krylov coordinates).

        Standard and whitened modes use the operator's quadratic form ``A.quad`` (on ``W x``):
        no full product is formed when ``A`` has a cheaper route for it.
        """
        if self.mode == "metric":
            return dot(x, self.apply(x))
        self.n_apply += 1
        if self.mode == "standard":
            return self.A.quad(x)
        return self.A.quad(self.M.whiten(x))  # C = Wᵀ A W: xᵀ C x = (W x)ᵀ A (W x)

    def trace_probe(self, z):
        """``zᵀ E z`` for a probe ``z`` (an unbiased sample of ``tr E`` over the range).

        Whitened mode skips the projection: ``W P = W`` for the range projector ``P`` of the
        Krylov coordinates (the whitening factor already maps the kernel to 0), so
        ``(Pz)ᵀ C (Pz) = zᵀ C z`` exactly.
        """
        if self.mode == "metric":
            z = self.project(z)
            # tr(M⁻¹A) = E[zᵀ M⁻¹ A z] = E[(M⁺z)ᵀ A z] with one solve and one product
            return dot(self.solve(z), self._A(z))
        return self.form(z)

    def status(self):
        """``(converged, message)`` of the inner solves so far."""
        if not self.cg_failures:
            return True, ""
        return False, (
            f"{len(self.cg_failures)} inner conjugate-gradient solve(s) of the metric did "
            f"not converge, e.g.: {self.cg_failures[0]}"
        )
