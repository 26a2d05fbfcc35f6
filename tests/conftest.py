"""Shared fixtures: one test suite parametrized over every installed backend.

JAX computes in float32 unless x64 is enabled; the tests enable it (test set-up owns that
process-wide switch; rgeom itself never touches it).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from rgeom.backend import available_backends, get_backend

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile(
    "dev", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

BACKENDS = available_backends()

if "jax" in BACKENDS:
    import jax

    jax.config.update("jax_enable_x64", True)


@pytest.fixture(params=BACKENDS)
def bk(request):
    """Each installed backend in turn."""
    return get_backend(request.param)


@pytest.fixture
def to_np(bk):
    """Convert a backend array to a float64 NumPy array."""
    return lambda x: np.asarray(bk.to_numpy(x), dtype=np.float64)
