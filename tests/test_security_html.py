"""Hostile content through the whole pipeline into HTML, checked in headless Chromium.

Two exports are rendered by the real CLI and every page is opened in a browser:

* a *tampered archive*: the shared hostile corpus (tests/corpus/hostile.py: message texts, display
  names, link targets, file names, media paths) plus the sample chat of every message kind,
  written straight into ``OUT/.tgx/archive.sqlite`` (a hostile title for the chat itself, unsafe
  ``media.path`` values in message rows and in the media index), then ``tgx render OUT -f html``;
* the simulated demo channel fetched with ``tgx export`` (its history carries hostile texts,
  hostile link entities and hostile file names), with media.

Nothing may run (``window.__pwned`` stays undefined, the title is never "PWNED", no script,
iframe, object, embed, base or form element exists), no Content-Security-Policy violation or
page exception occurs, and every link and media source is a safe scheme or a file inside OUT.
Skipped, with the reason, when no Chromium is installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from corpus.hostile import (
    FILE_NAMES,
    MEDIA_PATHS_SAFE,
    MEDIA_PATHS_UNSAFE,
    NAMES,
    SAFE_LINKS,
    TEXTS,
    UNSAFE_LINKS,
)
from corpus.sample_chat import ALICE, CHAT, T0, write_media
from test_html_browser import DevTools, Tab, chromium_binary, hostile_messages
from test_reliability import write_config
from tgx.archive.store import Archive
from tgx.model import Entity, Media, Message, Peer
from tgx_html.safety import SAFE_SCHEMES
from tgxrun import tgx_env

pytestmark = pytest.mark.browser

HOSTILE_CHAT = Peer(CHAT.id, CHAT.kind, NAMES[0] + " " + TEXTS[1], CHAT.username)
CORPUS_SIZE = len(TEXTS) + len(NAMES) + len(UNSAFE_LINKS) + len(SAFE_LINKS) + len(FILE_NAMES) + \
    len(MEDIA_PATHS_UNSAFE) + len(MEDIA_PATHS_SAFE)


def tampered_messages() -> tuple[list[Message], list[Message], dict[int, Peer]]:
    """(the corpus messages, the tampered ones, their peers). Only the first list's media files
    may be created on disk: the tampered paths point outside the chat folder by design."""
    base, peers = hostile_messages()
    messages: list[Message] = []
    mid = max(m.id for m in base)
    for i, name in enumerate(FILE_NAMES):
        mid += 1
        media = Media("document", id=9_000 + i, file_name=name, mime_type="application/octet-stream", size=10)
        messages.append(Message(CHAT.id, mid, T0, f"file {i}", sender_id=ALICE, media=media))
    for i, path in enumerate(MEDIA_PATHS_UNSAFE + MEDIA_PATHS_SAFE):
        mid += 1
        kind = "photo" if i % 2 else "document"
        media = Media(kind, id=9_500 + i, file_name="x.jpg", mime_type="image/jpeg", size=10, path=path,
                      thumbnail_path=path)
        messages.append(Message(CHAT.id, mid, T0, f"path {i}", sender_id=ALICE, media=media))
    messages.append(Message(CHAT.id, mid + 1, T0, TEXTS[0], [Entity("text_link", 0, 8, url=UNSAFE_LINKS[0])],
                            sender_id=ALICE, post_author=NAMES[1]))
    return base, messages, peers


def _tgx(cwd: Path, *args: str, config: Path | None = None) -> None:
    r = subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True, timeout=300,
                       env=tgx_env(cwd, config), cwd=cwd)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if chromium_binary() is None:
        pytest.skip("no Chromium found (install Debian's `chromium`, or set TGX_CHROMIUM=/path/to/chrome)")
    root = tmp_path_factory.mktemp("hostile-html")
    # 1. the tampered archive, rendered offline by `tgx render`
    tampered = root / "tampered"
    base, bad, peers = tampered_messages()
    write_media(tampered / CHAT.folder_name, base)  # never `bad`: its paths lead outside on purpose
    with Archive.open(tampered) as archive:
        archive.set_chat(HOSTILE_CHAT)
        archive.upsert_batch(HOSTILE_CHAT.id, base + bad, list(peers.values()))
        for i, path in enumerate(MEDIA_PATHS_UNSAFE):
            archive.set_media(9_000 + i, path, size=10, status="done")  # a tampered media index
    _tgx(root, "render", str(tampered), "--format", "html")
    # 2. the simulated demo channel, fetched and rendered by `tgx export`
    cfg = write_config(root / "tgx.toml", {"messages": 300, "big_file_mb": 0})
    _tgx(root, "export", "@tgx_demo", "-o", "demo", "-f", "html", "--media", "photo,document",
         "--max-size", "128KiB", "--quiet", config=cfg)
    return {"tampered": tampered, "demo": root / "demo"}


@pytest.fixture(scope="module")
def tab(tmp_path_factory: pytest.TempPathFactory, outputs: dict[str, Path]):
    tools = DevTools(chromium_binary(), tmp_path_factory.mktemp("chromium-profile"))  # type: ignore[arg-type]
    try:
        yield Tab(tools)
    finally:
        tools.close()


def _pages(out: Path) -> list[Path]:
    found = sorted(out.rglob("*.html"))
    assert found, f"no html under {out}"
    return found


@pytest.mark.parametrize("which", ["tampered", "demo"])
def test_nothing_runs_and_nothing_points_outside(tab: Tab, outputs: dict[str, Path], which: str) -> None:
    out = outputs[which].resolve()
    checked_links = 0
    for page in _pages(out):
        tab.open(page)
        problems = [p for p in tab.problems() if p.startswith(("csp:", "exception:"))]
        assert problems == [], (page.name, problems)
        assert tab.eval("document.title") != "PWNED"  # (the hostile chat title is in it, as text)
        assert tab.eval("typeof window.__pwned") == "undefined", page.name
        assert tab.eval("document.querySelectorAll('script, iframe, object, embed, base, form, meta[http-equiv="
                        "\"refresh\"]').length") == 0, page.name
        assert tab.eval("Array.from(document.querySelectorAll('*')).filter(e => Array.from(e.attributes)"
                        ".some(a => a.name.startsWith('on'))).length") == 0, page.name
        urls = tab.eval("Array.from(document.querySelectorAll('a[href], img[src], video[src], audio[src], "
                        "source[src], video[poster], link[href]'), e => e.href || e.src || e.poster)")
        for url in urls:
            parts = urlsplit(url)
            assert f"{parts.scheme}:" in {f"{s}:" for s in SAFE_SCHEMES} | {"file:"}, (page.name, url)
            if parts.scheme == "file":
                target = Path(unquote(parts.path)).resolve()
                assert target.is_relative_to(out), (page.name, url)
                checked_links += 1
    assert checked_links > 10


def test_hostile_text_is_shown_as_text(tab: Tab, outputs: dict[str, Path]) -> None:
    shown = ""
    for page in _pages(outputs["tampered"]):
        tab.open(page)
        shown += tab.eval("document.body.innerText")
    for text in (TEXTS[0], TEXTS[1], NAMES[0], "{{ 7*7 }}"):
        assert text in shown, text
    demo = ""
    for page in _pages(outputs["demo"]):
        tab.open(page)
        demo += tab.eval("document.body.innerText")
    assert "<script>alert(1)</script>" in demo  # the simulated server's hostile post, inert

