"""Vector kernels of the engine, written with :func:`numpy.einsum` instead of BLAS.

``einsum`` runs these level-1/2 operations in NumPy's own single-threaded SIMD loops. BLAS
(OpenBLAS) would wake its thread pool for every call: on a shared or oversubscribed machine a
wake-up costs up to a scheduler quantum (measured here: a 100 000-entry dot product 0.05 ms with
einsum, 3–24 ms through BLAS with 2 threads under load). The operations are memory-bound, so a
single core runs them at full speed anyway.
"""

import math

import numpy as np


def dot(x, y):
    """``xᵀ y`` as a Python float."""
    return float(np.einsum("i,i->", x, y))


def norm(x):
    """Euclidean norm ``‖x‖₂``."""
    return math.sqrt(max(dot(x, x), 0.0))


def gemv(Q, x):
    """``Q x`` for a row-major block ``Q`` (m, d) and ``x`` (d,): shape (m,)."""
    return np.einsum("ij,j->i", Q, x)


def gemv_t(c, Q):
    """``Qᵀ c`` = ``Σᵢ cᵢ Q[i]`` for ``c`` (m,) and ``Q`` (m, d): shape (d,)."""
    return np.einsum("i,ij->j", c, Q)
