"""One shared suite over every installed backend, against closed-form derivatives."""

import subprocess
import sys

import numpy as np
import pytest

from rgeom.backend import available_backends, get_backend, infer_backend
from rgeom.errors import BackendError

X = np.array([0.3, -1.2, 2.0])
V = np.array([1.0, 0.5, -0.25])


def f_scalar(bk):
    xp = bk.xp
    return lambda x: xp.sum(xp.sin(x) * x[0]) + 0.5 * xp.sum(x * x * x)


def grad_closed(x):
    g = x[0] * np.cos(x) + 1.5 * x * x
    g[0] += np.sin(x).sum()
    return g


def hess_closed(x):
    H = np.diag(-x[0] * np.sin(x) + 3.0 * x)
    H[0, :] += np.cos(x)
    H[:, 0] += np.cos(x)
    return H


def test_value_and_grad(bk, to_np):
    x = bk.asarray(X)
    val, g = bk.value_and_grad(f_scalar(bk), x)
    assert abs(float(val) - (np.sum(np.sin(X) * X[0]) + 0.5 * np.sum(X ** 3))) < 1e-14
    np.testing.assert_allclose(to_np(g), grad_closed(X), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(to_np(bk.grad(f_scalar(bk), x)), grad_closed(X), rtol=1e-13)


def test_jvp_vjp_jacobian(bk, to_np):
    xp = bk.xp
    f = lambda x: xp.stack([x[0] * x[1], xp.exp(x[2]), x[0] + x[2] ** 2])  # noqa: E731
    J = np.array([[X[1], X[0], 0.0], [0.0, 0.0, np.exp(X[2])], [1.0, 0.0, 2 * X[2]]])
    x, v = bk.asarray(X), bk.asarray(V)
    val, jv = bk.jvp(f, x, v)
    np.testing.assert_allclose(to_np(val), [X[0] * X[1], np.exp(X[2]), X[0] + X[2] ** 2], rtol=1e-14)
    np.testing.assert_allclose(to_np(jv), J @ V, rtol=1e-13)
    val, vj = bk.vjp(f, x, v)
    np.testing.assert_allclose(to_np(vj), J.T @ V, rtol=1e-13)
    np.testing.assert_allclose(to_np(bk.jacobian(f, x)), J, rtol=1e-13)


def test_hvp_and_hessian(bk, to_np):
    x, v = bk.asarray(X), bk.asarray(V)
    np.testing.assert_allclose(to_np(bk.hvp(f_scalar(bk), x, v)), hess_closed(X) @ V, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_np(bk.hessian(f_scalar(bk), x)), hess_closed(X), rtol=1e-12, atol=1e-14)


def test_jit_and_conversion(bk, to_np):
    f = bk.jit(f_scalar(bk))
    assert abs(float(f(bk.asarray(X))) - float(f_scalar(bk)(bk.asarray(X)))) < 1e-14
    a = bk.asarray([1, 2])
    assert to_np(a).dtype == np.float64
    assert bk.owns(a) or bk.name == "autograd"  # autograd arrays are plain NumPy arrays


def test_inference_from_arrays(bk):
    assert infer_backend(bk.asarray(X)).name == bk.name
    assert infer_backend(X, 1.0).name == "autograd"
    assert get_backend(None, bk.asarray(X)) is bk


@pytest.mark.skipif(len(available_backends()) < 3, reason="needs jax and torch")
def test_mixed_arrays_are_refused():
    t, j = get_backend("torch").asarray(X), get_backend("jax").asarray(X)
    with pytest.raises(BackendError, match="mixed"):
        infer_backend(t, j)


def test_unknown_backend_name():
    with pytest.raises(BackendError, match="backend must be one of"):
        get_backend("tensorflow")
    with pytest.raises(BackendError):
        get_backend(3.0)


def test_import_is_light():
    """`import rgeom` imports no heavy backend, no geomstats, no hypothesis, and changes no
    process-wide state we can observe (NumPy's namespace, warning filters) beyond what its core
    dependencies do on their own import."""
    code = (
        "import sys, warnings, numpy, scipy.linalg, scipy.integrate, autograd  # core deps\n"
        "before = (hasattr(numpy, 'trapz'), len(warnings.filters))\n"
        "import rgeom, rgeom.maps, rgeom.metrics\n"
        "after = (hasattr(numpy, 'trapz'), len(warnings.filters))\n"
        "heavy = [m for m in ('torch', 'jax', 'geomstats', 'hypothesis', 'matplotlib') if m in sys.modules]\n"
        "print(heavy, before == after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True", out.stdout + out.stderr
