"""The densities gallery (examples/densities_gallery.py) prints the closed-form numbers that
docs/densities.md quotes, and the page's code runs. Each runs in a fresh interpreter, so JAX's
x64 flag and matplotlib's backend cannot leak into other tests."""

import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _numbers(line):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", line)]


def _line(out, start):
    for line in out.splitlines():
        if line.strip().startswith(start):
            return line
    raise AssertionError(f"no line starting with {start!r} in:\n{out}")


@pytest.mark.slow
def test_gallery_prints_the_closed_forms(tmp_path):
    args = [sys.executable, str(ROOT / "examples" / "densities_gallery.py")]
    plots = importlib.util.find_spec("matplotlib") is not None
    if plots:
        args += ["--plot", str(tmp_path / "gallery.png")]
    out = _run(args, tmp_path)

    def last(label):
        return _numbers(_line(out, label))[-1]

    # 1. log-normal: e^(μ−σ²), e^μ, e², 1/σ², log Z = −σ²/2 (naive) and 0 (invariant, exact)
    assert last("naive MAP in ψ") == pytest.approx(0.36787944, abs=1e-8)
    assert last("invariant mode in ψ") == pytest.approx(1.0, abs=1e-8)
    assert last("naive Laplace precision in ψ") == pytest.approx(math.e ** 2, abs=1e-7)
    assert last("invariant Laplace precision") == pytest.approx(1.0, abs=1e-8)
    naive_z, inv_z = _numbers(_line(out, "log marginal: naive / invariant / exact"))[:2]
    assert naive_z == pytest.approx(-0.5, abs=1e-8) and inv_z == pytest.approx(0.0, abs=1e-8)
    # 2. Beta(2, 5): a/(a+b) in logit, (a−½)/(a+b−1) invariant in both charts, precision a+b−1
    assert last("naive MAP in z, as x") == pytest.approx(2 / 7, abs=1e-8)
    assert last("invariant mode in x") == pytest.approx(0.25, abs=1e-8)
    assert last("invariant mode in z, as x") == pytest.approx(0.25, abs=1e-8)
    assert _numbers(_line(out, "precision: naive x"))[-2:] == [6.0, 6.0]
    # 3. variance: invariant = naive log-variance mode = β'/α'; its evidence is chart-free and
    #    within 0.05 nats of the exact conjugate evidence
    assert last("invariant mode in v") == pytest.approx(last("naive MAP in s, as v"), abs=1e-8)
    inv_v, inv_s, exact = _numbers(_line(out, "log evidence: invariant v"))
    assert inv_v == pytest.approx(inv_s, abs=1e-6) and abs(inv_v - exact) < 0.05
    # 4. logistic regression: the invariant mode is one point in both charts, the naive ones are not
    w = np.array(_numbers(_line(out, "invariant mode in w"))[-2:])
    np.testing.assert_allclose(_numbers(_line(out, "invariant mode in (r, φ), as w"))[-2:], w, atol=1e-7)
    assert np.abs(np.array(_numbers(_line(out, "naive MAP in w"))[-2:]) - w).max() > 0.1
    eig = _numbers(_line(out, "precision eigenvalues, invariant w"))
    np.testing.assert_allclose(eig[:2], eig[2:], rtol=1e-7)
    # 5. von Mises–Fisher: invariant mode μ, precision (κ, κ)
    np.testing.assert_allclose(_numbers(_line(out, "invariant mode (= μ"))[-2:], [0.5, 0.0], atol=1e-8)
    np.testing.assert_allclose(_numbers(_line(out, "invariant precision eigenvalues (κ, κ)"))[-2:], [6, 6],
                               rtol=1e-7)
    if plots:
        names = ["gallery.png"] + [f"gallery_{c}.png" for c in
                                   ("lognormal", "beta_logit", "gaussian_variance", "logistic_regression", "vmf")]
        for name in names:
            assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_densities_page_code_runs(tmp_path):
    text = (ROOT / "docs" / "densities.md").read_text(encoding="utf-8")
    script = tmp_path / "page.py"
    script.write_text("\n".join(re.findall(r"```python\n(.*?)```", text, re.S)), encoding="utf-8")
    out = _run([sys.executable, str(script)], tmp_path)
    lines = out.splitlines()
    assert _numbers(lines[0]) == [0.36787944]            # "[0.36787944] [1.]": e^(μ−σ²), e^μ
    assert _numbers(lines[1])[0] == pytest.approx(math.e ** 2, rel=1e-7)
    naive_z, inv_z = (float(x) for x in lines[2].split())
    assert naive_z == pytest.approx(-0.5, abs=1e-10) and inv_z == pytest.approx(0.0, abs=1e-10)
