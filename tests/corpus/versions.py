"""The sample chat as a living archive sees it: edited messages with earlier versions, deletions
with the time tgx learned of them.

A separate function rather than a change to ``sample_messages()``: every format test that
compares the sample chat's output keeps comparing the same messages, and a test of versions
can render both and see that only the changed messages' output changed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tgx.model import Entity, Media, Message, Version

from corpus.sample_chat import T0, sample_messages

EDITED = 14  # "Edited message": two earlier versions
EDITED_MEDIA = 16  # "Photo caption": one earlier version, with a different photo
DELETED = 43  # "This one was deleted on Telegram": with deleted_at
DELETED_AT = T0 + timedelta(days=2, hours=3)
HOSTILE_VERSION_TEXT = "<script>window.__pwned=1</script> click me & <b>bold</b>"
UNSAFE_VERSION_URL = "javascript:window.__pwned=1"


def earlier_versions() -> list[Version]:
    """Message 14's history, oldest first: the original (no edit date), then a first edit whose
    text is hostile (a ``<script>`` and a ``javascript:`` text link) and formatted."""
    text = HOSTILE_VERSION_TEXT
    link_at = text.index("click me")
    return [
        Version(None, "Original text, first draft"),
        Version(T0 + timedelta(minutes=15), text, [
            Entity("text_link", link_at, 8, url=UNSAFE_VERSION_URL), Entity("bold", 0, 8)]),
    ]


def living_messages() -> list[Message]:
    """``sample_messages()`` with message 14 edited twice before (two earlier versions),
    message 16's caption and photo replaced once, and message 43 deleted at ``DELETED_AT``."""
    msgs = sample_messages()
    by_id = {m.id: i for i, m in enumerate(msgs)}
    edited = msgs[by_id[EDITED]]
    msgs[by_id[EDITED]] = replace(edited, history=earlier_versions())
    photo = msgs[by_id[EDITED_MEDIA]]
    msgs[by_id[EDITED_MEDIA]] = replace(photo, edit_date=photo.date + timedelta(hours=1), history=[
        Version(None, "Old caption", [], Media("photo", 499, size=10, width=64, height=48))])
    deleted = msgs[by_id[DELETED]]
    msgs[by_id[DELETED]] = replace(deleted, deleted_at=DELETED_AT)
    return msgs
