"""tgx.render.engine: one pass over the archive for every format, atomic files, isolation of failures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import tgx_jsonl
from tgx.archive.store import Archive
from tgx.errors import OutputError
from tgx.model import Message, Peer
from tgx.render.engine import TMP_SUFFIX, ChatRenderContext, render_all, render_chat
from tgx.specs import FormatSpec, OptionSpec

CHAT = -1000000000042
T0 = datetime(2024, 1, 1, tzinfo=UTC)
JSONL = tgx_jsonl.tgx_register_formats()


def make(i: int, chat: int = CHAT, **kw) -> Message:
    kw.setdefault("text", f"message {i}")
    kw.setdefault("sender_id", 7)
    return Message(chat_id=chat, id=i, date=T0 + timedelta(minutes=i), **kw)


@pytest.fixture
def archive(tmp_path: Path):
    a = Archive.open(tmp_path)
    a.set_chat(Peer(CHAT, "channel", "News", "news"))
    a.upsert_batch(CHAT, [make(i, reply_to_id=i - 1 if i % 3 == 0 else None) for i in range(1, 26)],
                   [Peer(7, "user", "Ann")])
    yield a
    a.close()


def tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(TMP_SUFFIX)]


class SpyWriter:
    """Writes ``spy.txt`` (one line per message, with lookups) and records every call."""

    calls: list[str]

    def __init__(self, ctx: ChatRenderContext, *, fail_at: str | None = None, relpath: str = "spy.txt",
                 fail_after_batches: int = 0):
        self.ctx = ctx
        self.calls = []
        self.fail_at = fail_at
        self.relpath = relpath
        self.fail_after_batches = fail_after_batches
        self.batches = 0

    def _maybe_fail(self, where: str) -> None:
        self.calls.append(where)
        if self.fail_at == where:
            raise RuntimeError(f"spy failed in {where}")

    def open(self) -> None:
        self.f = self.ctx.open(self.relpath)
        self.f.write(f"# {self.ctx.chat.title} ({self.ctx.message_count} messages)\n")
        self._maybe_fail("open")

    def write(self, messages: Sequence[Message]) -> None:
        for m in messages:
            sender = self.ctx.peer(m.sender_id)
            replied = self.ctx.message(m.reply_to_id) if m.reply_to_id else None
            rank = self.ctx.message_index(m.id)
            self.f.write(f"{rank}:{m.id} {sender.title if sender else '?'} "
                         f"re={replied.text if replied else '-'} {m.text}\n")
        self.batches += 1
        if self.fail_after_batches and self.batches >= self.fail_after_batches:
            raise RuntimeError("spy failed mid-stream")
        self._maybe_fail("write")

    def close(self) -> None:
        self._maybe_fail("close")

    def abort(self) -> None:
        self.calls.append("abort")


def spy_spec(name: str = "spy", made: list | None = None, **kw) -> FormatSpec:
    def factory(ctx):
        w = SpyWriter(ctx, **kw)
        if made is not None:
            made.append(w)
        return w

    return FormatSpec(name, factory, "test spy")


# ---------------------------------------------------------------------------------------------


def test_renders_jsonl_into_the_chat_folder(tmp_path: Path, archive: Archive):
    result = render_chat(archive, CHAT, tmp_path, {"jsonl": JSONL})
    assert result.ok and result.message_count == 25 and result.errors == {}
    assert result.chat_dir == tmp_path / "news"
    assert result.formats["jsonl"].files == ["messages.jsonl"]
    lines = (tmp_path / "news" / "messages.jsonl").read_bytes().split(b"\n")
    assert len(lines) == 26 and lines[-1] == b""
    assert not tmp_files(tmp_path)


def test_folder_is_the_id_without_username(tmp_path: Path):
    with Archive.open(tmp_path) as a:
        a.set_chat(Peer(-77, "group", "Family"))
        a.upsert_batch(-77, [make(1, chat=-77)])
        assert render_chat(a, -77, tmp_path, {"jsonl": JSONL}).chat_dir == tmp_path / "-77"
        assert (tmp_path / "-77" / "messages.jsonl").is_file()


def test_lookups_and_context(tmp_path: Path, archive: Archive):
    made: list[SpyWriter] = []
    result = render_chat(archive, CHAT, tmp_path, {"spy": spy_spec(made=made)}, batch_size=4)
    assert result.ok
    text = (tmp_path / "news" / "spy.txt").read_text().splitlines()
    assert text[0] == "# News (25 messages)"
    assert text[1] == "0:1 Ann re=- message 1"
    assert text[3] == "2:3 Ann re=message 2 message 3"
    assert text[25] == "24:25 Ann re=- message 25"
    ctx = made[0].ctx
    assert ctx.chat_dir == tmp_path / "news" and ctx.chat.title == "News"
    assert ctx.peer(None) is None and ctx.peer(123456) is None
    assert ctx.peer(CHAT).title == "News"  # the chat itself is a peer too
    assert ctx.message(999) is None and ctx.message_index(999) is None
    assert ctx.message(1).text == "message 1" and ctx.message_index(25) == 24
    assert made[0].calls == ["open"] + ["write"] * 7 + ["close"]


def test_options_get_spec_defaults(tmp_path: Path, archive: Archive):
    seen = {}

    def factory(ctx):
        seen.update(ctx.options)
        return SpyWriter(ctx)

    spec = FormatSpec("spy", factory, options=(OptionSpec("split", "h", default="none"),
                                               OptionSpec("per-page", "h", default=100, type=int)))
    render_chat(archive, CHAT, tmp_path, {"spy": spec}, {"spy": {"per-page": 5}, "other": {"x": 1}})
    assert seen == {"split": "none", "per-page": 5}


def test_one_pass_over_the_archive_for_all_formats(tmp_path: Path, archive: Archive):
    def pages(formats) -> int:
        seen: list[str] = []
        archive._conn.set_trace_callback(seen.append)
        try:
            assert render_chat(archive, CHAT, tmp_path, formats, batch_size=10).ok
        finally:
            archive._conn.set_trace_callback(None)
        return sum(1 for s in seen if s.startswith("SELECT id, data"))

    one = pages({"jsonl": JSONL})
    three = pages({"jsonl": JSONL, "spy": spy_spec(), "spy2": spy_spec("spy2", relpath="b/spy2.txt")})
    assert one == three == 3  # 25 messages in pages of 10


def test_same_batches_reach_every_writer(tmp_path: Path, archive: Archive):
    made: list[SpyWriter] = []
    got: dict[str, list[list[int]]] = {"a": [], "b": []}

    def factory(name):
        def make_writer(ctx):
            w = SpyWriter(ctx, relpath=f"{name}.txt")
            orig = w.write

            def write(messages):
                got[name].append([m.id for m in messages])
                orig(messages)

            w.write = write
            made.append(w)
            return w
        return make_writer

    specs = {"a": FormatSpec("a", factory("a")), "b": FormatSpec("b", factory("b"))}
    render_chat(archive, CHAT, tmp_path, specs, batch_size=10)
    assert got["a"] == got["b"] == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]


def test_deterministic_output(tmp_path: Path, archive: Archive):
    formats = {"jsonl": JSONL, "spy": spy_spec()}
    render_chat(archive, CHAT, tmp_path, formats)
    first = {p: (tmp_path / "news" / p).read_bytes() for p in ("messages.jsonl", "spy.txt")}
    render_chat(archive, CHAT, tmp_path, formats, batch_size=7)
    again = {p: (tmp_path / "news" / p).read_bytes() for p in ("messages.jsonl", "spy.txt")}
    assert first == again
    # A second archive filled in another order renders the same bytes.
    other = tmp_path / "other"
    with Archive.open(other) as b:
        b.set_chat(Peer(CHAT, "channel", "News", "news"))
        b.upsert_batch(CHAT, [], [Peer(7, "user", "Ann")])
        for i in reversed(range(1, 26)):
            b.upsert_batch(CHAT, [make(i, reply_to_id=i - 1 if i % 3 == 0 else None)])
        render_chat(b, CHAT, other, formats)
    assert {p: (other / "news" / p).read_bytes() for p in first} == first
    assert str(tmp_path).encode() not in first["messages.jsonl"] + first["spy.txt"]


@pytest.mark.parametrize("fail_at", ["open", "write", "close"])
def test_failing_writer_keeps_old_file_and_others_finish(tmp_path: Path, archive: Archive, fail_at: str):
    assert render_chat(archive, CHAT, tmp_path, {"spy": spy_spec()}).ok
    old = (tmp_path / "news" / "spy.txt").read_bytes()
    archive.upsert_batch(CHAT, [make(26)])
    made: list[SpyWriter] = []
    formats = {"spy": spy_spec(made=made, fail_at=fail_at), "jsonl": JSONL}
    result = render_chat(archive, CHAT, tmp_path, formats)
    spy = result.formats["spy"]
    assert not spy.ok and not result.ok and result.failed == ["spy"]
    assert result.errors == {"spy": f"RuntimeError: spy failed in {fail_at}"}
    assert spy.error == f"RuntimeError: spy failed in {fail_at}" and spy.files == []
    assert isinstance(spy.exception, RuntimeError)
    assert made[0].calls[-1] == "abort"
    assert (tmp_path / "news" / "spy.txt").read_bytes() == old
    assert result.formats["jsonl"].ok
    assert len((tmp_path / "news" / "messages.jsonl").read_bytes().splitlines()) == 26
    assert not tmp_files(tmp_path)


def test_failure_mid_stream_stops_only_that_writer(tmp_path: Path, archive: Archive):
    made: list[SpyWriter] = []
    result = render_chat(archive, CHAT, tmp_path, {"spy": spy_spec(made=made, fail_after_batches=2),
                                                   "jsonl": JSONL}, batch_size=5)
    assert result.failed == ["spy"] and made[0].batches == 2
    assert not (tmp_path / "news" / "spy.txt").exists()
    assert (tmp_path / "news" / "messages.jsonl").exists() and not tmp_files(tmp_path)


def test_factory_failure_is_recorded(tmp_path: Path, archive: Archive):
    def factory(ctx):
        raise ValueError("bad options")

    result = render_chat(archive, CHAT, tmp_path, {"bad": FormatSpec("bad", factory), "jsonl": JSONL})
    assert result.formats["bad"].error == "ValueError: bad options"
    assert result.formats["jsonl"].ok


@pytest.mark.parametrize("relpath", ["../escape.txt", "/tmp/abs.txt", "a/../../escape.txt", "a\x00b", "",
                                     "C:/x.txt", "a\\b.txt", "x.txt" + TMP_SUFFIX, "."])
def test_path_escapes_are_rejected(tmp_path: Path, archive: Archive, relpath: str):
    result = render_chat(archive, CHAT, tmp_path, {"spy": spy_spec(relpath=relpath), "jsonl": JSONL})
    spy = result.formats["spy"]
    assert not spy.ok and isinstance(spy.exception, OutputError), spy.error
    assert "\n" not in spy.error
    assert not (tmp_path / "escape.txt").exists() and not tmp_files(tmp_path)
    assert result.formats["jsonl"].ok


def test_symlink_escape_is_rejected(tmp_path: Path, archive: Archive):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "news").mkdir()
    os.symlink(outside, tmp_path / "news" / "link")
    result = render_chat(archive, CHAT, tmp_path, {"spy": spy_spec(relpath="link/deeper/spy.txt")})
    assert isinstance(result.formats["spy"].exception, OutputError)
    assert list(outside.iterdir()) == []


def test_nested_paths_inside_are_fine(tmp_path: Path, archive: Archive):
    result = render_chat(archive, CHAT, tmp_path, {"spy": spy_spec(relpath="a/./b/spy.txt")})
    assert result.ok and result.formats["spy"].files == ["a/b/spy.txt"]
    assert (tmp_path / "news" / "a" / "b" / "spy.txt").is_file()


def test_two_formats_cannot_write_the_same_file(tmp_path: Path, archive: Archive):
    result = render_chat(archive, CHAT, tmp_path, {"one": spy_spec("one"), "two": spy_spec("two")})
    assert result.formats["one"].ok
    assert not result.formats["two"].ok and "'one'" in result.formats["two"].error


def test_writer_may_close_its_files_itself(tmp_path: Path, archive: Archive):
    class SelfClosing:
        def __init__(self, ctx):
            self.ctx = ctx

        def open(self):
            with self.ctx.open("a.bin", "wb") as f:
                f.write(b"\x00\x01")

        def write(self, messages):
            pass

        def close(self):
            pass

        def abort(self):
            pass

    assert render_chat(archive, CHAT, tmp_path, {"s": FormatSpec("s", SelfClosing)}).ok
    assert (tmp_path / "news" / "a.bin").read_bytes() == b"\x00\x01"


def test_bad_mode_fails_the_format(tmp_path: Path, archive: Archive):
    class Appender(SpyWriter):
        def open(self):
            self.ctx.open("x.txt", "a")

    result = render_chat(archive, CHAT, tmp_path, {"a": FormatSpec("a", Appender)})
    assert not result.ok and "mode" in result.formats["a"].error


def test_stale_temp_files_are_removed(tmp_path: Path, archive: Archive):
    chat_dir = tmp_path / "news"
    (chat_dir / "sub").mkdir(parents=True)
    (chat_dir / ("messages.jsonl" + TMP_SUFFIX)).write_text("half")
    (chat_dir / "sub" / ("page.html" + TMP_SUFFIX)).write_text("half")
    (chat_dir / "keep.part").write_text("not ours")
    render_chat(archive, CHAT, tmp_path, {})
    assert not tmp_files(tmp_path) and (chat_dir / "keep.part").exists()


def test_interrupt_aborts_everyone_and_replaces_nothing(tmp_path: Path, archive: Archive):
    render_chat(archive, CHAT, tmp_path, {"jsonl": JSONL})
    old = (tmp_path / "news" / "messages.jsonl").read_bytes()

    class Interrupting(SpyWriter):
        def write(self, messages):
            raise KeyboardInterrupt

    archive.upsert_batch(CHAT, [make(30)])
    with pytest.raises(KeyboardInterrupt):
        render_chat(archive, CHAT, tmp_path, {"jsonl": JSONL, "i": FormatSpec("i", Interrupting)})
    assert (tmp_path / "news" / "messages.jsonl").read_bytes() == old
    assert not tmp_files(tmp_path)


def test_unknown_chat_and_bad_folder(tmp_path: Path, archive: Archive):
    with pytest.raises(OutputError, match="not in the archive"):
        render_chat(archive, 12345, tmp_path, {"jsonl": JSONL})
    archive.set_chat(Peer(-5, "group", "G", username="../evil"))
    with pytest.raises(OutputError, match="folder name"):
        render_chat(archive, -5, tmp_path, {"jsonl": JSONL})


def test_render_all_and_empty_chats(tmp_path: Path, archive: Archive):
    archive.set_chat(Peer(-77, "group", "Family"))
    results = render_all(archive, tmp_path, {"jsonl": JSONL})
    assert [(r.chat_id, r.message_count, r.ok) for r in results] == [(CHAT, 25, True), (-77, 0, True)]
    assert (tmp_path / "-77" / "messages.jsonl").read_bytes() == b""


def test_render_memory_does_not_grow_with_the_chat(tmp_path: Path):
    """20k messages rendered in batches of 500: the peak is a few batches, not the chat."""
    import tracemalloc

    with Archive.open(tmp_path) as a:
        a.set_chat(Peer(CHAT, "channel", "News", "news"))
        for start in range(1, 20_001, 2000):
            batch = [make(i, text=f"message {i} " + "x" * 200) for i in range(start, start + 2000)]
            a.upsert_batch(CHAT, batch)
        tracemalloc.start()
        try:
            result = render_chat(a, CHAT, tmp_path, {"jsonl": JSONL, "spy": spy_spec()}, batch_size=500)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.ok
    size = (tmp_path / "news" / "messages.jsonl").stat().st_size
    assert size > 8_000_000  # what holding the chat would cost, at the very least
    assert peak < 6_000_000, f"peak {peak} bytes"


def test_media_paths_are_attached_from_the_media_index(tmp_path: Path, archive: Archive):
    from tgx.model import Media

    archive.set_chat(Peer(-77, "group", "Family"))
    archive.upsert_batch(CHAT, [make(40, media=Media("photo", id=501)), make(41, media=Media("video", id=502)),
                                make(42, media=Media("document", id=503)), make(43, reply_to_id=40)])
    archive.set_media(501, "news/media/photos/501.jpg", size=3)
    archive.set_media(502, "-77/media/videos/502.mp4", size=3)  # downloaded for another chat first
    archive.set_media(503, "news/media/files/503.pdf", status="failed")
    seen: dict[int, str | None] = {}

    class MediaSpy(SpyWriter):
        def write(self, messages):
            for m in messages:
                if m.media is not None:
                    seen[m.id] = m.media.path
                if m.reply_to_id == 40:
                    seen[-40] = self.ctx.message(40).media.path

    result = render_chat(archive, CHAT, tmp_path, {"m": FormatSpec("m", MediaSpy)}, batch_size=2)
    assert result.ok
    assert seen == {40: "media/photos/501.jpg", 41: "../-77/media/videos/502.mp4", 42: None,
                    -40: "media/photos/501.jpg"}
    assert archive.message(CHAT, 40).media.path is None  # rows keep no paths


# ---------------------------------------------------------------------------------------------
# writers that take archive records (write_records) next to writers that take messages


def test_iter_records_are_the_stored_rows_undecoded(archive: Archive):
    archive.mark_deleted(CHAT, [4])
    batches = list(archive.iter_records(CHAT, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]
    rows = [r for b in batches for r in b]
    assert [r[0] for r in rows] == list(range(1, 26))
    assert [r[2] for r in rows] == [1 if i == 4 else 0 for i in range(1, 26)]
    assert all(type(data) is bytes for _, data, _ in rows)
    assert rows[0][1] == orjson.dumps(make(1).to_dict())
    assert b'"deleted":false' in rows[3][1]  # the column is the truth; the record is stale
    assert list(archive.iter_records(12345)) == []
    with pytest.raises(ValueError):
        next(archive.iter_records(CHAT, batch_size=0))


def test_has_media_files_counts_only_downloaded_files(archive: Archive):
    assert not archive.has_media_files()
    archive.set_media(1, "news/media/1.jpg", status="partial")
    archive.set_media(2, None, status="failed")
    assert not archive.has_media_files()
    archive.set_media(3, "news/media/3.jpg")
    assert archive.has_media_files()


class RecordsSpy:
    """Takes records; looks each one up through the context, which must still work."""

    def __init__(self, ctx: ChatRenderContext, *, fail_after_batches: int = 0):
        self.ctx = ctx
        self.batches: list[list[bytes]] = []
        self.fail_after_batches = fail_after_batches
        self.calls: list[str] = []

    def open(self) -> None:
        self.f = self.ctx.open("records.txt", "wb")

    def write(self, messages: Sequence[Message]) -> None:
        raise AssertionError("write() called on a writer with write_records")

    def write_records(self, records: Sequence[bytes]) -> None:
        self.batches.append(list(records))
        for record in records:
            message = self.ctx.message(orjson.loads(record)["id"])
            self.f.write(b"%d %s\n" % (self.ctx.message_index(message.id), message.text.encode()))
        if self.fail_after_batches and len(self.batches) >= self.fail_after_batches:
            raise RuntimeError("records spy failed mid-stream")

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")


def test_write_only_writer_gets_messages_next_to_a_records_writer(tmp_path: Path, archive: Archive):
    from tgx.model import Media

    archive.upsert_batch(CHAT, [make(26, media=Media("photo", id=501))])
    archive.set_media(501, "news/media/501.jpg", size=3)
    archive.mark_deleted(CHAT, [2, 26])
    seen: list[Message] = []
    records: list[RecordsSpy] = []

    class Collect(SpyWriter):
        def write(self, messages):
            seen.extend(messages)

    def records_factory(ctx):
        records.append(RecordsSpy(ctx))
        return records[-1]

    result = render_chat(archive, CHAT, tmp_path, {"c": FormatSpec("c", Collect),
                                                   "r": FormatSpec("r", records_factory)}, batch_size=4)
    assert result.ok, result.errors
    assert all(type(m) is Message for m in seen) and [m.id for m in seen] == list(range(1, 27))
    assert [m.id for m in seen if m.deleted] == [2, 26]
    assert seen[-1].media.path == "media/501.jpg"
    got = [orjson.loads(r) for b in records[0].batches for r in b]
    assert [len(b) for b in records[0].batches] == [4] * 6 + [2]
    assert got == [m.to_dict() for m in seen]  # the same messages, as records
    lines = (tmp_path / "news" / "records.txt").read_bytes().splitlines()
    assert lines[0] == b"0 message 1" and lines[-1] == b"25 message 26"


def test_jsonl_and_json_in_one_render_match_each_alone(tmp_path: Path, archive: Archive):
    import tgx_json
    from tgx.model import Media

    json_spec = tgx_json.tgx_register_formats()
    archive.upsert_batch(CHAT, [make(26, media=Media("photo", id=501)), make(27, media=Media("video", id=502))])
    archive.set_media(501, "news/media/501.jpg", size=3)
    archive.mark_deleted(CHAT, [3, 27])

    def files(out: Path, formats) -> dict[str, bytes]:
        result = render_chat(archive, CHAT, out, formats, batch_size=6)
        assert result.ok, result.errors
        return {f: (result.chat_dir / f).read_bytes() for r in result.formats.values() for f in r.files}

    both = files(tmp_path / "both", {"jsonl": JSONL, "json": json_spec})
    alone = {**files(tmp_path / "j", {"jsonl": JSONL}), **files(tmp_path / "k", {"json": json_spec})}
    assert both == alone and set(both) == {"messages.jsonl", "result.json"}
    lines = [orjson.loads(line) for line in both["messages.jsonl"].splitlines()]
    assert [d["id"] for d in lines if d["deleted"]] == [3, 27]
    assert lines[25]["media"]["path"] == "media/501.jpg" and lines[26]["media"]["path"] is None


def test_failing_write_records_is_isolated_like_write(tmp_path: Path, archive: Archive):
    assert render_chat(archive, CHAT, tmp_path, {"r": FormatSpec("r", RecordsSpy)}).ok
    old = (tmp_path / "news" / "records.txt").read_bytes()
    assert old.splitlines()[2] == b"2 message 3"  # lookups work with no message writer at all
    archive.upsert_batch(CHAT, [make(26)])
    made: list[RecordsSpy] = []

    def failing(ctx):
        made.append(RecordsSpy(ctx, fail_after_batches=2))
        return made[-1]

    result = render_chat(archive, CHAT, tmp_path, {"r": FormatSpec("r", failing), "jsonl": JSONL,
                                                   "spy": spy_spec()}, batch_size=5)
    assert result.failed == ["r"] and result.errors == {"r": "RuntimeError: records spy failed mid-stream"}
    assert len(made[0].batches) == 2 and made[0].calls == ["abort"]
    assert (tmp_path / "news" / "records.txt").read_bytes() == old
    assert result.formats["jsonl"].ok and result.formats["spy"].ok
    assert len((tmp_path / "news" / "messages.jsonl").read_bytes().splitlines()) == 26
    assert len((tmp_path / "news" / "spy.txt").read_text().splitlines()) == 27
    assert not tmp_files(tmp_path)
