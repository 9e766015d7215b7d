"""The ``html`` format: paged static HTML, escaped, well-formed, links that resolve.

Pages are parsed with ``html.parser`` (a strict open/close stack check on top of it), so the
tests see the structure a browser would build; the browser itself is in test_html_browser.py.
"""

from __future__ import annotations

import math
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
import tgx_html
from corpus.archived import render_archived
from corpus.hostile import (
    FILE_NAMES,
    MEDIA_PATHS_SAFE,
    MEDIA_PATHS_UNSAFE,
    NAMES,
    SAFE_LINKS,
    TEXTS,
    UNSAFE_LINKS,
)
from corpus.sample_chat import (
    ALICE,
    CHAT,
    CHAT_ID,
    PEERS,
    T0,
    MemoryContext,
    render,
    rss_growth,
    sample_messages,
    write_media,
)
from corpus.strategies import texts, texts_with_entities
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from tgx.archive.store import Archive
from tgx.errors import UsageError
from tgx.model import Entity, Media, Message, Peer
from tgx.text import scrub_surrogates
from tgx_html.entities import render_text
from tgx_html.safety import SAFE_SCHEMES, clean_text, media_href
from tgx_html.writer import CSP, HtmlWriter, page_file

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
URL_ATTRS = {"href", "src", "poster", "action", "formaction", "data", "srcset", "background"}


