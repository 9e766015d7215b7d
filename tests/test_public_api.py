"""The public API is written down once — ``tgx.PUBLIC_MODULES`` — and held to what the docs say
and what the import contracts enforce; the example plugin in docs/ is tested here with only it.

* docs/plugins.md lists exactly those modules;
* pyproject's contract "The public API never imports the engine" covers exactly them (but
  ``tgx.testing``, the bridge that lets plugins' tests run the real engine);
* each imports, and every name in ``tgx.__all__`` exists;
* the example plugin (package and tests) imports only public modules, and its own tests pass.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tgx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "tgx-format-example"
BRIDGE = "tgx.testing"


def _contract(name: str) -> dict:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"] == name)


def test_docs_list_exactly_the_public_modules():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    start = text.index("Import only the public API")
    section = text[start:text.index("\n\n", text.index("`tgx.PUBLIC_NAMES`", start))]
    listed = set(re.findall(r"^\* `(tgx\.[a-z_.]+)`", section, flags=re.M))
    assert listed == set(tgx.PUBLIC_MODULES)
    for name in tgx.PUBLIC_NAMES:
        assert f"`{name}`" in section


def test_the_import_contract_guards_exactly_the_public_modules():
    guarded = set(_contract("The public API never imports the engine")["source_modules"])
    assert guarded == set(tgx.PUBLIC_MODULES) - {BRIDGE}
    assert BRIDGE in _contract("The public API never imports the engine")["forbidden_modules"]


@pytest.mark.parametrize("module", tgx.PUBLIC_MODULES)
def test_each_public_module_imports(module):
    importlib.import_module(module)


def test_every_exported_name_exists():
    for name in tgx.__all__:
        assert hasattr(tgx, name), name
    for dotted in tgx.PUBLIC_NAMES:
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), dotted


def _tgx_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tgx":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tgx"}
    return found


def test_the_example_plugin_imports_only_the_public_api():
    allowed = {"tgx", *tgx.PUBLIC_MODULES}
    for path in EXAMPLE.rglob("*.py"):
        assert _tgx_imports(path) <= allowed, path


def test_the_example_plugins_own_tests_pass(tmp_path):
    """As `tox -e example` runs them, without pip: the example's entry point via a dist-info."""
    site = tmp_path / "site"
    info = site / "tgx_format_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgx-format-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[tgx]\nexample_format = tgx_format_example\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(EXAMPLE), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tgx.testing", "-p", "no:cacheprovider",
                           "tests"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
