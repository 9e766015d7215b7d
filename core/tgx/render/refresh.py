"""Incremental refresh of a rendered chat (``tgx watch``): bring ``OUT/<chat>/`` up to date
given the ids of the messages that are new, edited or deleted since its last render.

The contract: whatever path a format takes, its files equal what :func:`render_chat` would
write for the same archive, byte for byte. A writer with the refresh capability
(``checkpoint``/``resume``: the line formats) is continued from the last checkpoint its last
render recorded before the first changed id (:mod:`tgx.render.refresh_state`): its files are
cut there and the rest is streamed again, so the cost is the changed tail plus at most one
batch, not the chat. A paged writer (html, markdown) writes again only the pages that hold or
quote a changed id. A patchable writer (a database: sqlite) gets only the changed messages and
replaces their rows in its own transaction — equal to a full render in content, not in bytes (a
database's bytes depend on its history). Every other format, and any format whose state does
not match its files, is rendered in full by :func:`render_chat`.

Atomicity, in place: a continued file is not copied (that would cost its size). Instead the
format's refresh entry is dropped (and that fsynced) before its files are cut; the tail is
written, fsynced, and only then is the new entry recorded. A crash in between can leave a file
cut short or half-appended, but never one the next refresh trusts: without its entry the format
is rendered in full (atomically, as always).
"""

from __future__ import annotations

import contextlib
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tgx.archive.records import dumps
from tgx.archive.store import Archive
from tgx.media.index import attach_paths
from tgx.model import Message
from tgx.render.engine import (
    DEFAULT_BATCH_SIZE,
    ChatRenderContext,
    FormatResult,
    RenderResult,
    _ChatLookups,
    _format_options,
    _one_line,
    _write_comments,
    chat_dir_for,
    comment_messages,
    paged,
    patchable,
    record_checkpoint,
    remove_superseded_files,
    render_chat,
    resumable,
    save_refresh_entries,
    takes_comments,
    write_topics,
)
from tgx.render.refresh_state import fingerprint, load_state, save_state, valid_entry
from tgx.specs import FormatSpec

__all__ = ["refresh_chat"]


class _Fallback(Exception):
    """This format is rendered in full instead (after a failed or impossible continuation)."""


def _start(entry: Mapping[str, Any], first: int | None) -> dict[str, Any]:
    """The last checkpoint whose messages all precede ``first`` (the first changed id)."""
    cps = entry["checkpoints"]
    if first is None:
        return cps[-1]
    best = cps[0]
    for cp in cps:
        if cp["after"] is None or cp["after"] < first:
            best = cp
        else:
            break
    return best