class Page(HTMLParser):
    """Parses one page: checks every element is closed in order, collects ids, URLs and the
    visible text of each message's ``.text`` block (``<br>`` read as a newline)."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: Counter[str] = Counter()
        self.id_order: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self._text_depth = 0
        self.feed(source)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        d = dict(attrs)
        self.elements.append((tag, d))
        if d.get("id"):
            self.ids[d["id"]] += 1  # type: ignore[index]
            self.id_order.append(d["id"])  # type: ignore[arg-type]
        if self._text_depth:
            if tag == "br":
                self.texts[-1] += "\n"
            if tag not in VOID:
                self._text_depth += 1
        elif tag == "div" and "text" in (d.get("class") or "").split():
            self.texts.append("")
            self._text_depth = 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.errors.append(f"self-closed <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"end tag for void <{tag}>")
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if self._text_depth:
            self._text_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._text_depth:
            self.texts[-1] += data

    def urls(self) -> list[tuple[str, str, str]]:
        return [(tag, attr, value) for tag, d in self.elements for attr, value in d.items()
                if attr in URL_ATTRS and value is not None]


def parse(path: Path) -> Page:
    page = Page(path.read_text(encoding="utf-8"))
    assert not page.errors, (path.name, page.errors[:5])
    return page


def render_html(out: Path, messages: list[Message], *, page_size: int | None = None, batch: int = 100,
                chat: Peer = CHAT, peers: dict[int, Peer] | None = None) -> list[Path]:
    options = {} if page_size is None else {"html-page-size": page_size}
    ctx = MemoryContext(chat, out, messages, peers=peers, options=options)
    render(HtmlWriter, ctx, messages, batch=batch)
    assert ctx.opened[0] == "style.css"
    return [out / name for name in ctx.opened[1:]]


def check_url(tag: str, attr: str, value: str) -> None:
    """Links: an allowed scheme or a relative path; resources: relative paths only."""
    scheme = value.split(":", 1)[0].lower() if ":" in value.split("/", 1)[0] else None
    if tag == "a" and attr == "href" and scheme is not None:
        assert scheme in SAFE_SCHEMES, value
        return
    assert scheme is None, (tag, attr, value)
    assert not value.startswith(("/", "\\")) and "\\" not in value, value
    path = unquote(value.split("#", 1)[0])
    assert ".." not in path.split("/"), value


def check_inert(page: Page) -> None:
    for tag, attrs in page.elements:
        assert tag not in ("script", "iframe", "object", "embed", "base", "form", "svg", "math"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs and tag != "style", (tag, attrs)
        if tag == "meta" and attrs.get("http-equiv"):
            assert attrs["http-equiv"].lower() == "content-security-policy", attrs
    for tag, attr, value in page.urls():
        check_url(tag, attr, value)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    write_media(out, sample_messages())
    render_html(out, sample_messages())
    return out


@pytest.fixture(scope="module")
def sample_page(sample_dir: Path) -> tuple[str, Page]:
    path = sample_dir / "messages.html"
    return path.read_text(encoding="utf-8"), parse(path)


def test_plugin_registers_html_with_page_size_option() -> None:
    spec = tgx_html.tgx_register_formats()
    assert spec.name == "html"
    assert isinstance(spec.factory(SimpleNamespace(options={})), HtmlWriter)  # the writer, imported on first use
    (option,) = spec.options
    assert (option.name, option.default, option.type) == ("html-page-size", 1000, int)


def test_one_page_well_formed_with_every_message(sample_dir: Path, sample_page: tuple[str, Page]) -> None:
    source, page = sample_page
    assert sorted(p.name for p in sample_dir.glob("*.html")) == ["messages.html"]
    assert (sample_dir / "style.css").read_bytes().startswith(b"/*")
    ids = [f"message{m.id}" for m in sample_messages()]
    assert [i for i in page.id_order if i.startswith("message")] == ids
    assert all(page.ids[i] == 1 for i in ids)
    assert source.startswith("<!DOCTYPE html>")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in source
    assert '<link rel="stylesheet" href="style.css">' in source
    check_inert(page)


def test_messages_render_faithfully(sample_page: tuple[str, Page]) -> None:
    source, _ = sample_page
    expected = [
        "<strong>Bold</strong> <em>italic</em>",
        '<a class="text-link" href="https://example.com/?a=1&amp;b=2"',
        '<a class="mention" href="https://t.me/alice"',
        '<span class="hashtag">#tag</span>', '<span class="cashtag">$USD</span>',
        '<span class="bot-command">/start</span>',
        '<a class="email" href="mailto:mail@example.com"', '<a class="phone" href="tel:+15551234567"',
        "<code>code</code>",
        "\U0001F600 emoji then <strong>bold</strong> and <u>underlined</u>",
        '<pre class="pre"><code class="language-python">print(&#39;hi&#39;)\n'
        'print(&#34;&lt;b&gt;&#34;)</code></pre>',
        '<span class="spoiler" tabindex="0">spoiler</span>', "<s>strike</s>",
        "<blockquote>quote</blockquote>",
        "<strong>bold with <em>italic</em> inside</strong>",
        '<a class="mention-name" href="tg://user?id=1002"', '<span class="custom-emoji">\U0001F525</span>',
        '<a class="link" href="https://example.org"',
        # replies, forwards, edits, bots
        '<a href="messages.html#message2"><span class="reply-name">Alice Liddell</span> '
        '<span class="reply-text">Hello, world!</span></a>',
        "In reply to a message that is not in this archive", "In reply to a message in another chat",
        'Forwarded from <span class="name" title="2024-02-27 09:30:00 UTC">Other News</span>',
        'Forwarded from <span class="name">Hidden Person</span>',
        'Saved from <span class="name">Other News</span>',
        '<span class="edited" title="edited 2024-03-01 09:50:00 UTC">edited</span>', "via @helperbot",
        # media
        '<a class="media image-link" href="photos/photo_16.png"><img class="photo" src="photos/photo_16.png" '
        'loading="lazy" alt="Photo" width="64" height="48"></a>',
        '<video class="video" controls preload="none" poster="video_files/clip.mp4_thumb.png" width="320" '
        'height="240" src="video_files/clip.mp4"></video>',
        '<audio controls preload="none" src="voice_messages/voice_19.ogg"></audio>',
        '<div class="audio-title">Band &#8212; Song</div>',
        '<video class="round" controls preload="none"', '<img class="sticker" src="stickers/sticker_22.webp"',
        '<video class="animation" controls preload="none" loop muted',
        '<a class="file-link" href="files/report%20_final_.pdf">', "report &lt;final&gt;.pdf", "1.2 MB",
        "big.iso</span> <span class=\"file-details\">2.8 GB · not downloaded</span>",
        "999 B · not downloaded",
        '<div class="poll-question">Best colour?</div>', "Poll &#183; final results",
        '<li class="chosen"><span class="percent">71%</span> <span class="answer">Red</span>',
        "Location: 51.500700, -0.124600", '<div class="venue-title">Big Ben</div>',
        '<div class="contact-name">Dana Scully</div>', '<div class="contact-phone">+15550000000</div>',
        '<div class="webpage-title">Example Domain</div>', "Live location: 10.000000, 20.000000",
        "Unsupported message (giveaway)", "Game: Tetris", "media image-link media-spoiler",
        # reactions, counters, deletions
        '<span class="reaction chosen" title="\u2764\ufe0f">\u2764\ufe0f 3</span>', "1,234 views", "5 shares",
        '<span class="author">Editor</span>', "deleted on Telegram",
        # service messages
        '<span class="actor">Alice Liddell</span> created the group «Test Group»',
        '<span class="actor">Alice Liddell</span> invited '
        '<span class="actor">Carol \U0001F600 Danvers</span>',
        '<span class="actor">Bob</span> pinned <a href="messages.html#message2">this message</a>',
        "changed the title to «Renamed &lt;Group&gt;»", "made a call (1:05)", "created the topic «Topic",
        "some future action",
        # days
        '<div class="date-separator"><span>1 March 2024</span></div>',
        '<div class="date-separator"><span>2 March 2024</span></div>',
    ]
    missing = [s for s in expected if s not in source]
    assert not missing, missing


def test_album_is_one_block(sample_page: tuple[str, Page]) -> None:
    source, _ = sample_page
    start = source.index('<div class="album">')
    block = source[start:source.index('<div class="message', start)]
    for mid in (32, 33, 34):
        assert f'id="message{mid}"' in block
    assert block.count('class="userpic') == 0  # one header for the album, before the block
    assert "Album caption" in block


def test_consecutive_messages_join_under_one_name(sample_page: tuple[str, Page]) -> None:
    source, _ = sample_page
    assert '<div class="message joined" id="message5">' in source
    assert '<div class="message" id="message8">' in source  # a different sender


@pytest.mark.parametrize("size", [1, 7, 50, 51])
def test_pages_and_links_resolve(tmp_path: Path, size: int) -> None:
    messages = sample_messages()
    files = render_html(tmp_path, messages, page_size=size, batch=9)
    pages = math.ceil(len(messages) / size)
    assert [f.name for f in files] == [page_file(p) for p in range(pages)] + (["newest.html"] if pages > 1 else [])
    if pages > 1:  # the redirect to the newest page: the one file that knows how many there are
        newest = files.pop().read_text()
        assert f'content="0; url={page_file(pages - 1)}"' in newest and "Content-Security-Policy" in newest
    parsed = {f.name: parse(f) for f in files}
    for n, msg in enumerate(messages):
        assert parsed[page_file(n // size)].ids[f"message{msg.id}"] == 1
    for name, page in parsed.items():
        check_inert(page)
        for tag, _attr, value in page.urls():
            if tag == "a" and value.startswith("messages"):
                target, _, anchor = value.partition("#")
                assert target in parsed, (name, value)
                if anchor:
                    assert parsed[target].ids[anchor] == 1, (name, value)
        if pages > 1:
            assert "rel=\"prev\"" in (tmp_path / name).read_text() or name == "messages.html"
    first = (tmp_path / "messages.html").read_text()
    assert '<div class="date-separator">' in first


def navigation_targets(path: Path) -> set[str]:
    page = parse(path)
    return {d["href"] for tag, d in page.elements
            if tag == "a" and (d.get("href") or "").startswith(("messages", "newest"))}


def test_page_navigation_does_not_depend_on_the_page_count(tmp_path: Path) -> None:
    """30 pages: a page links to the first, the few before it, the next one and newest.html —
    nothing that changes when a page is added, so a refresh rewrites only the pages that changed."""
    messages = [Message(CHAT_ID, i, T0, f"m{i}", sender_id=ALICE) for i in range(1, 31)]
    render_html(tmp_path, messages, page_size=1)
    assert navigation_targets(tmp_path / page_file(14)) == {
        *(page_file(p) for p in (0, 11, 12, 13, 15)), "newest.html"}
    last = (tmp_path / page_file(29)).read_text()
    assert navigation_targets(tmp_path / page_file(29)) == {page_file(p) for p in (0, 26, 27, 28)}
    assert "&#8212; page 30</title>" in last and "&#183; page 30</div>" in last
    assert "page 30 of" not in last and '<span class="next disabled">' in last
    assert navigation_targets(tmp_path / page_file(0)) == {page_file(1), "newest.html"}


def test_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    results = set()
    for batch in (1, 13, 1000):
        out = tmp_path / str(batch)
        out.mkdir()
        files = render_html(out, sample_messages(), page_size=20, batch=batch)
        results.add(tuple(f.read_bytes() for f in files))
    assert len(results) == 1


def test_empty_chat(tmp_path: Path) -> None:
    (page,) = render_html(tmp_path, [])
    assert "No messages." in page.read_text()
    parse(page)


@pytest.mark.parametrize("bad", [0, -5, "many"])
def test_page_size_must_be_a_positive_number(tmp_path: Path, bad: object) -> None:
    with pytest.raises(UsageError, match="html-page-size"):
        HtmlWriter(MemoryContext(CHAT, tmp_path, options={"html-page-size": bad}))


# ---------------------------------------------------------------------------------------------
# safety


# link targets: tgx.text.safe_href, tested in test_text.py against the same hostile corpus


@pytest.mark.parametrize("path", MEDIA_PATHS_UNSAFE)
def test_media_paths_outside_the_chat_folder_are_refused(path: str) -> None:
    assert media_href(path) is None


@pytest.mark.parametrize("path", MEDIA_PATHS_SAFE)
def test_odd_media_paths_are_quoted(path: str) -> None:
    href = media_href(path)
    assert href is not None and unquote(href) == path
    assert not any(c in href for c in "#?'\" :") and href.count("/") == path.count("/")


def test_hostile_corpus_renders_inert(tmp_path: Path) -> None:
    peers = dict(PEERS)
    messages: list[Message] = []
    mid = 0

    def add(text: str, **kw: object) -> None:
        nonlocal mid
        mid += 1
        sender = 50_000 + mid
        peers[sender] = Peer(sender, "user", NAMES[mid % len(NAMES)])
        messages.append(Message(CHAT_ID, mid, T0, text, sender_id=sender, **kw))  # type: ignore[arg-type]

    for text in TEXTS:
        add(text)
    for url in UNSAFE_LINKS + SAFE_LINKS:
        add("click here", entities=[Entity("text_link", 0, 10, url=url)])
        add(url, entities=[Entity("link", 0, len(url.encode("utf-16-le")) // 2)])
    for i, name in enumerate(FILE_NAMES):
        add(name, media=Media("document", i, file_name=name, size=10, path=f"files/{i}.bin"))
    for path in MEDIA_PATHS_UNSAFE:
        add("unsafe path", media=Media("photo", 1, path=path))
        add("unsafe path", media=Media("video", 1, path=path, thumbnail_path=path))
    for path in MEDIA_PATHS_SAFE:
        add("odd path", media=Media("document", 2, file_name="x", path=path))
    chat = Peer(CHAT_ID, "supergroup", NAMES[0])
    (page_path,) = render_html(tmp_path, messages, chat=chat, peers=peers)
    source = page_path.read_text(encoding="utf-8")
    page = parse(page_path)
    check_inert(page)
    assert "<script" not in source.lower()
    hrefs = [v for tag, attr, v in page.urls() if tag == "a" and attr == "href"]
    for url in SAFE_LINKS:
        assert url in hrefs, url
    for url in UNSAFE_LINKS:
        assert url not in hrefs and url.strip() not in hrefs, url
    media = {v for _, attr, v in page.urls() if attr in ("src", "poster")}
    for path in MEDIA_PATHS_UNSAFE:
        assert not any(unquote(v) == path for v in media if path), path
    for path in MEDIA_PATHS_SAFE:
        assert media_href(path) in hrefs
    visible = "\n".join(page.texts)
    for text in TEXTS:
        assert clean_text(scrub_surrogates(text)) in visible, text[:40]
    for name in FILE_NAMES:
        assert clean_text(name) in visible
    for name in NAMES:  # sender names and the chat title, escaped
        if name.strip():
            assert str(escape(name)) in source, name


def test_overlapping_entities_nest_properly() -> None:
    html = render_text("abcd", [Entity("bold", 0, 3), Entity("italic", 2, 2)])
    assert html == "<strong>ab<em>c</em></strong><em>d</em>"
    # a link inside a link cannot be an <a> inside an <a>
    html = render_text("x y", [Entity("text_link", 0, 3, url="https://a.example"),
                               Entity("link", 2, 1)])
    assert html.count("<a ") == 1 and html.count("</a>") == 1
    # newlines: <br> outside code, kept inside pre
    assert render_text("a\nb", []) == "a<br>b"
    assert render_text("a\r\nb\rc", [Entity("bold", 0, 2)]) == "<strong>a</strong><br>b<br>c"
    assert render_text("a\nb", [Entity("pre", 0, 3)]) == '<pre class="pre"><code>a\nb</code></pre>'
    # the newline right after a block is kept in the text but hidden by CSS (no empty line)
    assert render_text("q\nnext", [Entity("blockquote", 0, 1)]) == (
        '<blockquote>q</blockquote><br class="after-block">next')


# ---------------------------------------------------------------------------------------------
# the real engine, memory


def test_through_the_real_engine_and_archive(tmp_path: Path) -> None:
    """Same bytes as the in-memory render: the engine's ranks and lookups agree with it."""
    messages = sample_messages()
    result = render_archived(tmp_path, CHAT, messages, PEERS.values(), tgx_html.tgx_register_formats(),
                             {"html-page-size": 12}, batch_size=5)
    assert result.formats["html"].files == ["style.css"] + [page_file(p) for p in range(5)] + ["newest.html"]
    memory = tmp_path / "memory"
    memory.mkdir()
    with Archive.open(tmp_path) as archive:  # as the archive holds them (it stamps deleted_at, say)
        messages = [m for batch in archive.iter_messages(CHAT.id) for m in batch]
    expected = render_html(memory, messages, page_size=12)
    for path in expected:
        assert (tmp_path / CHAT.folder_name / path.name).read_bytes() == path.read_bytes(), path.name


