"""The ``html`` format: a paged, static, self-contained archive that opens from disk.

``<chat>/messages.html``, ``messages2.html``, ... plus ``style.css``: no scripts, no external
resources, a strict Content-Security-Policy, everything from Telegram escaped. See
docs/format-html.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, OptionSpec

from .writer import DEFAULT_PAGE_SIZE, PAGE_SIZE_OPTION, HtmlWriter


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="html",
        factory=HtmlWriter,
        description="static HTML pages (messages.html, messages2.html, ...) that open from disk",
        options=(OptionSpec(PAGE_SIZE_OPTION, "messages per HTML page (messages.html, messages2.html, ...)",
                            default=DEFAULT_PAGE_SIZE, type=int),),
    )
