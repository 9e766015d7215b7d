"""What plugins register: small typed specs the core validates, and the objects they make.

Hooks are synchronous and cheap; each ``tgx_register_*`` hook returns one spec or a list of
them. Anything that does I/O is a method on the object a spec's ``factory`` builds (a writer,
an encoder, a resolver, a sink). Duplicate names across plugins are an error that names both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tgx.config import Config
    from tgx.model import Message, Peer, Topic


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A command-line option a plugin adds to ``tgx export`` (and ``tgx render``).

    ``name`` is the long flag without dashes (``markdown-split``); the value reaches the
    plugin as ``options[name]`` (also settable in ``tgx.toml`` under the plugin's table).
    """

    name: str
    help: str
    default: Any = None
    type: type = str  # bool: a --NAME/--no-NAME flag
    choices: tuple[str, ...] | None = None
    metavar: str | None = None  # what the help shows for the value (PATH); default: from choices/type


# ---------------------------------------------------------------------------------------------
# Output formats


@dataclass(frozen=True, slots=True)
class FormatSpec:
    name: str  # what users type in --format
    factory: Callable[[RenderContext], FormatWriter]
    description: str = ""
    options: tuple[OptionSpec, ...] = ()


class PeerLookup(Protocol):
    def get(self, peer_id: int) -> Peer | None: ...


class RenderContext(Protocol):
    """What a writer gets: the chat, where to write, how to look things up.

    Files must be created through :meth:`open`: the core writes them beside their final
    name and moves them into place only after :meth:`FormatWriter.close` returns, so a crash
    mid-render never leaves a half-written file where a finished one was.
    """

    chat: Peer
    chat_dir: Path  # OUT/<chat>/
    options: Mapping[str, Any]  # this format's options
    message_count: int  # messages that will be written, for paging
    changed_topics: frozenset[int] | None  # a forum's refresh: the topics whose messages changed; None: a render

    def open(self, relpath: str, mode: str = "w") -> IO[Any]: ...  # "w" (utf-8 text) or "wb"
    def peer(self, peer_id: int | None) -> Peer | None: ...
    def message_index(self, message_id: int) -> int | None: ...  # 0-based rank in id order
    def message(self, message_id: int) -> Message | None: ...  # e.g. the replied-to message
    def topic(self, topic_id: int | None) -> Topic | None: ...  # a forum topic by Message.topic_id
    def topics(self) -> list[Topic]: ...  # every topic seen in the forum, by id ([] elsewhere)
    def topic_messages(self, topic_id: int) -> Iterator[Message]: ...  # one topic's messages, ascending id
    def topic_counts(self) -> dict[int, int]: ...  # archived messages per forum topic ({} elsewhere)
    def comment_count(self, post_id: int) -> int: ...  # a channel post's archived comments (0 elsewhere)
    def comments(self, post_id: int) -> Iterator[Message]: ...  # ... streamed, ascending id


class FormatWriter(Protocol):
    """Streams one chat: ``open()`` once, ``write()`` per batch (ascending ids), ``close()``.

    Batches are bounded, so a writer that does not keep messages keeps memory flat.
    ``abort()`` is called instead of ``close()`` when rendering fails.

    Channel comments (``tgx export --comments``): a writer MAY define ``write_comments(comments:
    Sequence[tuple[int, Message]]) -> None`` — ``(post_id, comment)`` pairs — or the fast path
    ``write_comment_records(records: Sequence[bytes]) -> None`` (each comment's record with
    ``"post_id"`` added as its last key); the engine calls it, per batch, after the last
    ``write()`` and before ``close()``, with every archived comment of the channel in ascending
    ``(post_id, id)`` order. Writers that show a post's thread beside the post use
    ``RenderContext.comment_count`` / ``comments`` instead.

    Optional fast path: a writer MAY also define ``write_records(records: Sequence[bytes]) ->
    None``. The render engine then calls it INSTEAD of ``write()``, per batch, with each
    message's archive record — exactly ``orjson.dumps(Message.to_dict())``, no newline, in
    ascending id order, with ``deleted`` and ``media.path`` already correct — and decodes no
    message for that writer (``RenderContext`` lookups still work). For formats that write the
    records as they are (``jsonl``).

    Optional refresh capability (``tgx watch``): a stream-like writer MAY define ``checkpoint()
    -> Any`` (flush, return JSON-able state; called after ``open()`` and every batch) and
    ``resume(state) -> bool`` (called instead of ``open()``; ``ctx.open`` then returns each file
    open at that checkpoint cut at its offset; ``False``: render in full). docs/plugins.md.

    Optional paged refresh capability (html pages, markdown notes): ``parts() -> list`` (after
    ``close()``: ``[first index, first id, [ids it depends on], ...]`` per part), ``reopen(parts,
    dirty) -> bool`` (instead of ``open()``) and ``seek(index)`` (before each run of dirty parts):
    a refresh renders again only the parts that changed. docs/plugins.md.

    Optional patch refresh capability (databases): ``patch_open() -> bool`` (instead of
    ``open()``; ``ctx.open`` returns the existing file in place), ``patch(messages)`` and
    ``patch_comments(comments)`` (replace those rows), ``close()`` commits. docs/plugins.md.
    """

    def open(self) -> None: ...
    def write(self, messages: Sequence[Message]) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# Media encoders


