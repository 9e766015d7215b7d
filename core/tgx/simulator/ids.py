"""Message-id spaces: which ids a chat (or a forum topic) holds, computed, never stored.

Channels and supergroups number their messages densely 1..N. Basic groups and private chats
share the account's id sequence, so their ids interleave: a periodic pattern assigns each
position of the sequence to one chat, which makes "the k-th message of chat c", "how many
messages of c are at or below id x" and "whose is id x" O(1) for any history size.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from typing import Protocol


class IdSpace(Protocol):
    """The ids of one history, oldest first (rank 0 is the oldest)."""

    count: int

    def id_at(self, rank: int) -> int: ...
    def rank_le(self, message_id: int) -> int: ...  # how many ids are <= message_id
    def contains(self, message_id: int) -> bool: ...


class DenseIds:
    """Ids ``first .. first+count-1``: a channel's or supergroup's history."""

    __slots__ = ("count", "first")

    def __init__(self, count: int, first: int = 1):
        self.count = count
        self.first = first

    def id_at(self, rank: int) -> int:
        return self.first + rank

    def rank_le(self, message_id: int) -> int:
        return min(self.count, max(0, message_id - self.first + 1))

    def contains(self, message_id: int) -> bool:
        return self.first <= message_id < self.first + self.count


class Interleave:
    """A periodic assignment of sequence positions (0-based) to members, by weight."""

    __slots__ = ("owner", "period", "slot_index", "slots", "weights")

    def __init__(self, weights: Sequence[int], seed: int):
        pattern = [member for member, weight in enumerate(weights) for _ in range(weight)]
        random.Random(seed).shuffle(pattern)
        self.weights = list(weights)
        self.period = len(pattern)
        self.owner = pattern
        self.slots: list[list[int]] = [[] for _ in weights]
        self.slot_index = [0] * len(pattern)
        for position, member in enumerate(pattern):
            self.slot_index[position] = len(self.slots[member])
            self.slots[member].append(position)

    def position(self, member: int, k: int) -> int:
        """Sequence position of the member's k-th item."""
        q, r = divmod(k, self.weights[member])
        return q * self.period + self.slots[member][r]

    def count_below(self, member: int, position: int) -> int:
        """How many of the member's items sit at positions < ``position``."""
        if position <= 0 or not self.weights[member]:
            return 0
        q, r = divmod(position, self.period)
        return q * self.weights[member] + bisect_left(self.slots[member], r)

    def at(self, position: int) -> tuple[int, int]:
        """(member, k) of the item at a sequence position."""
        q, r = divmod(position, self.period)
        member = self.owner[r]
        return member, q * self.weights[member] + self.slot_index[r]


class SharedIds:
    """One chat's ids in the account-wide sequence (id = position + 1)."""

    __slots__ = ("count", "member", "seq")

    def __init__(self, seq: Interleave, member: int, count: int):
        self.seq = seq
        self.member = member
        self.count = count

    def id_at(self, rank: int) -> int:
        return self.seq.position(self.member, rank) + 1

    def rank_le(self, message_id: int) -> int:
        return min(self.count, self.seq.count_below(self.member, message_id))

    def contains(self, message_id: int) -> bool:
        if message_id < 1:
            return False
        member, k = self.seq.at(message_id - 1)
        return member == self.member and k < self.count


class ThreadIds:
    """A forum topic: its root (the topic-created message) plus its members' ids.

    Regular forum messages start at ``base``; position ``id - base`` is assigned to a topic
    by ``seq``; ``last`` is the chat's newest id.
    """

    __slots__ = ("base", "count", "last", "member", "members", "root", "seq")

    def __init__(self, seq: Interleave, member: int, root: int, base: int, last: int):
        self.seq = seq
        self.member = member
        self.root = root
        self.base = base
        self.last = last
        self.members = seq.count_below(member, last - base + 1) if last >= base else 0
        self.count = 1 + self.members

    def id_at(self, rank: int) -> int:
        if rank == 0:
            return self.root
        return self.base + self.seq.position(self.member, rank - 1)

    def rank_le(self, message_id: int) -> int:
        if message_id < self.root:
            return 0
        below = 0
        if message_id >= self.base:
            below = self.seq.count_below(self.member, message_id - self.base + 1)
        return 1 + min(self.members, below)

    def contains(self, message_id: int) -> bool:
        if message_id == self.root:
            return True
        if message_id < self.base or message_id > self.last:
            return False
        return self.seq.at(message_id - self.base)[0] == self.member


