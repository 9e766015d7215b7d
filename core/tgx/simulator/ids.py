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
