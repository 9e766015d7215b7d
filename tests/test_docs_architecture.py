"""docs/architecture.md names the modules as they are: every ``tgx.x.y`` it mentions imports
(or is an attribute of its module), every file of its tree exists, and every engine sub-package
appears in the tree — a rename without the doc fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
TREE = DOC.split("```\ncore/tgx/", 1)[1].split("```", 1)[0]
DOTTED = sorted(set(re.findall(r"`(tgx(?:\.[a-z_]+)+)", DOC)))


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_exists(name):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)  # AttributeError: the doc names something that is gone
        return
    pytest.fail(f"{name} does not exist")


def test_every_file_of_the_tree_exists():
    folder = ""
    for line in TREE.splitlines():
        entry = line[:31].strip()
        if not entry or line.startswith("plugins/"):
            continue
        if line.startswith("  ") and not line.startswith("    ") and entry.endswith("/"):
            folder = entry
            continue
        for word in entry.split():
            if word.endswith("/"):
                assert (ROOT / "core" / "tgx" / word).is_dir(), word
            elif "/" in word or word.endswith(".py"):
                path = ROOT / "core" / "tgx" / (word if "/" in word else folder + word if line.startswith("    ")
                                                 else word)
                assert path.is_file(), f"{word} ({path})"


def test_every_engine_package_is_in_the_tree():
    packages = sorted(p.name for p in (ROOT / "core" / "tgx").iterdir() if (p / "__init__.py").is_file())
    for name in packages:
        assert re.search(rf"^  {name}/", TREE, flags=re.M), f"core/tgx/{name}/ is missing from the tree"


PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
EVERY_DOTTED = sorted({(page.name, name) for page in PAGES
                       for name in re.findall(r"`(tgx(?:\.[a-z_]+)+)", page.read_text(encoding="utf-8"))
                       if name != "tgx.toml"})


@pytest.mark.parametrize(("page", "name"), EVERY_DOTTED, ids=[f"{p}:{n}" for p, n in EVERY_DOTTED])
def test_every_doc_names_modules_that_exist(page, name):
    test_every_dotted_name_exists(name)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_to_source_files_exist(page):
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).resolve().exists(), f"{page.name} links to {target}, which is gone"
