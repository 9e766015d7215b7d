"""Incremental refresh of a rendered chat (``tgx watch``): bring ``OUT/<chat>/`` up to date
given the ids of the messages that are new, edited or deleted since its last render.

The contract: whatever path a format takes, its files equal what :func:`render_chat` would
write for the same archive, byte for byte. A writer with the refresh capability
(``checkpoint``/``resume``: the line formats) is continued from the last checkpoint its last
render recorded before the first changed id (:mod:`tgx.render.refresh_state`): its files are
cut there and the rest is streamed again, so the cost is the changed tail plus at most one
batch, not the chat. Every other format, and any format whose state does not match its files,
is rendered in full by :func:`render_chat`.

Atomicity, in place: a continued file is not copied (that would cost its size). Instead the
format's refresh entry is dropped (and that fsynced) before its files are cut; the tail is
written, fsynced, and only then is the new entry recorded. A crash in between can leave a file
cut short or half-appended, but never one the next refresh trusts: without its entry the format
is rendered in full (atomically, as always).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tgx.archive.records import dumps
from tgx.archive.store import Archive
from tgx.media.index import attach_paths
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
    record_checkpoint,
    remove_superseded_files,
    render_chat,
    resumable,
    save_refresh_entries,
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
                 options: Mapping[str, Mapping[str, Any]] | None = None, *, changed: Iterable[int] = (),
                 batch_size: int = DEFAULT_BATCH_SIZE) -> RenderResult:
    """Bring ``OUT/<chat>/`` up to date with the archive; ``changed``: the ids of the chat's
    messages that are new, edited or deleted since its last render. Byte-identical to
    :func:`render_chat`; a format with nothing changed writes nothing.

    :raises OutputError: as :func:`render_chat`.
    """
    out_dir = Path(out_dir)
    chat = archive.chat(chat_id)
    if chat is None:  # render_chat says why
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
        if not chat_dir.is_dir() or not valid_entry(entry, chat_dir, fp):
            full[name] = spec
            continue
        assert entry is not None
        if first is None and entry.get("count") == count and entry.get("last") == max_id:
            result.formats[name] = FormatResult(name, files=sorted(entry["files"]))
            continue  # nothing changed: nothing written
        if first is None or not resumable(writer) or not entry["checkpoints"]:
            full[name] = spec  # not continuable, or the archive moved without saying which ids
            continue
        started = time.perf_counter()
        try:
            entries[name] = _continue(archive, chat_id, out_dir, name, writer, ctx, entry, _start(entry, first),
                                      state, lookups, batch_size, fp, count)
        except _Fallback:
            full[name] = spec
            continue
        res = done.formats[name] = result.formats[name] = FormatResult(name, files=ctx.files)
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


def _continue(archive: Archive, chat_id: int, out_dir: Path, name: str, writer: Any, ctx: ChatRenderContext,
              entry: Mapping[str, Any], cp: Mapping[str, Any], state: dict[str, Any], lookups: _ChatLookups,
              batch_size: int, fp: str, count: int) -> dict[str, Any]:
    """Continue one resumable format from checkpoint ``cp``; its new refresh entry."""
    state.pop(name, None)
    save_state(out_dir, chat_id, state)  # dropped before a file is touched: a crash means a full render
    ctx._resume = cp["offsets"]
    chat = ctx.chat
    cps = [c for c in entry["checkpoints"] if c["index"] <= cp["index"]]
    try:
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
        failed: list[BaseException] = []
        if lookups.has_comments:
            _write_comments(archive, chat, {name: (writer, ctx)}, batch_size,
                            lambda *args: failed.append(args[3]), {name: FormatResult(name)})
        if failed:
            raise _Fallback from failed[0]
        writer.close()
        ctx._commit()
    except _Fallback:
        _abort(writer, ctx)
        raise
    except Exception as exc:  # noqa: BLE001 - correct first: the full render reports a real failure
        _abort(writer, ctx)
        raise _Fallback(_one_line(exc)) from exc
    except BaseException:
        _abort(writer, ctx)
        raise
    return {"fingerprint": fp, "count": count, "last": after, "checkpoints": cps}


def _abort(writer: Any, ctx: ChatRenderContext) -> None:
    try:
        writer.abort()
    except Exception:  # noqa: BLE001
        pass
    ctx._discard()