def test_memory_stays_flat_while_streaming(tmp_path: Path) -> None:
    """30,000 messages over 30 pages: a writer that kept messages or pages would grow by far more."""
    total, batch = 30_000, 1000

    def make(i: int) -> Message:
        return Message(CHAT_ID, i, T0, f"message {i} " + "x" * 200, [Entity("bold", 0, 7)], sender_id=ALICE,
                       reply_to_id=i - 3 if i > 3 else None)

    ctx = MemoryContext(CHAT, tmp_path, count=total, lookup=make, rank=lambda i: i - 1)
    writer = HtmlWriter(ctx)
    writer.open()
    grown = rss_growth(writer, make, total, batch, warmup=6)
    assert grown < 20 << 20, grown >> 20
    assert len(list(tmp_path.glob("messages*.html"))) == 30


# ---------------------------------------------------------------------------------------------
# properties

_TEXT = texts(["\U0001F600", "\n", "\r\n", "<", "&", "'", '"'], max_size=50)
_URLS = st.none() | st.sampled_from(SAFE_LINKS + UNSAFE_LINKS) | st.text(max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=texts_with_entities(_TEXT, _URLS))
def test_any_text_is_well_formed_and_visible(tmp_path: Path, sample: tuple[str, list[Entity]]) -> None:
    text, entities = sample
    msg = Message(CHAT_ID, 1, T0, text, entities, sender_id=ALICE)
    (page_path,) = render_html(tmp_path, [msg])
    page = parse(page_path)
    check_inert(page)
    expected = clean_text(scrub_surrogates(text))
    if expected:
        assert page.texts == [expected]
    else:
        assert page.texts == []