def refresh_chat(archive: Archive, chat_id: int, out_dir: Path | str, formats: Mapping[str, FormatSpec],
                 options: Mapping[str, Mapping[str, Any]] | None = None, *, changed: Iterable[int] | None = (),
                 comments: Iterable[int] | None = (), batch_size: int = DEFAULT_BATCH_SIZE) -> RenderResult:
    """Bring ``OUT/<chat>/`` up to date with the archive; ``changed``: the ids of the chat's
    messages that are new, edited or deleted since its last render (None: not known, or pages no
    id names are stale — a renamed sender: everything is rendered again); ``comments`` (a channel
    with comments): the ids of its discussion group's messages that are, None when not known.
    Byte-identical to :func:`render_chat`; a format with nothing changed writes nothing.

    :raises OutputError: as :func:`render_chat`.
    """
    out_dir = Path(out_dir)
    chat = archive.chat(chat_id)
    if chat is None or changed is None:  # render_chat says why / renders it all
        return render_chat(archive, chat_id, out_dir, formats, options, batch_size=batch_size)
    chat_dir = chat_dir_for(out_dir, chat)
    options = options or {}
    ids = sorted(set(changed))
    first = ids[0] if ids else None
    count = archive.count(chat_id)
    max_id = archive.max_id(chat_id)
    state = load_state(out_dir, chat_id)
    result = RenderResult(chat_id, chat_dir, count)
    done = RenderResult(chat_id, chat_dir, count)  # the formats continued here
    entries: dict[str, dict[str, Any]] = {}
    full: dict[str, FormatSpec] = {}
    lookups = _ChatLookups(archive, chat)
    threads = _changed_threads(archive, chat_id, comments) if lookups.has_comments else _Threads({}, known=True)
    claims: dict[str, str] = {}
    for name, spec in formats.items():
        ctx = ChatRenderContext(chat=chat, chat_dir=chat_dir, options=_format_options(spec, options.get(name)),
                                message_count=count, lookups=lookups, format_name=name, claims=claims)
        try:
            writer = spec.factory(ctx)
        except Exception:  # noqa: BLE001 - render_chat reports it
            full[name] = spec
            continue
        fp = fingerprint(name, writer, ctx.options)
        entry = state.get(name)
        if not chat_dir.is_dir() or not valid_entry(entry, chat_dir, fp) or not threads.known:
            full[name] = spec
            continue
        assert entry is not None
        if first is None and not threads.posts and entry.get("count") == count and entry.get("last") == max_id:
            result.formats[name] = FormatResult(name, files=sorted(entry["files"]))
            continue  # nothing changed: nothing written
        started = time.perf_counter()
        pages = sorted({*ids, *threads.posts.values()})  # a comment shows on its post's page
        try:
            if pages and paged(writer) and entry.get("parts"):
                entries[name] = _refresh_parts(archive, chat_id, out_dir, name, writer, ctx, entry, pages,
                                               state, lookups, batch_size, fp, count, max_id)
                files = sorted(set(entry["files"]) | set(ctx.files))  # the pages not rewritten stay as they are
            elif pages and patchable(writer):
                entries[name] = _patch(archive, chat_id, out_dir, name, writer, ctx, entry, ids, threads, state,
                                       lookups, batch_size, fp, count, max_id)
                files = ctx.files
            elif (first is not None or threads.posts) and resumable(writer) and entry["checkpoints"]:
                kept: list[str] = []
                entries[name] = _continue(archive, chat_id, out_dir, name, writer, ctx, entry, _start(entry, first),
                                          threads, state, lookups, batch_size, fp, count, kept)
                files = sorted({*ctx.files, *kept})
            else:  # not continuable, or the archive moved without saying which ids
                full[name] = spec
                continue
        except _Fallback:
            full[name] = spec
            continue
        res = done.formats[name] = result.formats[name] = FormatResult(name, files=files)
        res.seconds = time.perf_counter() - started
    if done.formats:
        if chat.forum:
            write_topics(archive, chat, chat_dir)
        remove_superseded_files(out_dir, chat, chat_dir, done)
        save_refresh_entries(out_dir, chat_dir, chat_id, done, entries)
    if full:
        again = render_chat(archive, chat_id, out_dir, full, options, batch_size=batch_size)
        result.formats.update(again.formats)
        result.message_count = again.message_count
    return result


@dataclass(frozen=True, slots=True)
class _Threads:
    """The changed comments of a channel: ``posts`` maps each to the post it is under; not
    ``known`` when the caller could not say which (every file holding comments is redone)."""

    posts: dict[int, int]
    known: bool


def _changed_threads(archive: Archive, chat_id: int, comments: Iterable[int] | None) -> _Threads:
    if comments is None:
        return _Threads({}, known=False)
    ids = list(comments)
    linked = archive.discussion_of(chat_id)
    if not ids or linked is None:
        return _Threads({}, known=True)
    return _Threads(archive.comment_posts(linked[0], ids), known=True)


def _continue(archive: Archive, chat_id: int, out_dir: Path, name: str, writer: Any, ctx: ChatRenderContext,
              entry: Mapping[str, Any], cp: Mapping[str, Any], threads: _Threads, state: dict[str, Any],
              lookups: _ChatLookups, batch_size: int, fp: str, count: int, kept: list[str]) -> dict[str, Any]:
    """Continue one resumable format from checkpoint ``cp`` (its comment files from their own
    checkpoint); its new refresh entry. ``kept`` gets the files it left as they are."""
    state.pop(name, None)
    save_state(out_dir, chat_id, state)  # dropped before a file is touched: a crash means a full render
    ctx._resume = cp["offsets"]
    chat = ctx.chat
    cps = [c for c in entry["checkpoints"] if c["index"] <= cp["index"]]
    with _aborting(writer, ctx):
        if not writer.resume(cp["state"]):
            raise _Fallback
        index, after = cp["index"], cp["after"]
        records = callable(getattr(writer, "write_records", None))
        for messages in archive.iter_messages(chat_id, batch_size, min_id=None if after is None else after + 1):
            if not messages:
                continue
            attach_paths(archive, chat, messages)
            lookups.set_batch(messages)
            if records:
                writer.write_records([dumps(m.to_dict()) for m in messages])
            else:
                writer.write(messages)
            index += len(messages)
            after = messages[-1].id
            cps.append(record_checkpoint(writer, ctx, index, after))
        lookups.set_batch(())
        if index != count:  # an id the caller did not name came in below the checkpoint, or a row is unreadable
            raise _Fallback
        comment_cps: list[dict[str, Any]] | None = None
        if lookups.has_comments and takes_comments(writer):
            comment_cps = _continue_comments(archive, name, writer, ctx, entry, cp, threads, batch_size, kept)
        writer.close()
        ctx._commit()
    return {"fingerprint": fp, "count": count, "last": after, "checkpoints": cps, "comment_checkpoints": comment_cps}


