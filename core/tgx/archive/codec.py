"""How a stored record is packed: a zstd frame compressed with a dictionary trained per archive.

Why a dictionary: a message record is ~600 bytes of JSON whose keys and shapes repeat in every
row; zstd alone barely shrinks one such record, but with a dictionary trained on the archive's own
first records it comes to ~110 bytes (the simulated 100k channel), at ~2 µs to compress and ~1 µs
to expand — cheaper than the SQLite pages it saves. Each frame names its dictionary (zstd's frame
dict id), so an archive may hold rows of several dictionaries and of none: a record stored plain
(``orjson``, first byte ``{``: every row of an archive from before schema 5, and the first rows of
a new one until enough of them exist to train on) is read as it is.

Frames carry zstd's content checksum: a damaged row fails to expand instead of expanding to
something else (the archive then quarantines it like any unreadable row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import zstandard

__all__ = ["DICT_SIZE", "LEVEL", "TRAIN_ROWS", "CodecError", "RecordCodec", "is_plain"]

TRAIN_ROWS = 1000  # records the dictionary is trained on (the archive's first ones)
DICT_SIZE = 32 * 1024  # measured: 32 KiB from 1,000-2,000 records ~110 B/record; 16 KiB ~134 B
LEVEL = 3  # level 9 saves ~7% more at 5x the compression time
_MAGIC = b"\x28\xb5\x2f\xfd"


class CodecError(ValueError):
    """A stored value that is neither a plain record nor a frame this archive can expand."""


def is_plain(data: bytes) -> bool:
    """A record stored as it is (``orjson`` of a dict), not compressed."""
    return data[:1] == b"{"


class RecordCodec:
    """Compresses with the archive's current dictionary; expands with whichever a frame names.

    ``load(dict_id)`` returns a dictionary's bytes from the archive (None if it has none by that
    id): asked the first time a frame names a dictionary this codec has not seen (one written by
    another connection, or an older one). Not thread-safe: the archive calls it under its lock.
    """

    def __init__(self, load: Callable[[int], bytes | None]):
        self._load = load
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self._compressor: zstandard.ZstdCompressor | None = None
        self._current = self._decompressors[0]  # expands the current dictionary's frames
        self.dict_id: int | None = None  # the dictionary new rows are compressed with

    @property
    def compressing(self) -> bool:
        return self._compressor is not None

    def use(self, dict_id: int, data: bytes) -> None:
        """Compress from now on with dictionary ``data`` (whose id is ``dict_id``)."""
        d = zstandard.ZstdCompressionDict(data)
        self._compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=d, write_checksum=True)
        self._decompressors[dict_id] = self._current = zstandard.ZstdDecompressor(dict_data=d)
        self.dict_id = dict_id

    @staticmethod
    def train(samples: Sequence[bytes]) -> tuple[int, bytes]:
        """A dictionary trained on ``samples``: ``(its id, its bytes)``. Raises CodecError when
        zstd cannot train on them (too few, too alike)."""
        try:
            d = zstandard.train_dictionary(DICT_SIZE, list(samples), k=64, d=8)
        except zstandard.ZstdError as exc:
            raise CodecError(f"cannot train a dictionary: {exc}") from None
        return d.dict_id(), d.as_bytes()

    def compress(self, record: bytes) -> bytes:
        """``record`` as a frame, or as it is while there is no dictionary yet."""
        c = self._compressor
        return record if c is None else c.compress(record)

    def expand(self, data: bytes) -> bytes:
        """A stored value back as its record. Raises CodecError for anything else."""
        if data[:1] == b"{":
            return data
        if data[:4] != _MAGIC:
            raise CodecError("neither a record nor a zstd frame")
        try:
            dict_id = zstandard.get_frame_parameters(data).dict_id
            d = self._decompressors.get(dict_id)
            if d is None:
                d = self._decompressor(dict_id)
            return d.decompress(data)
        except zstandard.ZstdError as exc:
            raise CodecError(f"damaged zstd frame: {exc}") from None

    def expand_many(self, datas: Sequence[bytes]) -> tuple[list[bytes], dict[int, CodecError]]:
        """:meth:`expand` of a batch: the records, and the positions that do not expand with
        why (their slot keeps the stored bytes). The common batch — plain rows, or frames of the
        current dictionary — is one list comprehension of C calls: zstd refuses a frame that
        names another dictionary, and only then is each frame looked at on its own."""
        d = self._current.decompress
        try:
            return list(map(d, datas)), {}  # all packed: the batches of a compressing archive
        except zstandard.ZstdError:
            pass
        try:
            return [x if x[:1] == b"{" else d(x) for x in datas], {}  # all plain (schema 4), or mixed
        except zstandard.ZstdError:
            pass
        out: list[bytes] = []
        bad: dict[int, CodecError] = {}
        for i, x in enumerate(datas):
            try:
                out.append(self.expand(x))
            except CodecError as exc:
                out.append(x)
                bad[i] = exc
        return out, bad

    def _decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        data = self._load(dict_id)
        if data is None:
            raise CodecError(f"compressed with dictionary {dict_id}, which the archive does not have")
        d = self._decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(data))
        return d
