"""Sets of message-id ranges: what the fetcher has already covered in a chat.

The checkpoint of a chat is the list of id ranges whose messages are all in the archive (or do
not exist). Resume, incremental sync and parallel windows all reduce to "fetch the gaps", and
the ranges are committed in the same transaction as the messages, so a kill at any instant
neither loses nor duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class IdRanges:
    """Disjoint, sorted, inclusive ``[lo, hi]`` ranges of message ids (ids start at 1)."""

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Iterable[Iterable[int]] = ()):
        self._ranges: list[list[int]] = []
        for lo, hi in ranges:
            self.add(lo, hi)

    def add(self, lo: int, hi: int) -> None:
        if hi < lo:
            return
        merged: list[list[int]] = []
        placed = False
        for cur in self._ranges:
            if cur[1] + 1 < lo:
                merged.append(cur)
            elif hi + 1 < cur[0]:
                if not placed:
                    merged.append([lo, hi])
                    placed = True
                merged.append(cur)
            else:
                lo, hi = min(lo, cur[0]), max(hi, cur[1])
        if not placed:
            merged.append([lo, hi])
        merged.sort()
        self._ranges = merged

    def remove(self, lo: int, hi: int) -> None:
        """Stop claiming ``[lo, hi]`` (the ids will be fetched again)."""
        kept: list[list[int]] = []
        for cur_lo, cur_hi in self._ranges:
            if cur_hi < lo or cur_lo > hi:
                kept.append([cur_lo, cur_hi])
                continue
            if cur_lo < lo:
                kept.append([cur_lo, lo - 1])
            if cur_hi > hi:
                kept.append([hi + 1, cur_hi])
        self._ranges = kept

    def covers(self, msg_id: int) -> bool:
        return any(lo <= msg_id <= hi for lo, hi in self._ranges)

    @property
    def top(self) -> int:
        """The highest covered id (0 when nothing is covered)."""
        return self._ranges[-1][1] if self._ranges else 0

    def gaps(self, floor: int = 1) -> Iterator[tuple[int, int | None]]:
        """Uncovered ranges, newest first; the first one is open-ended (``hi`` is None)."""
        yield (self.top + 1, None)
        prev_lo = None
        for lo, hi in reversed(self._ranges):
            if prev_lo is not None and hi + 1 < prev_lo:
                yield (hi + 1, prev_lo - 1)
            prev_lo = lo
        if prev_lo is not None and prev_lo > floor:
            yield (floor, prev_lo - 1)

    def to_list(self) -> list[list[int]]:
        return [list(r) for r in self._ranges]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdRanges) and self._ranges == other._ranges

    def __repr__(self) -> str:
        return f"IdRanges({self._ranges})"
