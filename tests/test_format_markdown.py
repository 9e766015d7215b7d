"""The ``markdown`` format: text escaping and entities (unit), and the vault through the real engine.

Markdown semantics are checked with markdown-it-py (CommonMark + GFM strikethrough/tables; it is
installed with ``rich``): whatever the text and the entities, the rendered HTML holds exactly the
message's characters, and only the tags that formatting produces. Obsidian-only syntax (tags,
highlights, comments, math, wikilinks, block ids) is checked by looking for unescaped markers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import tgx_markdown
import tgx_markdown.writer as md_writer
from corpus.archived import message_maker, render_archived
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from tgx.model import ENTITY_TYPES, Action, Entity, Forward, Media, Message, Peer, Reaction
from tgx.text import utf16_len
from tgx_markdown.text import escape_inline, render_text, safe_url

CHAT = Peer(-1001234567890, "supergroup", 'The "Test" Group\n#1', username="testgroup")
ALICE = Peer(11, "user", "Alice [A] | B", first_name="Alice")
BOB = Peer(22, "user", "Bob *bold*", username="bob")
NEWS = Peer(-1009999, "channel", "News Channel", username="news")
PEERS = [ALICE, BOB, NEWS]
T0 = datetime(2024, 5, 1, 22, 0, 0, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# helpers

_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])|&#13;|^&#32;|^&#9;", re.M)


def unescape(md: str) -> str:
    """The inverse of the plain-text escaping (not of formatting)."""
    def one(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        return {"&#13;": "\r", "&#32;": " ", "&#9;": "\t"}[m.group(0)]
    return _UNESCAPE.sub(one, md)


ALLOWED_TAGS = {"p", "br", "strong", "em", "s", "del", "code", "pre", "a", "blockquote",
                "b", "i", "u", "mark"}
_MD = MarkdownIt("commonmark", {"html": True}).enable(["strikethrough", "table"])


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(md: str) -> tuple[str, set[str]]:
    """The text a CommonMark renderer shows, and the tags it uses."""
    parser = _Text()
    parser.feed(_MD.render(md))
    parser.close()
    return "".join(parser.parts), set(parser.tags)


def squash(text: str) -> str:
    """Markdown collapses and trims whitespace: compare characters, not spacing."""
    return "".join(text.replace("\0", "\ufffd").split())


# ---------------------------------------------------------------------------------------------
# text: escaping


markdown_heavy = st.text(
    st.one_of(st.sampled_from(list("ab1 *_`[]()<>#|~=$%^&\\!-+.:\n\t😀é")),
              st.characters(exclude_categories=("Cs",))),
    max_size=80)


@settings(max_examples=300, deadline=None)
@given(markdown_heavy)
def test_plain_text_round_trips_through_unescape(text: str) -> None:
    assert unescape(render_text(text)) == text.replace("\0", "\ufffd")


@settings(max_examples=300, deadline=None)
@given(markdown_heavy)
@example("\t\xa0")  # Python's isspace() says blank; Markdown says an indented code block
def test_plain_text_renders_as_itself_and_nothing_else(text: str) -> None:
    md = render_text(text)
    shown, tags = visible(md)
    assert squash(shown) == squash(text)
    assert tags <= {"p", "br"}, (text, md, tags)
    # no Obsidian syntax survives: strip escapes, then no marker character is left bare
    bare = re.sub(r"\\.|&#(13|32|9);", "", md)
    assert not re.search(r"[*_`\[\]<&|~#=$%^]", bare), (text, md)


@pytest.mark.parametrize(("text", "expected"), [
    ("# heading", "\\# heading"),
    ("1. one\n2) two", "1\\. one\n2\\) two"),
    ("- item\n+ item\n> quote", "\\- item\n\\+ item\n\\> quote"),
    ("a - b + c > d", "a - b + c > d"),  # only at the start of a line
    ("    code?", "&#32;   code?"),
    ("\tx", "&#9;x"),
    ("==hl== %%c%% $m$ [[w]] ^b #t", "\\=\\=hl\\=\\= \\%\\%c\\%\\% \\$m\\$ \\[\\[w\\]\\] \\^b \\#t"),
    ("<script>&amp;", "\\<script>\\&amp;"),
    ("a\r\nb", "a&#13;\nb"),
    ("---", "\\---"),
    ("```", "\\`\\`\\`"),
])
def test_escaping_examples(text: str, expected: str) -> None:
    assert render_text(text) == expected


def test_escape_inline_keeps_one_line() -> None:
    assert escape_inline("a\nb\r\nc *d*") == "a b  c \\*d\\*"


# ---------------------------------------------------------------------------------------------
# text: entities


def E(kind: str, offset: int, length: int, **kw: object) -> Entity:  # noqa: N802 - reads like the type
    return Entity(kind, offset, length, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "entities", "expected"), [
    ("bold", [E("bold", 0, 4)], "**bold**"),
    ("italic", [E("italic", 0, 6)], "*italic*"),
    ("gone", [E("strikethrough", 0, 4)], "~~gone~~"),
    ("secret", [E("spoiler", 0, 6)], "==secret=="),
    ("under", [E("underline", 0, 5)], "<u>under</u>"),
    ("(paren)", [E("bold", 0, 7)], "<b>(paren)</b>"),  # ** would not open before punctuation
    ("ab", [E("bold", 0, 1), E("italic", 1, 1)], "**a**<i>b</i>"),  # no "***" run
    ("bold and italic", [E("bold", 0, 4), E("italic", 2, 8)], "<b>bo*ld*</b> *and i*talic"),
    (" padded ", [E("bold", 0, 8)], "&#32;**padded** "),
    ("two\nlines", [E("bold", 0, 9)], "**two**\n**lines**"),
    ("use `x`", [E("code", 0, 7)], "`` use `x` ``"),
    ("a *b*", [E("code", 0, 5)], "`a *b*`"),
    ("site", [E("text_link", 0, 4, url="https://e.org/a b(c)")], "[site](https://e.org/a%20b%28c%29)"),
    ("site", [E("text_link", 0, 4, url="e.org")], "[site](https://e.org)"),
    ("evil", [E("text_link", 0, 4, url="javascript:alert(1)")], "evil"),
    ("evil", [E("text_link", 0, 4, url="data:text/html,x")], "evil"),
    ("Bob", [E("mention_name", 0, 3, user_id=22)], "[Bob](tg://user?id=22)"),
    ("in out", [E("text_link", 0, 6, url="https://a"), E("text_link", 0, 2, url="https://b")],
     "[in out](https://a)"),  # no link inside a link
    ("😀x", [E("bold", 2, 1)], "😀**x**"),  # offsets in UTF-16 units
    ("😀x", [E("bold", 1, 2)], "😀**x**"),  # an offset inside a surrogate pair snaps forward
    ("😀x", [E("bold", 0, 1)], "<b>😀</b>x"),  # half a character: the end snaps forward
    ("x", [E("bold", -5, 3), E("italic", 0, 99)], "*x*"),  # clamped to the text
    ("tag #x", [E("hashtag", 4, 2)], "tag \\#x"),
    ("ab", [E("code", 0, 1), E("code", 1, 1)], "`a`<code>b</code>"),  # no "``" run between them
    ("Wow!site", [E("text_link", 4, 4, url="https://e.org")], "Wow\\![site](https://e.org)"),  # no image
])
def test_entity_examples(text: str, entities: list[Entity], expected: str) -> None:
    assert render_text(text, entities) == expected


def test_pre_gets_a_fence_longer_than_any_inside() -> None:
    text = "see:\nprint('```')\n````\nend"
    md = render_text(text, [E("pre", 5, utf16_len(text) - 5 - 4, language="py thon`")])
    assert md == "see:\n\n`````python\nprint('```')\n````\n`````\n\nend"
    shown, tags = visible(md)
    assert "pre" in tags and squash(shown) == squash(text)


def test_pre_mid_line_starts_on_its_own_line() -> None:
    md = render_text("a code b", [E("pre", 2, 4)])
    assert md == "a \n```\ncode\n```\n&#32;b"


def test_blockquote_prefixes_its_lines_and_ends_cleanly() -> None:
    md = render_text("q1\nq2\nafter", [E("blockquote", 0, 5)])
    assert md == "> q1\n> q2\n\nafter"
    shown, tags = visible(md)
    assert "blockquote" in tags and "after" not in _MD.render(md).split("</blockquote>")[0]


ENTITY_KINDS = ["bold", "italic", "underline", "strikethrough", "code", "pre", "text_link", "mention_name",
                "blockquote", "custom_emoji", "mention", "hashtag", "link", "unknown_kind"]


@st.composite
def texts_with_entities(draw: st.DrawFn) -> tuple[str, list[Entity]]:
    text = draw(markdown_heavy)
    n16 = utf16_len(text)
    entities = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(ENTITY_KINDS))
        offset = draw(st.integers(-2, n16 + 2))
        length = draw(st.integers(0, n16 + 3))
        url = draw(st.sampled_from(["https://e.org/x y", "javascript:x", "tg://resolve?domain=a", "e.org",
                                    None]))
        entities.append(Entity(kind, offset, length, url=url, user_id=7, language=draw(
            st.sampled_from([None, "py", "a`b c"]))))
    return text, entities


@settings(max_examples=400, deadline=None)
@given(texts_with_entities())
def test_any_entities_render_exactly_the_text(case: tuple[str, list[Entity]]) -> None:
    text, entities = case
    md = render_text(text, entities)
    shown, tags = visible(md)
    assert squash(shown) == squash(text), (text, entities, md)
    assert tags <= ALLOWED_TAGS, (text, entities, md, tags)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12),
       st.sampled_from(["bold", "italic", "strikethrough"]))
def test_word_formatting_is_markdown_and_takes_effect(word: str, kind: str) -> None:
    md = render_text(f"x {word} y", [E(kind, 2, utf16_len(word))])
    marker = {"bold": "**", "italic": "*", "strikethrough": "~~"}[kind]
    assert md == f"x {marker}{word}{marker} y"
    tag = {"bold": "strong", "italic": "em", "strikethrough": "s"}[kind]
    assert tag in visible(md)[1]


@pytest.mark.parametrize("url", ["http://a", "https://a", "tg://user?id=1", "mailto:a@b.c", "HTTPS://A"])
def test_safe_url_keeps_safe_schemes(url: str) -> None:
    assert safe_url(url) == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:x", "data:x", "file:///etc/passwd",
                                 "vbscript:x", "", None])
def test_safe_url_drops_the_rest(url: str | None) -> None:
    assert safe_url(url) is None


# ---------------------------------------------------------------------------------------------
# the vault, through the real engine


def kitchen_sink() -> list[Message]:
    msg = message_maker(CHAT, T0, ALICE)
    text = "bold italic 😀 link @bob #tag code"
    entities = [E("bold", 0, 4), E("italic", 5, 6), E("text_link", 15, 4, url="https://x.org"),
                E("mention", 20, 4), E("hashtag", 25, 4), E("code", 30, 4)]
    return [
        msg(1, 0, action=Action("create_group", {"title": "Test", "members": [ALICE.id, BOB.id]})),
        msg(2, 0.5, text=text, entities=entities),
        # 2024-05-02 from here on
        msg(3, 3, text="---\ntitle: injected\n---\n```", sender_id=BOB.id, reply_to_id=2),
        msg(4, 4, text="forwarded", forward=Forward(from_id=NEWS.id, date=T0)),
        msg(5, 5, text="hidden", forward=Forward(from_name="Some | One")),
        msg(6, 6, media=Media("photo", 501, path="media/501.jpg"), grouped_id=9),
        msg(7, 6, media=Media("photo", 502, size=2048), grouped_id=9, text="album caption"),
        msg(8, 7, media=Media("document", 503, file_name="notes [v2].zip", size=1 << 20,
                              path="media/503 notes [v2].zip")),
        msg(9, 8, media=Media("voice", 504, path="media/504.ogg", duration=3.0)),
        msg(10, 9, media=Media("poll", 505, extra={"question": "Lunch?", "answers": [
            {"text": "- Pizza", "voters": 3}, {"text": "1. Soup", "voters": 1}], "total_voters": 4})),
        msg(11, 10, media=Media("geo", extra={"latitude": 52.5, "longitude": 13.4})),
        msg(12, 11, media=Media("contact", extra={"first_name": "Carol", "phone_number": "+100"})),
        msg(13, 12, media=Media("webpage", extra={"url": "https://e.org", "title": "E *org*"})),
        msg(14, 13, text="+1", reactions=[Reaction("emoji", 3, "👍"), Reaction("paid", 2)]),
        msg(15, 14, text="edited", edit_date=T0 + timedelta(days=2)),
        msg(16, 15, text="gone", deleted=True, deleted_at=T0 + timedelta(days=2)),
        msg(17, 16, text="channel post", sender_id=None, post_author="Editor"),
        msg(18, 17, action=Action("pin_message", {"message_id": 2})),
        msg(19, 18, text="reply to the void", reply_to_id=9999),
        # June: another month
        msg(20, 24 * 31, text="june reply", reply_to_id=3),
        msg(21, 24 * 31 + 1, action=Action("edit_group_title", {"title": 'New "title"'})),
    ]


def render(out: Path, messages: list[Message], options: dict | None = None, batch_size: int = 1000) -> Path:
    return render_archived(out, CHAT, messages, PEERS, tgx_markdown.tgx_register_formats(), options,
                           batch_size=batch_size).chat_dir


_YAML_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def yaml_scalar(raw: str) -> object:
    """The subset of YAML the notes use: double-quoted strings, ints, null, bare dates/words."""
    if raw.startswith('"'):
        assert re.fullmatch(r'"(?:[^"\\\x00-\x1f\x7f-\x9f]|\\.|\\x[0-9A-F]{2}|\\u[0-9A-F]{4})*"', raw), raw
        body = raw[1:-1]
        def one(m: re.Match[str]) -> str:
            code = m.group(1)
            return chr(int(code[1:], 16)) if len(code) > 1 else _YAML_ESCAPES[code]
        return re.sub(r"\\(x[0-9A-F]{2}|u[0-9A-F]{4}|.)", one, body)
    if raw == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    assert re.fullmatch(r"[a-z0-9-]+", raw), raw
    return raw


def front_matter(note: str) -> dict[str, object]:
    assert note.startswith("---\n")
    head = note[4:note.index("\n---\n", 4)]
    data = {}
    for line in head.split("\n"):
        key, sep, raw = line.partition(": ")
        assert sep and re.fullmatch(r"[a-z_]+", key), line
        data[key] = yaml_scalar(raw)
    return data


def notes(chat_dir: Path) -> dict[str, str]:
    return {p.relative_to(chat_dir).as_posix(): p.read_text("utf-8")
            for p in sorted((chat_dir / "markdown").rglob("*.md"))}


def test_layout_one_note_per_day_and_an_index(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink()))
    assert sorted(vault) == ["markdown/2024/2024-05-01.md", "markdown/2024/2024-05-02.md",
                             "markdown/2024/2024-06-01.md", "markdown/index.md"]
    index = vault["markdown/index.md"]
    assert front_matter(index)["message_count"] == 21
    assert "- [[markdown/2024/2024-05-01|2024-05-01]] · 2 messages" in index
    assert "- [[markdown/2024/2024-06-01|2024-06-01]] · 2 messages" in index


def test_front_matter_is_safe_yaml(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink()))
    fm = front_matter(vault["markdown/2024/2024-05-02.md"])
    assert fm == {"chat": CHAT.title, "chat_id": CHAT.id, "username": "testgroup", "date": "2024-05-02",
                  "message_count": 17, "first_message_id": 3, "last_message_id": 19}
    # the note body begins after the one front matter block; a message's "---" cannot start another
    body = vault["markdown/2024/2024-05-02.md"].split("\n---\n", 1)[1]
    assert "\n---\ntitle: injected" not in body and "\\---\ntitle: injected\n\\---" in body


def test_every_message_has_a_block_id_and_replies_link_across_notes(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink()))
    allnotes = "\n".join(vault.values())
    for i in range(1, 22):
        assert len(re.findall(rf" \^m{i}$", allnotes, re.M)) == 1, i
    may2 = vault["markdown/2024/2024-05-02.md"]
    june = vault["markdown/2024/2024-06-01.md"]
    # reply in 05-02 to a message in 05-01, and from June back to 05-02
    assert ("> ↩ Reply to [[markdown/2024/2024-05-01#^m2|Alice (A) / B]]: "
            "bold italic 😀 link @bob \\#tag code") in may2
    assert "> ↩ Reply to [[markdown/2024/2024-05-02#^m3|Bob \\*bold\\*]]" not in june  # alias is not escaped
    assert ("> ↩ Reply to [[markdown/2024/2024-05-02#^m3|Bob *bold*]]: --- title: injected --- \\`\\`\\`"
            in june)
    assert "> ↩ Reply to message 9999 (not in the archive)" in may2
    for target, block in re.findall(r"\[\[(markdown/[^#|\]]+)#\^(m\d+)\|", allnotes):
        assert re.search(rf" \^{block}$", vault[target + ".md"], re.M), (target, block)


def test_messages_media_and_service(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink()))
    may1, may2 = vault["markdown/2024/2024-05-01.md"], vault["markdown/2024/2024-05-02.md"]
    assert "**22:00:00** · <i>Alice \\[A\\] \\| B created the group «Test»</i> ^m1" in may1
    assert ("**22:30:00** · Alice \\[A\\] \\| B ^m2\n\n"
            "**bold** *italic* 😀 [link](https://x.org) @bob \\#tag `code`") in may1
    assert "> ↪ Forwarded from News Channel · 2024-05-01 22:00:00 UTC" in may2
    assert "> ↪ Forwarded from Some \\| One" in may2
    assert "![[media/501.jpg]]" in may2
    assert "📎 photo, 2.0 KB (not downloaded)" in may2
    # a path that cannot be a wikilink becomes a relative Markdown link, percent-encoded
    assert "[notes \\[v2\\].zip](../../media/503%20notes%20%5Bv2%5D.zip)" in may2
    assert "![[media/504.ogg]]" in may2
    assert "📊 Poll: Lunch?\n\n- \\- Pizza — 3\n- 1\\. Soup — 1\n\n4 votes" in may2
    assert "📍 [52.5, 13.4](https://www.openstreetmap.org/?mlat=52.5&mlon=13.4#map=16/52.5/13.4)" in may2
    assert "🔗 [E \\*org\\*](https://e.org)" in may2
    assert "👍 3 · ⭐ 2" in may2
    assert "**12:00:00** · Alice \\[A\\] \\| B · *edited* ^m15" in may2
    assert "*deleted 2024-05-03 22:00:00 UTC* ^m16" in may2
    assert "**14:00:00** · Editor ^m17" in may2
    assert "*Alice \\[A\\] \\| B pinned* [[markdown/2024/2024-05-01#^m2|a message]] ^m18" in may2


def test_navigation_links_neighbouring_notes(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink()))
    assert vault["markdown/2024/2024-05-02.md"].endswith(
        "---\n\n← [[markdown/2024/2024-05-01|2024-05-01]] · [[markdown/index|Index]] · "
        "[[markdown/2024/2024-06-01|2024-06-01]] →\n")
    assert vault["markdown/2024/2024-05-01.md"].endswith(
        "---\n\n[[markdown/index|Index]] · [[markdown/2024/2024-05-02|2024-05-02]] →\n")


def test_month_split(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, kitchen_sink(), {"markdown-split": "month"}))
    assert sorted(vault) == ["markdown/2024/2024-05.md", "markdown/2024/2024-06.md", "markdown/index.md"]
    may = vault["markdown/2024/2024-05.md"]
    assert front_matter(may)["date"] == "2024-05" and front_matter(may)["message_count"] == 19
    assert may.index("## 2024-05-01") < may.index("^m1") < may.index("## 2024-05-02") < may.index("^m3")
    assert "[[markdown/2024/2024-05#^m3|" in vault["markdown/2024/2024-06.md"]


def test_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    a = notes(render(tmp_path / "a", kitchen_sink()))
    b = notes(render(tmp_path / "b", kitchen_sink(), batch_size=2))
    c = notes(render(tmp_path / "a", kitchen_sink(), batch_size=5))
    assert a == b == c


def test_a_note_larger_than_the_memory_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [Message(CHAT.id, i, T0 + timedelta(seconds=i), text=f"message {i} " + "x" * 200,
                        sender_id=ALICE.id) for i in range(1, 301)]
    expected = notes(render(tmp_path / "a", messages))
    monkeypatch.setattr(md_writer, "SPOOL_BYTES", 1024)  # forces the on-disk path
    assert notes(render(tmp_path / "b", messages)) == expected
    assert front_matter(expected["markdown/2024/2024-05-01.md"])["message_count"] == 300


def test_empty_chat_has_an_index(tmp_path: Path) -> None:
    vault = notes(render(tmp_path, []))
    assert list(vault) == ["markdown/index.md"] and "No messages." in vault["markdown/index.md"]


titles = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=titles, text=markdown_heavy)
def test_any_title_and_text_survive(tmp_path_factory: pytest.TempPathFactory, title: str, text: str) -> None:
    chat = Peer(CHAT.id, "supergroup", title, username="testgroup")
    out = tmp_path_factory.mktemp("md")
    render_archived(out, chat, [Message(chat.id, 1, T0, text=text, sender_id=ALICE.id)], PEERS,
                    tgx_markdown.tgx_register_formats())
    note = (out / "testgroup/markdown/2024/2024-05-01.md").read_text("utf-8")
    assert front_matter(note)["chat"] == title
    if text.strip():
        # the message body sits between its header paragraph and the navigation
        body = note.split(" ^m1\n\n", 1)[1].rsplit("\n\n---\n\n", 1)[0]
        assert unescape(body) == text.replace("\0", "\ufffd")


def test_simulated_export_renders_and_rerenders_identically(tmp_path: Path, sim_config) -> None:
    """The whole pipeline for the four formats of this suite: ``tgx export`` against the simulated
    Telegram (real Telethon, every message kind of @tgx_demo), then ``tgx render`` from the archive
    gives the same bytes."""
    from tgxrun import tgx

    cfg = sim_config()
    formats = "markdown,csv,txt,sqlite"
    first = tgx(tmp_path, "export", "@tgx_demo", "--out", "out", "--format", formats, "--quiet", config=cfg)
    assert first.returncode == 0, first.stderr
    chat_dir = tmp_path / "out" / "tgx_demo"
    files = sorted(p for p in chat_dir.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    vault = notes(chat_dir)
    blocks = re.findall(r" \^m(\d+)$", "\n".join(vault.values()), re.M)
    total = len(blocks)
    assert total == len(set(blocks)) >= 1000
    assert sum(int(n) for n in re.findall(r"· (\d+) messages?$", vault["markdown/index.md"], re.M)) == total
    for note in vault.values():
        if "date" in (fm := front_matter(note)):
            assert fm["message_count"] == len(re.findall(r" \^m\d+$", note, re.M))
    for target, block in re.findall(r"\[\[(markdown/[^#|\]]+)#\^(m\d+)\|", "\n".join(vault.values())):
        assert re.search(rf" \^{block}$", vault[target + ".md"], re.M), (target, block)
    txt = (chat_dir / "messages.txt").read_text("utf-8")
    assert len(re.findall(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] ", txt, re.M)) == total
    import csv
    import sqlite3
    with open(chat_dir / "messages.csv", encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.reader(fh))) == total + 1
    db = sqlite3.connect(f"file:{chat_dir / 'messages.sqlite'}?mode=ro", uri=True)
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == total
    assert db.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'post'").fetchone()[0] > 0
    db.close()

    again = tgx(tmp_path, "render", "out", "--format", formats, config=cfg)
    assert again.returncode == 0, again.stderr
    after = sorted(p for p in chat_dir.rglob("*") if p.is_file())
    assert after == files
    for p in files:
        assert p.read_bytes() == before[p], p


EXPECTED_TAG = {"bold": "strong", "italic": "em", "underline": "u", "strikethrough": "s", "code": "code",
                "blockquote": "blockquote", "text_link": "a", "mention_name": "a"}


@pytest.mark.parametrize("kind", ENTITY_TYPES)
def test_every_entity_type_of_the_model(kind: str) -> None:
    text = "say hello now"
    md = render_text(text, [Entity(kind, 4, 5, url="https://e.org", user_id=5, language="py", document_id=9)])
    if kind == "spoiler":  # Obsidian's highlight; CommonMark does not know it
        assert md == "say ==hello== now"
        return
    shown, tags = visible(md)
    assert squash(shown) == squash(text)
    expected = {"pre", "code"} if kind == "pre" else {EXPECTED_TAG[kind]} if kind in EXPECTED_TAG else set()
    assert tags - {"p"} == expected, (kind, md)
