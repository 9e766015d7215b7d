"""Scripts rely on exit codes: every ``tgx.errors.ExitCode`` is in both tables the docs give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tgx.errors import ExitCode

DOCS = Path(__file__).resolve().parents[1] / "docs"
CODES = {name: value for name, value in vars(ExitCode).items() if name.isupper()}


@pytest.mark.parametrize("page", ["configuration.md", "user-guide.md"])
def test_every_exit_code_is_in_the_table(page: str) -> None:
    rows = re.findall(r"^\| (\d+) \|", (DOCS / page).read_text(encoding="utf-8"), flags=re.M)
    assert sorted(int(r) for r in rows) == sorted(CODES.values())


def test_the_configuration_table_names_each_code() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name, value in CODES.items():
        assert f"| {value} | {name} |" in text
