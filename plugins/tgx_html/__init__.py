"""The ``html`` format: a paged, static, self-contained archive that opens from disk.

``<chat>/messages.html``, ``messages2.html``, ... plus ``style.css``: no scripts, no external
resources, a strict Content-Security-Policy, everything from Telegram escaped. See
docs/format-html.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, OptionSpec, RenderContext

PAGE_SIZE_OPTION = "html-page-size"
DEFAULT_PAGE_SIZE = 1000


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (jinja2 and the templates are not needed to
    list formats or build `tgx --help`)."""
    from .writer import HtmlWriter

    return HtmlWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="html",
        factory=_writer,
        description="static HTML pages (messages.html, messages2.html, ...) that open from disk",
        options=(OptionSpec(PAGE_SIZE_OPTION, "Messages per HTML page (messages.html, messages2.html, ...)",
                            default=DEFAULT_PAGE_SIZE, type=int),),
    )