class WithoutIds:
    """A history minus the ids deleted on the server: ranks and the count skip them.

    Used for ``deleted = [...]`` in a scenario's chat table; message contents are still planned
    from the full space, so deleting one message changes no other message.
    """

    __slots__ = ("base", "count", "gone", "gone_ranks")

    def __init__(self, base: IdSpace, removed: Sequence[int] | frozenset[int]):
        self.base = base
        self.gone = sorted(i for i in set(removed) if base.contains(i))
        self.gone_ranks = [base.rank_le(i) - 1 for i in self.gone]
        self.count = base.count - len(self.gone)

    def id_at(self, rank: int) -> int:
        r = rank
        for g in self.gone_ranks:
            if g > r:
                break
            r += 1
        return self.base.id_at(r)

    def rank_le(self, message_id: int) -> int:
        return self.base.rank_le(message_id) - bisect_right(self.gone, message_id)

    def contains(self, message_id: int) -> bool:
        if not self.base.contains(message_id):
            return False
        i = bisect_left(self.gone, message_id)
        return not (i < len(self.gone) and self.gone[i] == message_id)


class RangeIds:
    """Ascending, disjoint runs of ids ``(first, n)``: one discussion thread's comments."""

    __slots__ = ("count", "firsts", "ranks", "runs")

    def __init__(self, runs: Sequence[tuple[int, int]]):
        self.runs = [(first, n) for first, n in runs if n > 0]
        self.firsts = [first for first, _ in self.runs]
        self.ranks = [0]
        for _, n in self.runs:
            self.ranks.append(self.ranks[-1] + n)
        self.count = self.ranks[-1]

    def id_at(self, rank: int) -> int:
        i = bisect_right(self.ranks, rank) - 1
        return self.runs[i][0] + rank - self.ranks[i]

    def rank_le(self, message_id: int) -> int:
        i = bisect_right(self.firsts, message_id) - 1
        if i < 0:
            return 0
        first, n = self.runs[i]
        return self.ranks[i] + min(n, message_id - first + 1)

    def contains(self, message_id: int) -> bool:
        i = bisect_right(self.firsts, message_id) - 1
        return i >= 0 and message_id < self.runs[i][0] + self.runs[i][1]