def _continue_comments(archive: Archive, name: str, writer: Any, ctx: ChatRenderContext,
                       entry: Mapping[str, Any], cp: Mapping[str, Any], threads: _Threads, batch_size: int,
                       kept: list[str]) -> list[dict[str, Any]]:
    """A channel's comment files, continued from the last comment checkpoint before the first
    changed comment (in ``(post_id, id)`` order): the comments after it are streamed again; with
    none changed, the files stay as they are. ``kept`` gets the files left untouched."""
    cps = entry.get("comment_checkpoints") or []
    first = min(((post, cid) for cid, post in threads.posts.items()), default=None)
    start: Mapping[str, Any] | None = None
    for c in cps:
        if c["after"] is None or first is None or tuple(c["after"]) < first:
            start = c
        else:
            break
    resumed: dict[str, int] = {}
    if start is not None and start["after"] is not None:
        resumed = {rel: off for rel, off in start["offsets"].items() if rel not in cp["offsets"]}
        assert ctx._resume is not None
        ctx._resume = {**ctx._resume, **resumed}
    if resumed and start is not None:
        mine = list(cps[:cps.index(start) + 1])
        after = (start["after"][0], start["after"][1])
    else:  # from the first comment: the files are new
        mine, after = [record_checkpoint(writer, ctx, 0, None)], None
    failed: list[BaseException] = []

    def checkpoint(_name: str, key: list[int] | None) -> None:
        mine.append(record_checkpoint(writer, ctx, 0, key))

    _write_comments(archive, ctx.chat, {name: (writer, ctx)}, batch_size, lambda *args: failed.append(args[3]),
                    {name: FormatResult(name)}, after=after, on_batch=checkpoint)
    if failed:
        raise _Fallback from failed[0]
    for rel, off in resumed.items():
        if rel not in ctx.files:  # nothing came after the checkpoint: the file must end there already
            if (ctx.chat_dir / rel).stat().st_size != off:
                raise _Fallback
            kept.append(rel)
    return mine


