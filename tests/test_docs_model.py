"""docs/model.md is the reference of tgx.model for format authors: checked against the code the
way test_hooks_documented.py checks the hooks — every field of every public dataclass has a row
under its class's heading, no row names a field that does not exist, and every RenderContext
member is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from tgx import model, specs
from tgx.model import Message, Peer
from tgx.text import peer_name, sender_name

DOCS = Path(__file__).resolve().parents[1] / "docs" / "model.md"
CLASSES = sorted(name for name, obj in vars(model).items()
                 if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == model.__name__)


def _rows(heading: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"docs/model.md has no '## {heading}' section"
    return re.findall(r"^\| `([a-z_]+)(?:\(.*?\))?` \|", match.group(1), flags=re.M)


def test_the_model_has_its_classes():
    assert {"Message", "Peer", "Media", "Forward", "Action", "Reaction", "Entity"} <= set(CLASSES)


@pytest.mark.parametrize("name", CLASSES)
def test_every_field_is_documented_in_order_and_nothing_else(name):
    fields = [f.name for f in dataclasses.fields(getattr(model, name))]
    assert _rows(name) == fields


def test_every_render_context_member_is_documented():
    members = [n for n in specs.RenderContext.__annotations__] + [
        n for n, v in vars(specs.RenderContext).items() if callable(v) and not n.startswith("_")]
    assert sorted(_rows("RenderContext")) == sorted(members)


def test_sender_name_is_the_one_rule_the_docs_give():
    chat = Peer(-1001, "channel", "News")
    alice = Peer(5, "user", "", username="alice")
    known = {5: alice, 6: Peer(6, "user", "Bob")}
    look = known.get
    date = model.utc(0)
    assert sender_name(Message(-1001, 1, date, sender_id=6), chat, look) == "Bob"
    assert sender_name(Message(-1001, 2, date, sender_id=5), chat, look) == "@alice"
    assert sender_name(Message(-1001, 3, date, sender_id=7), chat, look) == "7"  # not in the archive
    assert sender_name(Message(-1001, 4, date, post_author="Ann"), chat, look) == "Ann"  # signed post
    assert sender_name(Message(-1001, 5, date), chat, look) == "News"  # anonymous: the chat's title
    named = Message(-1001, 6, date, extra={"from": "Carol"})  # an HTML import names senders without ids
    assert sender_name(named, chat, look) == "Carol"
    assert peer_name(None) == ""