class CommentLayout:
    """Where a broadcast channel's comments sit in its discussion group's dense ids.

    Id 1 is the group's creation; then one block per post ``p = 1..posts`` in id order: the
    thread root (the auto-forwarded copy of the post), then its ``counts[(p - 1) % period]``
    comments; then the ``later`` comments, ``(post, n)`` runs in the order given. Only the
    periodic pattern and its prefix sums are stored, so "whose is id x" and "where is post
    p's block" are O(log period) for any channel size.
    """

    __slots__ = ("base_end", "counts", "gone", "later", "later_of", "later_starts", "period", "period_len",
                 "posts", "prefix", "total")

    def __init__(self, posts: int, counts: Sequence[int], later: Sequence[tuple[int, int]] = ()):
        self.posts = posts
        self.counts = list(counts)
        self.period = len(self.counts)
        if posts and self.period == 0:
            raise ValueError("a channel with posts needs a pattern of comment counts")
        self.prefix = [0]
        for c in self.counts:
            self.prefix.append(self.prefix[-1] + 1 + c)
        self.period_len = self.prefix[-1]
        q, r = divmod(posts, self.period) if self.period else (0, 0)
        self.base_end = 1 + q * self.period_len + self.prefix[r]  # the last id of the last block
        self.later = [(post, n) for post, n in later if n > 0]
        self.later_starts: list[int] = []
        self.later_of: dict[int, list[tuple[int, int]]] = {}  # post -> its later runs (first id, n)
        at = self.base_end + 1
        for post, n in self.later:
            if not 1 <= post <= posts:
                raise ValueError(f"later comments on post {post}: the channel has posts 1..{posts}")
            self.later_starts.append(at)
            self.later_of.setdefault(post, []).append((at, n))
            at += n
        self.total = at - 1  # the group's newest id
        self.gone: dict[int, list[int]] = {}  # post -> deleted comment ids (see set_deleted)

    def count(self, post: int) -> int:
        """Comments the pattern gives ``post`` (later ones excluded)."""
        return self.counts[(post - 1) % self.period]

    def root(self, post: int) -> int:
        """The id of post ``post``'s block start: its thread root."""
        q, r = divmod(post - 1, self.period)
        return 2 + q * self.period_len + self.prefix[r]

    def locate(self, message_id: int) -> tuple[int, int]:
        """(post, slot) of a group id: slot 0 is the root, slot k >= 1 the thread's k-th comment
        (later ones numbered after the pattern's); (0, 0) for the creation message."""
        if message_id <= 1:
            return 0, 0
        if message_id <= self.base_end:
            q, rem = divmod(message_id - 2, self.period_len)
            r = bisect_right(self.prefix, rem) - 1
            return q * self.period + r + 1, rem - self.prefix[r]
        i = bisect_right(self.later_starts, message_id) - 1
        post = self.later[i][0]
        slot = 1 + self.count(post) + (message_id - self.later_starts[i])
        for first, n in self.later_of[post]:
            if first >= self.later_starts[i]:
                break
            slot += n
        return post, slot

    def thread(self, post: int) -> RangeIds:
        """The comments of ``post``, deleted ones included, ascending."""
        root = self.root(post)
        return RangeIds([(root + 1, self.count(post)), *self.later_of.get(post, ())])

    def comment_id(self, post: int, ordinal: int) -> int:
        """The id of the thread's ``ordinal``-th comment (0-based)."""
        c = self.count(post)
        if ordinal < c:
            return self.root(post) + 1 + ordinal
        return self.thread(post).id_at(ordinal)

    def set_deleted(self, deleted: frozenset[int] | set[int]) -> None:
        gone: dict[int, list[int]] = {}
        for message_id in sorted(deleted):
            if 1 < message_id <= self.total:
                post, slot = self.locate(message_id)
                if slot:
                    gone.setdefault(post, []).append(message_id)
        self.gone = gone

    def summary(self, post: int) -> tuple[int, int]:
        """(comments, newest comment id or 0) of ``post``, deleted ones excluded."""
        runs = self.later_of.get(post)
        gone = self.gone.get(post)
        if not runs and not gone:
            c = self.count(post)
            return c, (self.root(post) + c if c else 0)
        thread = self.thread(post)
        count = thread.count
        if not gone:
            return count, (thread.id_at(count - 1) if count else 0)
        removed = set(gone)
        rank = count - 1
        while rank >= 0 and thread.id_at(rank) in removed:
            rank -= 1
        return count - len(gone), (thread.id_at(rank) if rank >= 0 else 0)


class IdsView(Sequence[int]):
    """An id space as a lazy, ascending sequence (what tests compare exports against)."""

    __slots__ = ("space",)

    def __init__(self, space: IdSpace):
        self.space = space

    def __len__(self) -> int:
        return self.space.count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.space.id_at(i) for i in range(*index.indices(self.space.count))]
        if index < 0:
            index += self.space.count
        if not 0 <= index < self.space.count:
            raise IndexError(index)
        return self.space.id_at(index)

    def __iter__(self) -> Iterator[int]:
        space = self.space
        return (space.id_at(rank) for rank in range(space.count))

    def __contains__(self, message_id: object) -> bool:
        return isinstance(message_id, int) and self.space.contains(message_id)

    def __repr__(self) -> str:
        return f"IdsView(count={self.space.count})"