def _id_runs(ids: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted ids as runs of consecutive ids ``(first, last)``: one archive query per run."""
    start = prev = None
    for i in ids:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None and prev is not None:
            yield start, prev
        start = prev = i
    if start is not None and prev is not None:
        yield start, prev


def _patch(archive: Archive, chat_id: int, out_dir: Path, name: str, writer: Any, ctx: ChatRenderContext,
           entry: Mapping[str, Any], ids: list[int], threads: _Threads, state: dict[str, Any],
           lookups: _ChatLookups, batch_size: int, fp: str, count: int, max_id: int | None) -> dict[str, Any]:
    """Hand a patchable writer (a database) the current version of the changed messages only; its
    file is changed in place, in the writer's own transaction. The entry is dropped first, so a
    crash in between means a full render next time."""
    state.pop(name, None)
    save_state(out_dir, chat_id, state)
    ctx._resume = {rel: stat[0] for rel, stat in entry["files"].items()}  # each file as it is, not cut
    chat = ctx.chat
    with _aborting(writer, ctx):
        if not writer.patch_open():
            raise _Fallback
        batch: list[Message] = []
        for lo, hi in _id_runs(ids):
            for messages in archive.iter_messages(chat_id, batch_size, min_id=lo, max_id=hi):
                batch.extend(messages)
            if len(batch) >= batch_size or hi == ids[-1]:
                attach_paths(archive, chat, batch)
                lookups.set_batch(batch)
                writer.patch(batch)
                batch = []
        lookups.set_batch(())
        if threads.posts:
            if not callable(getattr(writer, "patch_comments", None)):
                raise _Fallback
            for post in sorted(set(threads.posts.values())):  # each changed comment, read with its thread
                for rows in archive.iter_comments(chat_id, batch_size, post_id=post):
                    picked = [r for r in rows if r[1] in threads.posts]
                    if picked:
                        writer.patch_comments([(post, m) for m in comment_messages(archive, chat, picked)])
        writer.close()
        ctx._commit()
    return {"fingerprint": fp, "count": count, "last": max_id, "checkpoints": []}


def _moved_down(ids: list[int], count: int, old_count: int, old_last: int | None) -> bool:
    """A new message came in below the last one rendered (or one the caller did not name): every
    later message's place changed."""
    below = [i for i in ids if old_last is not None and i <= old_last]
    return count != old_count + len(ids) - len(below)


def dirty_parts(parts: list[list[Any]], ids: list[int], count: int, old_count: int,
                old_last: int | None) -> list[int]:
    """The parts a refresh renders again: those holding a changed id or quoting one, and the last
    (it continues into the new messages); from the first changed one on when an id came in below
    the last one (every later message moved down)."""
    firsts = [p[1] for p in parts]
    last = len(parts) - 1
    below = [i for i in ids if old_last is not None and i <= old_last]
    if _moved_down(ids, count, old_count, old_last):
        return list(range(max(0, bisect_right(firsts, ids[0]) - 1), last + 1))
    dirty = {last, *(max(0, bisect_right(firsts, i) - 1) for i in below)}
    changed = set(ids)
    dirty.update(k for k, p in enumerate(parts) if k not in dirty and not changed.isdisjoint(p[2]))
    return sorted(dirty)


def _runs(dirty: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for k in dirty:
        if runs and runs[-1][1] == k - 1:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs


def _refresh_parts(archive: Archive, chat_id: int, out_dir: Path, name: str, writer: Any, ctx: ChatRenderContext,
                   entry: Mapping[str, Any], ids: list[int], state: dict[str, Any], lookups: _ChatLookups,
                   batch_size: int, fp: str, count: int, max_id: int | None) -> dict[str, Any]:
    """Render again only the parts (pages, notes) of a paged writer that changed; its new entry.
    Each rewritten file is replaced atomically; the entry is dropped first, so a crash in between
    means a full render next time."""
    old = entry["parts"]
    dirty = dirty_parts(old, ids, count, entry.get("count", -1), entry.get("last"))
    if ctx.chat.forum:
        if _moved_down(ids, count, entry.get("count", -1), entry.get("last")):
            raise _Fallback  # every later message moved: the topic pages' links into the main pages too
        ctx.changed_topics = frozenset(archive.thread_tops(chat_id, ids).values())
    state.pop(name, None)
    save_state(out_dir, chat_id, state)
    chat = ctx.chat
    new: list[list[Any]] = []
    changed = set(ids)
    quoting: list[int] = []  # messages quoting a changed one: their topic's pages show its excerpt
    with _aborting(writer, ctx):
        if not writer.reopen(old, dirty):
            raise _Fallback
        for a, b in _runs(dirty):
            start, end = old[a], old[b + 1] if b + 1 < len(old) else None
            writer.seek(start[0])
            n = 0
            for messages in archive.iter_messages(chat_id, batch_size, min_id=start[1],
                                                  max_id=None if end is None else end[1] - 1):
                if not messages:
                    continue
                attach_paths(archive, chat, messages)
                lookups.set_batch(messages)
                quoting += [m.id for m in messages if m.reply_to_id in changed and m.reply_to_peer_id is None]
                writer.write(messages)
                n += len(messages)
            if n != (count if end is None else end[0]) - start[0]:
                raise _Fallback  # the archive holds other messages than the parts say
        lookups.set_batch(())
        if ctx.changed_topics is not None and quoting:
            ctx.changed_topics |= frozenset(archive.thread_tops(chat_id, quoting).values())
        writer.close()
        new = list(writer.parts())
        merged = sorted([p for k, p in enumerate(old) if k not in set(dirty)] + new, key=lambda p: p[0])
        for a, b in _runs(dirty):  # a part's messages moved to another part (a date changed): not safe
            if b + 1 < len(old) and ([p[:2] for p in new if old[a][0] <= p[0] < old[b + 1][0]]
                                     != [p[:2] for p in old[a:b + 1]]):
                raise _Fallback
        keys = [p[0] for p in merged]
        if keys != sorted(set(keys)) or not keys or keys[0] != 0:
            raise _Fallback
        ctx._commit()
    return {"fingerprint": fp, "count": count, "last": max_id, "checkpoints": [], "parts": merged}


@contextlib.contextmanager
def _aborting(writer: Any, ctx: ChatRenderContext) -> Iterator[None]:
    """A refresh that fails in any way aborts its writer (no file replaced); an unexpected error
    becomes a fallback to the full render, which reports a real failure in its own words."""
    try:
        yield
    except _Fallback:
        _abort(writer, ctx)
        raise
    except Exception as exc:  # noqa: BLE001 - correct first: the full render reports a real failure
        _abort(writer, ctx)
        raise _Fallback(_one_line(exc)) from exc
    except BaseException:
        _abort(writer, ctx)
        raise


def _abort(writer: Any, ctx: ChatRenderContext) -> None:
    try:
        writer.abort()
    except Exception:  # noqa: BLE001
        pass
    ctx._discard()
