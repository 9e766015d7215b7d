"""``tgx export FORUM --topic ID|TITLE``: only the chosen topics, fetching only them.

Each topic is a thread fetched through ``messages.GetReplies(forum, topic id)`` with a
checkpoint of its own (:class:`tgx.fetch.history.Thread`), so requests grow with the chosen
topics' size, not the forum's, and a rerun fetches only the topic's new messages. The General
topic (id 1) is a topic like the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from tgx.errors import UsageError
from tgx.fetch.history import FetchOptions, FetchResult, HistoryFetcher, Thread
from tgx.fetch.pages import PageDecoder
from tgx.model import Topic
from tgx.run import RunContext
from tgx.specs import ResolvedPeer


def choose_topics(topics: Sequence[Topic], wanted: Sequence[str], *, forum: str) -> list[Topic]:
    """The topics ``wanted`` names — each an id or a title (case-insensitive, whole title) — in
    the order named, each once. A name that matches nothing, or a title two topics share, is a
    :class:`UsageError` that lists what would match."""
    by_id = {t.id: t for t in topics}
    chosen: dict[int, Topic] = {}
    for name in wanted:
        text = name.strip()
        topic = by_id.get(int(text)) if text.isdigit() else None
        if topic is None:
            same = [t for t in topics if t.title.casefold() == text.casefold()]
            if len(same) > 1:
                ids = ", ".join(str(t.id) for t in same)
                raise UsageError(f"--topic {name!r}: {len(same)} topics of {forum} have that title (ids {ids})",
                                 hint="name the topic by its id (see `tgx topics`)")
            topic = same[0] if same else None
        if topic is None:
            raise UsageError(f"--topic {name!r}: {forum} has no such topic",
                             hint=f"see its topics with `tgx topics {forum}` (an id or the exact title)")
        chosen.setdefault(topic.id, topic)
    return list(chosen.values())


async def fetch_topics(run: RunContext, forum: ResolvedPeer, topics: Sequence[Topic], *, options: FetchOptions,
                       decoder: PageDecoder | None = None) -> FetchResult:
    """Fetch each topic's thread in turn (each in parallel ranges); the results summed."""
    label = forum.peer.folder_name
    total = FetchResult(complete=True)
    for topic in topics:
        fetcher = HistoryFetcher(run, forum.peer.id, forum.input_peer, options=options, label=label,
                                 decoder=decoder, on_progress=lambda n, _total: run.progress.advance(label, n),
                                 thread=Thread(forum.input_peer, forum.peer.id, topic.id), archived=0)
        result = await fetcher.run()
        total.fetched += result.fetched
        total.pages += result.pages
        total.complete = total.complete and result.complete
        if result.server_count is not None:
            total.server_count = (total.server_count or 0) + result.server_count
    return total


__all__ = ["choose_topics", "fetch_topics"]
