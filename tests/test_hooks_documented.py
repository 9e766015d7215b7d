"""Every hook is documented in docs/plugins.md and exercised by a test (datasette's rule).

Adding a ``tgx_*`` hook to tgx/hookspecs.py without a ``## tgx_<hook>`` section in the plugin
author's guide, or without a test that names it, fails here.
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
def test_hook_is_named_by_some_test(hook: str) -> None:
    this = Path(__file__).resolve()
    for path in TESTS.rglob("test_*.py"):
        if path.resolve() != this and hook in path.read_text(encoding="utf-8"):
            return
    pytest.fail(f"no test under tests/ mentions {hook}")


def test_docs_have_no_section_for_a_hook_that_does_not_exist() -> None:
    assert _doc_sections() <= set(HOOKS)
