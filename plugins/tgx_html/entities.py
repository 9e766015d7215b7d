"""Message text + entities -> escaped HTML with properly nested tags.

Offsets are UTF-16 code units (Telegram's count), mapped to string indices by
:func:`tgx.text.entity_slices`. Entities may nest or overlap; :func:`tgx.text.nested_runs` cuts
the text at every entity boundary and says which tags to close and reopen, so the output is
always well-formed (an overlap ``<b>ab<i>c</b>d</i>`` becomes ``<b>ab<i>c</i></b><i>d</i>``);
equal ranges nest in a fixed order of types.

Every text run goes through ``markupsafe.escape``; the only markup is the tags emitted here,
and every attribute value is escaped as well. Links get an ``href`` only when
:func:`tgx.text.safe_href` allows it; otherwise their text stays plain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markupsafe import Markup, escape
from tgx.model import Entity
from tgx.text import EntitySlice, entity_slices, nested_runs, safe_href

from .safety import clean_text, mention_href, phone_href

_SIMPLE_TAGS = {
    "bold": ("<strong>", "</strong>"),
    "italic": ("<em>", "</em>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="spoiler" tabindex="0">', "</span>"),
    "code": ("<code>", "</code>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "hashtag": ('<span class="hashtag">', "</span>"),
    "cashtag": ('<span class="cashtag">', "</span>"),
    "bot_command": ('<span class="bot-command">', "</span>"),
    "bank_card": ('<span class="bank-card">', "</span>"),
    "custom_emoji": ('<span class="custom-emoji">', "</span>"),
}
# Equal ranges nest in this order (outermost first), so the output does not depend on the
# order Telegram happened to list them in.
_NEST_RANK = {name: i for i, name in enumerate((
    "blockquote", "pre", "text_link", "link", "email", "phone", "mention", "mention_name", "hashtag",
    "cashtag", "bot_command", "bank_card", "spoiler", "bold", "italic", "underline", "strikethrough",
    "code", "custom_emoji"))}
_VERBATIM = frozenset({"pre", "code"})  # newlines stay newlines inside these
_BLOCK_ENDS = frozenset({"</blockquote>", "</code></pre>"})
_LANGUAGE_JUNK = re.compile(r"[^A-Za-z0-9_+#.\-]")


def _run(text: str, verbatim: bool, next_char: str = "", after_block: bool = False) -> str:
    """One escaped run. A CR that ends the run but starts a CRLF with the next run is dropped
    here, so the result does not depend on where entity boundaries fall. The newline that
    follows a blockquote or code block is marked so CSS can hide it: the block already ends
    the line, and a visible ``<br>`` would add an empty one."""
    if next_char == "\n" and text.endswith("\r"):
        text = text[:-1]
    escaped = str(escape(clean_text(text)))
    if verbatim:
        return escaped
    if after_block and escaped.startswith("\n"):
        return '<br class="after-block">' + escaped[1:].replace("\n", "<br>")
    return escaped.replace("\n", "<br>")


def _attr(value: str) -> str:
    return str(escape(value))


def _link(href: str | None, title: str | None, css: str, in_link: bool) -> tuple[str, str, bool]:
    """An ``<a>`` when there is a safe target and we are not inside another link (nested
    anchors are invalid HTML and browsers would break the outer one)."""
    title_attr = f' title="{_attr(title)}"' if title else ""
    if href is None or in_link:
        return f'<span class="{css}"{title_attr}>', "</span>", False
    return (f'<a class="{css}" href="{_attr(href)}"{title_attr} rel="noopener noreferrer nofollow">',
            "</a>", True)


def _tags(entity: Entity, content: str, in_link: bool) -> tuple[str, str, bool]:
    """(open, close, is_anchor) for one entity; ``content`` is the entity's whole text."""
    kind = entity.type
    simple = _SIMPLE_TAGS.get(kind)
    if simple is not None:
        return simple[0], simple[1], False
    if kind == "pre":
        language = _LANGUAGE_JUNK.sub("", entity.language or "")[:40]
        code = f'<code class="language-{language}">' if language else "<code>"
        return '<pre class="pre">' + code, "</code></pre>", False
    if kind == "text_link":
        href = safe_href(entity.url)
        return _link(href, entity.url, "text-link" if href else "text-link blocked", in_link)
    if kind == "link":
        return _link(safe_href(content), None, "link", in_link)
    if kind == "email":
        return _link(safe_href("mailto:" + content.strip()), None, "email", in_link)
    if kind == "phone":
        return _link(phone_href(content), None, "phone", in_link)
    if kind == "mention":
        return _link(mention_href(content), None, "mention", in_link)
    if kind == "mention_name":
        href = f"tg://user?id={int(entity.user_id)}" if entity.user_id is not None else None
        return _link(href, None, "mention-name", in_link)
    return f'<span class="entity-{_LANGUAGE_JUNK.sub("", kind)}">', "</span>", False


def render_text(text: str, entities: Sequence[Entity]) -> Markup:
    """The message text as safe HTML (``<br>`` for newlines outside pre/code)."""
    if not text:
        return Markup("")
    spans = entity_slices(text, entities)
    if not spans:
        return Markup(_run(text, False))
    spans.sort(key=lambda s: (s[0], -s[1], _NEST_RANK.get(s[2].type, 99)))  # stable: then message order
    out: list[str] = []
    # open stack: (span, closing tag, is_anchor, verbatim)
    stack: list[tuple[EntitySlice, str, bool, bool]] = []
    after_block = False
    for a, b, keep, opened in nested_runs(spans, 0, len(text)):
        while len(stack) > keep:
            close_tag = stack.pop()[1]
            out.append(close_tag)
            after_block = after_block or close_tag in _BLOCK_ENDS
        for span in opened:
            in_link = any(entry[2] for entry in stack)
            verbatim = any(entry[3] for entry in stack) or span[2].type in _VERBATIM
            open_tag, close_tag, is_anchor = _tags(span[2], text[span[0]:span[1]], in_link)
            out.append(open_tag)
            stack.append((span, close_tag, is_anchor, verbatim))
        out.append(_run(text[a:b], bool(stack) and stack[-1][3], text[b:b + 1], after_block))
        after_block = False
    while stack:
        out.append(stack.pop()[1])
    return Markup("".join(out))
