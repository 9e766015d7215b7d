"""Every hook is documented in docs/plugins.md and has its own test (datasette's rule).

Adding a ``tgx_*`` hook to tgx/hookspecs.py without a ``## tgx_<hook>`` section in the plugin
author's guide showing its exact arguments, or without a ``test_hook_<hook>`` test, fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from tgx import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent

HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if name.startswith("tgx_") and inspect.isfunction(obj))


def test_there_are_hooks() -> None:
    assert "tgx_telegram_client" in HOOKS and len(HOOKS) >= 6


def _doc_sections() -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^##\s+`?(tgx_\w+)`?\s*$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_section_in_docs_plugins_md(hook: str) -> None:
    assert hook in _doc_sections(), f"docs/plugins.md has no '## {hook}' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_its_own_test(hook: str) -> None:
    """datasette's rule: a ``def test_hook_<name>`` somewhere under tests/ (tests/test_hooks.py)."""
    pattern = re.compile(rf"^(async )?def test_hook_{hook}\(", flags=re.MULTILINE)
    assert any(pattern.search(path.read_text(encoding="utf-8")) for path in TESTS.rglob("test_*.py")), \
        f"no test_hook_{hook} under tests/"


def _doc_signature(hook: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(f"\n## {hook}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^def {hook}\((.*?)\)", section, flags=re.MULTILINE)
    assert match, f"the '## {hook}' section shows no `def {hook}(...)` signature"
    return match.group(1)


@pytest.mark.parametrize("hook", HOOKS)
def test_doc_signature_has_the_hookspecs_arguments(hook: str) -> None:
    """The signature in the docs names exactly the arguments pluggy calls the hook with
    (``hookspec.argnames``), in order: an author copying it gets a valid implementation."""
    import pluggy

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    spec = getattr(pm.hook, hook).spec
    documented = [a.split(":")[0].strip() for a in _doc_signature(hook).split(",") if a.strip()]
    assert documented == list(spec.argnames)


def test_docs_have_no_section_for_a_hook_that_does_not_exist() -> None:
    assert _doc_sections() <= set(HOOKS)
