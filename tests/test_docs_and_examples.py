"""The documentation and the example scripts: every example runs and prints the right numbers,
the code on the documentation pages runs, and the site builds with ``mkdocs build --strict``.

Each script and page runs in a fresh interpreter (a subprocess), so that process-wide state such
as JAX's x64 flag or matplotlib's backend cannot leak between them or into the other tests.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
DOCS = ROOT / "docs"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    env["NO_MKDOCS_2_WARNING"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def _run(args, cwd, timeout=300):
    out = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


def _numbers(text):
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", text)]


def _line(output, start):
    """The first output line that starts (after indentation) with ``start``."""
    for line in output.splitlines():
        if line.strip().startswith(start):
            return line
    raise AssertionError(f"no line starting with {start!r} in:\n{output}")


def _eigs(output, label):
    """The eigenvalue list ``λ = [a, b]`` printed on the line labelled ``label``."""
    m = re.search(r"λ = \[([^\]]*)\]", _line(output, label))
    return np.array(_numbers(m.group(1)))


# --- examples -----------------------------------------------------------------------------------
def check_polar_flatness(out):
    np.testing.assert_allclose(_eigs(out, "Cartesian chart, G = I (naive"), [1, 4], atol=1e-7)
    np.testing.assert_allclose(_eigs(out, "polar chart, naive"), [1.2877855, 6.2122145], atol=1e-7)
    np.testing.assert_allclose(_eigs(out, "polar chart, invariant"), [1, 4], atol=1e-7)
    np.testing.assert_allclose(_eigs(out, "polar, metric pulled back, no Christoffel"),
                               [1.1258818, 3.6388241], atol=1e-7)
    np.testing.assert_allclose(_eigs(out, "polar, metric pulled back, with Christoffel"), [1, 4], atol=1e-7)
    assert _numbers(_line(out, "max |Hess_ψ − Jᵀ Hess_θ J|"))[-1] < 1e-12
    assert _numbers(_line(out, "max |∂²L_ψ − Jᵀ ∂²L_θ J|"))[-1] > 1.0


def check_dinh_rescaling(out):
    rows = np.array([[float(x) for x in line.split()] for line in out.splitlines()
                     if re.match(r"^\s+\d+\s+\S+e[-+]\d+\s", line)])
    assert rows.shape == (5, 6), out                   # alpha, max|Δf|, naive tr, λmax, inv tr, λmax
    alpha, same, naive_tr, naive_max, inv_tr, inv_max = rows.T
    assert np.all(same < 1e-12)                        # the rescaled network is the same function
    np.testing.assert_allclose(inv_tr, inv_tr[0], rtol=1e-9)
    np.testing.assert_allclose(inv_max, inv_max[0], rtol=1e-9)
    np.testing.assert_allclose(naive_tr[-1] / naive_tr[-2], (alpha[-1] / alpha[-2]) ** 2, rtol=0.01)
    assert naive_tr[-1] > 1000 * inv_tr[-1]
    assert _numbers(_line(out, "trained:"))[-1] < 1e-8  # |∇L|: a minimum


def check_christoffel_and_geodesics(out):
    assert _numbers(_line(out, "max |Γ − closed form|"))[0] < 1e-12
    for prefix in ("Γ(u, v)", "Γᵏᵢⱼ ∂ₖL vʲ"):
        mf, dense = np.split(np.array(_numbers(_line(out, prefix))), 2)
        np.testing.assert_allclose(mf, dense, atol=1e-12)
    for t in ("0.5", "1.0", "2.0"):
        assert _numbers(_line(out, f"t = {t}:"))[-1] < 1e-9        # error vs (tanh t, sech t)
    distances = [_numbers(line)[0] for line in out.splitlines() if "hyperbolic distance" in line]
    np.testing.assert_allclose(distances, [0.5, 1.0, 2.0], atol=1e-9)
    line = _line(out, "at (r, φ)")
    assert "Γʳᵩᵩ = -2.000000000000" in line and "Γᵠᵣᵩ = 0.500000000000" in line
    a, b = np.split(np.array(_numbers(_line(out, "polar(exp(ψ, u))"))), 2)
    np.testing.assert_allclose(a, b, atol=1e-8)


def check_typed_objects(out):
    assert "step + dL raises TensorTypeError" in out
    direct = _numbers(_line(out, "G⁻¹dL in ψ, computed directly"))
    pulled = _numbers(_line(out, "G⁻¹dL pulled back"))
    np.testing.assert_allclose(direct, pulled, atol=1e-8)
    np.testing.assert_allclose(_numbers(_line(out, "dL in ψ, computed directly")),
                               _numbers(_line(out, "dL pulled back")), atol=1e-8)
    for label in ("dL(step):", "|dL|²_G*"):
        a, b = _numbers(_line(out, label))[-2:]
        assert abs(a - b) < 1e-12


def check_kfac_invariance(out):
    assert max(_numbers(_line(out, "K-FAC (no damping)"))) < 1e-8  # round-off after 50 steps (measured <= 2.3e-11)
    for label in ("K-FAC (damping 1e-3)", "SGD (lr 0.01)", "Adam (lr 0.002)"):
        assert min(_numbers(_line(out, label))[-4:]) > 1e-2, label  # measured >= 0.09
    sweep = {m.group(1): _numbers(line) for line in out.splitlines()
             if (m := re.match(r"^\s+(0|1e-\d\d)\s", line))}
    assert len(sweep) == 8 and max(sweep["0"]) < 1e-8
    factors = [sweep[d][1] for d in ("1e-12", "1e-10", "1e-08")]  # (A + δI) ⊗ (S + δI)
    np.testing.assert_allclose(np.diff(np.log10(factors)), 2.0, atol=0.1)  # first order in δ
    assert min(sweep["1e-03"]) > 1e-2


CHECKS = {
    "polar_flatness": check_polar_flatness,
    "dinh_rescaling": check_dinh_rescaling,
    "christoffel_and_geodesics": check_christoffel_and_geodesics,
    "typed_objects": check_typed_objects,
    "kfac_invariance": check_kfac_invariance,
}


def test_the_documented_examples_exist():
    assert set(CHECKS) <= {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script, tmp_path):
    args = [sys.executable, str(script)]
    png = tmp_path / "figure.png"
    plots = "--plot" in script.read_text(encoding="utf-8")
    if plots and _installed("matplotlib"):
        args += ["--plot", str(png)]
    else:
        plots = False
    out = _run(args, cwd=tmp_path)
    assert out.strip(), f"{script.name} printed nothing"
    check = CHECKS.get(script.stem)
    if check is not None:  # examples without a check here are tested by their own authors
        check(out)
    if plots:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- code on the documentation pages ------------------------------------------------------------
def _python_blocks(page):
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)


def _run_page(page, tmp_path, epilogue=""):
    script = tmp_path / f"page_{Path(page).stem}.py"
    prologue = (
        "import hypothesis\n"
        "hypothesis.settings.register_profile('docs', derandomize=True, database=None)\n"
        "hypothesis.settings.load_profile('docs')\n"
        if _installed("hypothesis") else ""
    )
    script.write_text(prologue + "\n".join(_python_blocks(page)) + epilogue, encoding="utf-8")
    return _run([sys.executable, str(script)], cwd=tmp_path)


def test_quickstart_output_is_real(tmp_path):
    """The first code block on the home page prints exactly the output shown under it."""
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    code = _python_blocks("index.md")[0]
    shown = re.search(r"Output:\s*```text\n(.*?)```", text, re.S).group(1)
    script = tmp_path / "quickstart.py"
    script.write_text(code, encoding="utf-8")
    out = _run([sys.executable, str(script)], cwd=tmp_path)
    assert out.strip() == shown.strip()


def test_home_page_code_runs(tmp_path):
    _run_page("index.md", tmp_path)


def test_geometry_page_code_runs(tmp_path):
    _run_page("geometry.md", tmp_path)


def test_testing_page_code_runs(tmp_path):
    pytest.importorskip("hypothesis")
    epilogue = "\nfor _name, _f in list(globals().items()):\n    if _name.startswith('test_'):\n        _f()\n"
    _run_page("testing.md", tmp_path, epilogue)


def test_backends_page_code_runs(tmp_path):
    for module in ("jax", "torch"):
        if not _installed(module):
            pytest.skip(f"{module} is not installed")
    out = _run_page("backends.md", tmp_path)
    assert out.count("float64 [1. 4.]") == 2, out


# --- the site -----------------------------------------------------------------------------------
def test_docs_build_strict(tmp_path):
    missing = [m for m in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")
               if not _installed(m)]
    if missing:
        pytest.skip(f"documentation tools not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    site = tmp_path / "site"
    args = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)]
    out = subprocess.run(args, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    assert "WARNING" not in log, log
    for page in ("index.html", "concepts/index.html", "geometry/index.html", "api/maps/index.html",
                 "api/testing/index.html", "api/geomstats/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "geometry" / "index.html").read_text(encoding="utf-8")
    assert "riemannian_hessian" in api


def _docstring_hook():
    spec = importlib.util.spec_from_file_location("rgeom_docs_hook", DOCS / "_hooks" / "docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_hook_converts_rest_tables_and_roles():
    hook = _docstring_hook()
    text = (
        "Intro.\n\n"
        "======  ================  =====\n"
        "name    formula           class\n"
        "======  ================  =====\n"
        "a       ``|det J|``       :class:`~rgeom.maps.Map`\n"
        "b       x | y\n"
        "        continued\n"
        "======  ================  =====\n\n"
        "See :func:`rgeom.flatness`."
    )
    out = hook._ROLE.sub(hook._role_to_code, hook._rst_tables_to_markdown(text))
    assert "| name | formula | class |" in out
    assert "| a | ``|det J|`` | `Map` |" in out
    assert "| b | x \\| y continued |  |" in out
    assert "=====" not in out and out.endswith("See `rgeom.flatness`.")