@dataclass(frozen=True, slots=True)
class Availability:
    available: bool
    reason: str = ""  # why not, in words a user can act on


@dataclass(slots=True)
class EncodeJob:
    source: Path
    dest: Path  # final path; encoders write dest + ".part" and rename when verified
    crf: int | None = None
    max_long_side: int = 1920
    progress: Callable[[float], None] | None = None  # fraction 0..1


@dataclass(frozen=True, slots=True)
class EncoderSpec:
    name: str
    priority: int  # higher is tried first
    factory: Callable[[Config], Encoder]
    description: str = ""


@runtime_checkable
class Encoder(Protocol):
    name: str

    def probe(self) -> Availability: ...  # cached by the encoder; cheap after the first call
    def encode(self, job: EncodeJob) -> None: ...  # blocking; raises tgx.errors.EncodeError


# ---------------------------------------------------------------------------------------------
# Peer resolution


@dataclass(frozen=True, slots=True)
class PeerRef:
    """A parsed CHAT argument: ``kind`` is username | id | me | phone; ``message_id`` from links."""

    kind: str
    value: str | int
    raw: str
    message_id: int | None = None


@dataclass(slots=True)
class ResolvedPeer:
    peer: Peer
    input_peer: Any  # a Telethon InputPeer* TL object


@dataclass(frozen=True, slots=True)
class ResolverContext:
    config: Config
    state_dir: Path  # OUT/.tgx/: where a resolver may persist what it learned


@dataclass(frozen=True, slots=True)
class PeerResolverSpec:
    name: str
    priority: int  # higher is asked first; the network is always asked last
    factory: Callable[[ResolverContext], PeerResolver]


class PeerResolver(Protocol):
    async def resolve(self, ref: PeerRef) -> ResolvedPeer | None: ...  # None: not known here
    def learn(self, ref: PeerRef, resolved: ResolvedPeer) -> None: ...  # every resolution, broadcast
    def stats(self) -> Mapping[str, int | float]: ...  # hits, misses, evictions, expirations, size
    def close(self) -> None: ...  # persist


# ---------------------------------------------------------------------------------------------
# Metrics sinks


@dataclass(frozen=True, slots=True)
class SinkContext:
    config: Config
    out_dir: Path
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MetricsSinkSpec:
    name: str
    factory: Callable[[SinkContext], MetricsSink]
    description: str = ""
    options: tuple[OptionSpec, ...] = ()
    default_enabled: bool = True


class MetricsSink(Protocol):
    def event(self, snapshot: Mapping[str, Any]) -> None: ...  # periodic, during the run
    def report(self, report: Mapping[str, Any]) -> None: ...  # once, the final report
    def close(self) -> None: ...


def iter_specs(result: Any) -> Iterator[Any]:
    """A hook may return one spec, a list of them, or None."""
    if result is None:
        return
    if isinstance(result, list | tuple):
        yield from result
    else:
        yield result


__all__ = [
    "Availability", "EncodeJob", "Encoder", "EncoderSpec", "FormatSpec", "FormatWriter",
    "MetricsSink", "MetricsSinkSpec", "OptionSpec", "PeerLookup", "PeerRef", "PeerResolver",
    "PeerResolverSpec", "RenderContext", "ResolvedPeer", "ResolverContext", "SinkContext",
    "iter_specs",
]
