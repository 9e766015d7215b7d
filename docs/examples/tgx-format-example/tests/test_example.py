"""Tests of the example format: through tgx's render engine (``tgx.testing.render_messages``), and
end to end through ``tgx export`` against the simulated Telegram that ships with tgx (run with
``pytest -p tgx.testing``). They import only tgx's public API."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path

from tgx.model import Entity, Media, Message, Peer
from tgx.testing import render_messages
from tgx_format_example import FILE_NAME, links_of, tgx_register_formats

CHAT = Peer(-1001234567890, "channel", "Example", username="example")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def render(out: Path, messages: list[Message], options: dict | None = None) -> list[list[str]]:
    """Render ``messages`` with the urls format, the way ``tgx render`` does (public API only)."""
    rendered = render_messages(tgx_register_formats(), messages, chat=CHAT, out=out, options=options)
    assert rendered.ok, rendered.error
    assert rendered.files == [FILE_NAME]
    lines = rendered.read_text(FILE_NAME).splitlines()
    assert lines[0] == "message_id\tdate\turl"
    return [line.split("\t") for line in lines[1:]]


def test_the_plugin_is_installed_under_the_tgx_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="tgx")}
    assert names.get("example_format") == "tgx_format_example"


def test_links_of_counts_utf16_units() -> None:
    text = "😀 see https://a.example/x and docs"  # the emoji is two UTF-16 units
    message = Message(CHAT.id, 1, T0, text=text, entities=[
        Entity("link", 7, 19), Entity("text_link", 31, 4, url="https://b.example/docs")])
    assert list(links_of(message)) == ["https://a.example/x", "https://b.example/docs"]


def test_render_writes_every_link_in_order(tmp_path: Path) -> None:
    messages = [
        Message(CHAT.id, 1, T0, text="no links here"),
        Message(CHAT.id, 2, T0 + timedelta(minutes=1), text="https://example.org/a and b",
                entities=[Entity("link", 0, 21), Entity("text_link", 26, 1, url="https://sub.example.org/b")]),
        Message(CHAT.id, 3, T0 + timedelta(minutes=2), text="preview",
                media=Media("webpage", extra={"url": "https://other.net/p", "title": "P"})),
    ]
    rows = render(tmp_path, messages)
    assert rows == [["2", "2024-05-01T12:01:00+00:00", "https://example.org/a"],
                    ["2", "2024-05-01T12:01:00+00:00", "https://sub.example.org/b"],
                    ["3", "2024-05-01T12:02:00+00:00", "https://other.net/p"]]
    assert render(tmp_path / "again", messages) == rows  # deterministic
    only = render(tmp_path / "domain", messages, {"urls-domain": "example.org"})
    assert [row[2] for row in only] == ["https://example.org/a", "https://sub.example.org/b"]


def test_tgx_export_from_the_simulated_telegram(tmp_path: Path, sim_config) -> None:
    """The whole pipeline: tgx's CLI, Telethon, the archive, the render engine, this plugin."""
    config = sim_config()  # the default simulated world: @tgx_demo and friends
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGX_")}
    env.update(TGX_CONFIG=str(config), TGX_DATA_DIR=str(tmp_path / "data"))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tgx", "export", "@tgx_demo", "--out", str(out),
                          "--format", "urls", "--urls-domain", "example.org", "--quiet"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = (out / "tgx_demo" / FILE_NAME).read_text("utf-8").splitlines()
    assert lines[0] == "message_id\tdate\turl" and len(lines) > 10
    ids = [int(line.split("\t")[0]) for line in lines[1:]]
    assert ids == sorted(ids)
    assert all("example.org" in line.split("\t")[2] for line in lines[1:])
