"""The ``txt`` format: ``<chat>/messages.txt``, a plain transcript for reading and grepping.

One line per message, ``[2024-05-01 12:34:56 UTC] Alice: text``; continuation lines indented
by four spaces; replies, forwards, media and service actions in brackets; a separator line at
each new UTC day. See docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec

from .writer import TxtWriter


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="txt",
        factory=TxtWriter,
        description="messages.txt: a plain-text transcript, one line per message",
    )
