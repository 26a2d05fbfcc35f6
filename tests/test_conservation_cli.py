"""``rgeom laws``, the documentation page's code and the example script.

The page and the script run in fresh interpreters (subprocesses) so that process-wide state
(JAX's x64 flag, torch threads, matplotlib's backend) cannot leak between tests.
"""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rgeom.cli
from rgeom.conservation.cli import register, run

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sympy")


def laws(*argv):
    parser = argparse.ArgumentParser(prog="rgeom")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["laws", *argv])
    out = io.StringIO()
    code = run(args, out=out)
    return code, out.getvalue()


def test_json_for_two_layer_linear():
    code, text = laws("linear:2,2,2", "--json")
    d = json.loads(text)
    assert code == 0
    assert (d["D"], d["dim_W"], d["dim_lie"], d["n_laws"], d["expected_laws"]) == (8, 4, 5, 3, 3)
    assert len(d["polynomial_laws"]) == 3 and d["polynomial"]["exact"] and d["certain"]
    assert d["evidence"]["levels"][0]["ranks"] == [4, 4, 4]


def test_relu_with_bias_text_output():
    code, text = laws("relu:2,3,2", "--bias")
    assert code == 0 and "laws = 3" in text and "-> matches" in text
    assert "W1[0,0]**2 + W1[0,1]**2 - W2[0,0]**2 - W2[1,0]**2 + b1[0]**2" in text


def test_momentum_with_verification():
    code, text = laws("linear:2,2,2", "--flow", "momentum", "--damping", "0.5", "--verify", "--json")
    d = json.loads(text)
    assert code == 0 and d["n_laws"] == 1 and d["damping"] == 0.5 and len(d["polynomial_laws"]) == 1
    v = d["verification"]
    assert v["status"] == "success" and v["max_law_drift"] < 1e-9 and v["min_control_drift"] > 1e-2


def test_module_factory_spec_and_uncertain_exit_status(tmp_path, monkeypatch):
    (tmp_path / "my_laws_models.py").write_text(textwrap.dedent("""
        import autograd.numpy as anp
        from rgeom.conservation import from_phi

        def product():
            return from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3)

        def nearly_dependent():
            return from_phi(lambda th: anp.array([1.0, 1.0]) * th[0] + anp.array([0.0, 1e-13]) * th[1], 2)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, text = laws("my_laws_models:product", "--json", "--backend", "autograd")
    d = json.loads(text)
    assert code == 0 and (d["dim_lie"], d["n_laws"]) == (1, 2) and "expected_laws" not in d
    assert d["polynomial_laws"] == ["θ1**2 - θ3**2", "θ2**2 - θ3**2"]
    code, text = laws("my_laws_models:nearly_dependent", "--backend", "autograd", "--degree", "0")
    assert code == 3 and "UNCERTAIN" in text


def test_bad_spec_exit_status(capsys):
    assert laws("relu:2,x,2")[0] == 2
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_registered_in_the_rgeom_command(monkeypatch, capsys):
    if "rgeom.conservation.cli" not in rgeom.cli.COMMANDS:
        monkeypatch.setattr(rgeom.cli, "COMMANDS", rgeom.cli.COMMANDS + ("rgeom.conservation.cli",))
    assert rgeom.cli.main(["laws", "relu:2,2,1", "--json", "--degree", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["n_laws"] == 2


# --- docs page and example (subprocesses) -------------------------------------------------------
def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_docs_page_code_runs(tmp_path):
    text = (ROOT / "docs" / "conservation.md").read_text(encoding="utf-8")
    script = tmp_path / "page.py"
    script.write_text("\n".join(re.findall(r"```python\n(.*?)```", text, re.S)), encoding="utf-8")
    out = _run([sys.executable, str(script)], tmp_path)
    lines = out.splitlines()
    assert lines[0] == "8 4 5 3 3" and "1 1 2" in lines
    assert "[2, 2, 3, 2] 9 9 5 5" in lines and "[3, 4, 2, 3] 13 13 6 6" in lines
    assert "1 ['θ1 - θ2']" in lines and lines.count("0") == 1


def test_example_prints_matching_counts_and_drifts(tmp_path):
    png = tmp_path / "drift.png"
    args = [sys.executable, str(ROOT / "examples" / "conservation_laws.py")]
    if __import__("importlib").util.find_spec("matplotlib"):
        args += ["--plot", str(png)]
    out = _run(args, tmp_path)
    table = out.split("1. Counting")[1].split("2. Polynomial")[0]
    rows = [line.split() for line in table.splitlines() if re.match(r"^\s+(linear|relu|conv|attention):", line)]
    assert len(rows) == 9
    for row in rows:     # ... D dim_W dim_Lie laws closed_form min_gap
        laws_, closed, gap = int(row[-3]), int(row[-2]), float(row[-1])
        assert laws_ == closed and gap > 1e8, row
    drifts = [float(m) for m in re.findall(r"law\s+drift\s+(\S+)", out)]
    controls = [float(m) for m in re.findall(r"control\s+drift\s+(\S+)", out)]
    assert len(drifts) == 4 and max(drifts) < 1e-9
    assert len(controls) == 5 and min(controls) > 1e-2
    assert "θ1 - θ2" in out and "b1[2]**2" in out
    if png.exists():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
