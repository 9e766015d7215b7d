"""Message text with Telegram entities as Markdown that Obsidian (and CommonMark) render faithfully.

Two promises, both tested:

* **Nothing in the text is taken as syntax.** Every character that could start Markdown or
  Obsidian syntax (emphasis, links, wikilinks, embeds, tags, highlights, comments, math, block
  ids, HTML, tables, code) is backslash-escaped; the few that matter only at the start of a
  line (``>``, ``-``, ``+``, ``1.``) are escaped there; a leading space or tab becomes a
  character reference so it cannot start an indented code block. Un-escaping gives the text back.
* **Formatting is well formed whatever the entities.** Entities may overlap or nest in any way
  (Telegram's offsets count UTF-16 code units); the text is cut at every boundary and the
  pieces are nested properly. Each piece is wrapped line by line (inline Markdown cannot span
  a paragraph break) with its whitespace moved outside the markers. Markdown markers (``**``,
  ``*``, ``~~``, ``==``) are used only where CommonMark's flanking rules make them certain to
  work (a word character on both inner ends, no same marker right before or nested inside);
  elsewhere the equivalent inline HTML tag (``<b>``, ``<i>``, ``<s>``, ``<mark>``) is used.
  Underline has no Markdown syntax and is always ``<u>``. Two code spans in a row, or a link
  right after ``!``, are kept apart the same way.

Block entities: ``pre`` becomes a fenced code block (the fence is longer than any backtick run
inside, so text cannot close it early); ``blockquote`` prefixes its lines with ``> ``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from tgx.model import Entity
from tgx.text import LINK_SCHEMES, EntitySlice, entity_slices, nested_runs, url_scheme

_LINE_START_MARKERS = ">+-"  # block quote, list items, thematic breaks, setext underlines
_WHITESPACE_REFS = {" ": "&#32;", "\t": "&#9;"}

MARKDOWN_MARKERS = {"bold": "**", "italic": "*", "strikethrough": "~~", "spoiler": "=="}
HTML_TAGS = {"bold": "b", "italic": "i", "strikethrough": "s", "underline": "u", "spoiler": "mark"}
LINK_TYPES = ("text_link", "mention_name")
INLINE_TYPES = frozenset({*HTML_TAGS, *LINK_TYPES, "code"})

SAFE_URL_SCHEMES = LINK_SCHEMES | {"ftp"}
_URL_SAFE_CHARS = ":/?#[]@!$&'*+,;=%-._~"


# ---------------------------------------------------------------------------------------------
# plain text


# Always escaped: ASCII punctuation that starts inline syntax in CommonMark, GFM or Obsidian
# (\ ` * _ [ ] < & | ~ emphasis/code/links/HTML/tables/strike; # tags and headings; = highlight;
# $ math; % comments; ^ block ids and inline footnotes). CR is a line ending in Markdown (kept
# as a character reference); NUL is replaced by CommonMark anyway (kept out of the file).
# A regex with a lookup beats str.translate on non-Latin-1 text.
_ESCAPES = {**{c: "\\" + c for c in "\\`*_[]<&|~#=$%^"}, "\r": "&#13;", "\0": "\ufffd"}
_NEEDS_ESCAPE = re.compile(r"[\\`*_\[\]<&|~#=$%^\r\0]")


def _escape_one(m: re.Match[str]) -> str:
    return _ESCAPES[m.group()]


def _escape_bulk(s: str) -> str:
    return _NEEDS_ESCAPE.sub(_escape_one, s) if _NEEDS_ESCAPE.search(s) else s


# Line state: 0 = only spaces/tabs so far on this line, 1 = spaces then digits, 2 = anything else.
def escape_plain(s: str, state: int = 0) -> tuple[str, int]:
    """Escape ``s`` (which may span lines); ``state`` says what precedes it on its line.

    Returns the escaped text and the state after it, so consecutive pieces of one text can be
    escaped separately and still agree on where lines start.
    """
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if state == 2:
            j = s.find("\n", i)
            if j < 0:
                out.append(_escape_bulk(s[i:]))
                break
            out.append(_escape_bulk(s[i:j]))
            out.append("\n")
            state = 0
            i = j + 1
            continue
        c = s[i]
        if c == "\n":
            out.append(c)
            state = 0
        elif state == 0 and c in " \t":
            out.append(c)
        elif "0" <= c <= "9":
            out.append(c)
            state = 1
        elif state == 0 and c in _LINE_START_MARKERS:
            out.append("\\" + c)
            state = 2
        elif state == 1 and c in ".)":  # "1." / "1)" would start an ordered list
            out.append("\\" + c)
            state = 2
        else:
            state = 2
            continue  # handled by the bulk branch
        i += 1
    return "".join(out), state


def escape_inline(s: str) -> str:
    """A one-line fragment that never starts a line (names, titles, excerpts)."""
    if "\n" in s or "\r" in s:
        s = " ".join(s.replace("\r", "\n").split("\n"))
    return _escape_bulk(s)


def _protect_indent(line: str) -> str:
    """A leading space or tab would start an indented code block after a blank line. Blank is
    Markdown's blank — spaces and tabs only: a line of a tab and a no-break space is a code block
    (Python's ``isspace`` calls it blank)."""
    if line and line[0] in _WHITESPACE_REFS and line.strip(" \t"):
        return _WHITESPACE_REFS[line[0]] + line[1:]
    return line


# ---------------------------------------------------------------------------------------------
# links


def safe_url(url: str | None) -> str | None:
    """A URL fit for a Markdown link destination, or None when its scheme is not allowed.

    No scheme means ``https://`` (as Telegram's apps do; a bare name would be a note link in
    Obsidian). Spaces, parentheses, angle brackets, backslashes and non-ASCII are percent-encoded.
    Not :func:`tgx.text.safe_href` (the html rule), whose output differs here: ``ftp`` is allowed,
    whitespace inside is percent-encoded rather than refused, leading slashes are dropped rather
    than refused, and ``name.tld:port`` reads as a scheme (refused) rather than a host.
    """
    if not url:
        return None
    url = url.strip()
    scheme = url_scheme(url)
    if scheme is None:
        url = "https://" + url.lstrip("/")
    elif scheme not in SAFE_URL_SCHEMES:
        return None
    return quote(url, safe=_URL_SAFE_CHARS)


def _link_target(entity: Entity) -> str | None:
    if entity.type == "mention_name":
        return f"tg://user?id={entity.user_id}" if entity.user_id is not None else None
    return safe_url(entity.url)


# ---------------------------------------------------------------------------------------------
# inline rendering


def _wordish(ch: str) -> bool:
    """Neither whitespace nor punctuation/symbol: CommonMark's flanking rules always hold."""
    return not ch.isspace() and unicodedata.category(ch)[0] not in "PS"


_ESCAPED = re.compile(r"\\.")


def _split_ws(piece: str) -> tuple[str, str, str]:
    core = piece.strip()
    if not core:
        return piece, "", ""
    lead = piece[: len(piece) - len(piece.lstrip())]
    trail = piece[len(piece.rstrip()):]
    return lead, core, trail


def wrap_lines(kind: str, inner: str, prev: str | None, target: str | None) -> str:
    """Wrap each line of ``inner`` in ``kind``'s markers; ``prev`` is the character before."""
    out = []
    for n, piece in enumerate(inner.split("\n")):
        lead, core, trail = _split_ws(piece)
        if not core:
            out.append(piece)
            continue
        if kind in LINK_TYPES:
            out.append(f"{lead}[{core}]({target}){trail}")
            continue
        before = lead[-1:] or (prev if n == 0 else None)
        marker = MARKDOWN_MARKERS.get(kind)
        if (marker and _wordish(core[0]) and _wordish(core[-1])
                and (before is None or before != marker[0])
                and marker[0] not in _ESCAPED.sub("", core)):  # no same marker nested inside
            out.append(f"{lead}{marker}{core}{marker}{trail}")
        else:
            tag = HTML_TAGS[kind]
            out.append(f"{lead}<{tag}>{core}</{tag}>{trail}")
    return "\n".join(out)


def code_span(raw: str, prev: str | None = None) -> str:
    """Inline code, line by line; the backtick fence is longer than any run inside.

    Right after another code span (``prev`` is a backtick) the two fences would merge into one
    run, so the first line becomes ``<code>`` with escaped content instead.
    """
    raw = raw.replace("\r", " ").replace("\0", "\ufffd")
    out = []
    for n, line in enumerate(raw.split("\n")):
        if not line or line.isspace():
            out.append(line)
            continue
        if n == 0 and prev == "`":
            out.append(f"<code>{_escape_bulk(line)}</code>")
            continue
        longest = max((len(run) for run in re.findall("`+", line)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if line[0] == "`" or line[-1] == "`" or (line[0] == " " and line[-1] == " ") else ""
        out.append(f"{fence}{pad}{line}{pad}{fence}")
    return "\n".join(out)


@dataclass(slots=True)
class _Node:
    entity: Entity | None
    children: list[_Node | tuple[int, int]] = field(default_factory=list)


def _tree(spans: list[EntitySlice], a: int, b: int) -> _Node:
    """Nest the spans over [a, b): cut at every boundary, reopen what a closing span interrupts."""
    spans = sorted(spans, key=lambda s: (s[0], -s[1]))  # stable: equal ranges in the message's order
    root = _Node(None)
    stack = [root]
    for p, q, keep, opened in nested_runs(spans, a, b):
        del stack[keep + 1:]
        for span in opened:
            node = _Node(span[2])
            stack[-1].children.append(node)
            stack.append(node)
        stack[-1].children.append((p, q))
    return root


def _node_range(node: _Node) -> tuple[int, int]:
    first = node.children[0]
    last = node.children[-1]
    while isinstance(first, _Node):
        first = first.children[0]
    while isinstance(last, _Node):
        last = last.children[-1]
    return first[0], last[1]


class _Renderer:
    __slots__ = ("text", "state")

    def __init__(self, text: str) -> None:
        self.text = text
        self.state = 0

    def render(self, node: _Node, in_link: bool, before: str = "") -> str:
        """``node``'s children as Markdown; ``before`` is the character emitted just before them."""
        parts: list[str] = []
        last = before  # the last character emitted before the next child
        for child in node.children:
            if isinstance(child, tuple):
                piece, self.state = escape_plain(self.text[child[0]:child[1]], self.state)
                if piece.endswith("!"):  # a link may follow: "![...](...)" would be an image
                    piece = piece[:-1] + "\\!"
            else:
                kind = child.entity.type  # type: ignore[union-attr]
                target = None
                if kind in LINK_TYPES and not in_link:
                    target = _link_target(child.entity)  # type: ignore[arg-type]
                if kind == "code":
                    start, end = _node_range(child)
                    raw = self.text[start:end]
                    piece = code_span(raw, last or None)
                    tail = raw.rsplit("\n", 1)[-1]
                    if "\n" in raw:
                        self.state = 0 if not tail.strip() else 2
                    elif tail.strip():
                        self.state = 2
                elif kind in LINK_TYPES and target is None:
                    # an unsafe or nested link: only its text, which continues this level
                    piece = self.render(child, True, last)
                else:
                    inner = self.render(child, in_link or kind in LINK_TYPES)
                    piece = wrap_lines(kind, inner, last or None, target)
            if piece:
                parts.append(piece)
                last = "" if piece.endswith("\n") else piece[-1]
        return "".join(parts)


def _render_inline(text: str, a: int, b: int, spans: list[EntitySlice]) -> str:
    clipped = [(max(s, a), min(e, b), ent) for s, e, ent in spans if s < b and e > a]
    if not clipped:
        return escape_plain(text[a:b])[0]
    return _Renderer(text).render(_tree(clipped, a, b), False)


# ---------------------------------------------------------------------------------------------
# blocks


def _fence_for(content: str) -> str:
    longest = max((len(run) for run in re.findall("`{3,}", content)), default=0)
    return "`" * max(3, longest + 1)


def _language(value: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_+#.-]", "", value or "")[:32]


def render_text(text: str, entities: Sequence[Entity] = ()) -> str:
    """The message text as Markdown (no trailing newline added)."""
    if not text:
        return ""
    spans = entity_slices(text, entities)
    if not spans:
        return "\n".join(_protect_indent(line) for line in escape_plain(text)[0].split("\n"))
    pres = [sp for sp in sorted(spans, key=lambda sp: sp[0]) if sp[2].type == "pre"]  # stable
    quotes = [(s, e) for s, e, ent in spans if ent.type == "blockquote"]
    inline = [sp for sp in spans if sp[2].type in INLINE_TYPES]

    # merge overlapping pre spans; the first one's language wins
    blocks: list[tuple[int, int, str | None]] = []
    for s, e, ent in pres:
        if blocks and s < blocks[-1][1]:
            ps, pe, lang = blocks[-1]
            blocks[-1] = (ps, max(pe, e), lang)
        else:
            blocks.append((s, e, ent.language))

    lines: list[tuple[str, int, int]] = []  # (markdown line, source start, source end)
    pos = 0
    for s, e, lang in [*blocks, (len(text), len(text), None)]:
        if s > pos:  # an inline region
            rendered = _render_inline(text, pos, s, inline).split("\n")
            src = pos
            for md, raw in zip(rendered, text[pos:s].split("\n"), strict=True):
                lines.append((_protect_indent(md), src, src + len(raw)))
                src += len(raw) + 1
        if e > s:
            content = text[s:e].replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
            if content.endswith("\n"):
                content = content[:-1]
            fence = _fence_for(content)
            lines.append((fence + _language(lang), s, e))
            lines.extend((line, s, e) for line in content.split("\n"))
            lines.append((fence, s, e))
        pos = max(pos, e)

    if quotes:
        quoted = []
        for md, s, e in lines:
            hit = any(qs < max(e, s + 1) and qe > s for qs, qe in quotes)
            quoted.append(("> " + md if md else ">") if hit else md)
        # a line after a quote would continue it lazily: separate them
        out: list[str] = []
        for n, md in enumerate(quoted):
            if n and quoted[n - 1].startswith(">") and not md.startswith(">") and md.strip():
                out.append("")
            out.append(md)
        return "\n".join(out)
    return "\n".join(md for md, _, _ in lines)
