"""An LRU + TTL cache of resolved peers, persisted beside the archive.

Each entry holds the Telethon InputPeer (what requests need) and the :class:`tgx.model.Peer`
(title, kind, username: what folder names and formats need), so a cache hit costs no request
at all. Entries are keyed by every form of reference learned for a peer: ``@username``
(lowercased — Telegram usernames are case-insensitive), ``id:<marked id>`` and ``me``. Phone
numbers are never keys: they are secrets and must not be written to disk.

TTL is counted from when Telegram last answered for that peer (a hit does not refresh it), in
wall-clock seconds, so it holds across runs. Everything is O(1): one ``OrderedDict``.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from tgx.fsutil import write_atomic
from tgx.model import Peer
from tgx.specs import PeerRef, ResolvedPeer

log = logging.getLogger("tgx.peer_cache")

FORMAT_VERSION = 1
CLOCK_SKEW = 60.0  # an entry stored this far "in the future" means the clock went back: distrust it
_INPUT_PEER_CRC = 0xC91C90B6  # crc32(b'InputPeer')


@dataclass(slots=True)
class _Entry:
    peer: Peer
    input_peer: Any
    stored_at: float  # time.time() when Telegram answered


def ref_key(ref: PeerRef) -> str | None:
    """The cache key of a reference, or None for kinds that are never cached (phone)."""
    if ref.kind == "username":
        return "@" + str(ref.value).lower()
    if ref.kind == "id":
        return f"id:{int(ref.value)}"
    if ref.kind == "me":
        return "me"
    return None


def encode_input_peer(input_peer: Any) -> str:
    return base64.b64encode(bytes(input_peer)).decode("ascii")


def decode_input_peer(text: str) -> Any:
    from telethon.extensions import BinaryReader

    obj = BinaryReader(base64.b64decode(text, validate=True)).tgread_object()
    if getattr(obj, "SUBCLASS_OF_ID", None) != _INPUT_PEER_CRC:
        raise ValueError(f"not an InputPeer: {type(obj).__name__}")
    return obj


class PeerCache:
    """The ``peer_cache`` resolver: ``resolve`` answers from memory, ``learn`` remembers."""

    def __init__(self, path: Path | None = None, *, size: int = 1000, ttl: float = 3600.0,
                 clock: Callable[[], float] = time.time, owner: str | None = None) -> None:
        """
        :param path: the JSON file to load from and persist to (None: memory only).
        :param size: the most keys kept; 0 disables caching.
        :param ttl: seconds an entry stays valid after Telegram answered.
        :param clock: wall-clock seconds (injected by tests).
        :param owner: the session name the cached access hashes belong to; a file written for
            another session is ignored (access hashes are per account).
        """
        self.path = path
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self.owner = owner
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = self.misses = self.evictions = self.expirations = 0
        self._dirty = False
        if path is not None:
            self._load(path)

    # -- the PeerResolver protocol -------------------------------------------------------------

    async def resolve(self, ref: PeerRef) -> ResolvedPeer | None:
        return self.get(ref)

    def learn(self, ref: PeerRef, resolved: ResolvedPeer) -> None:
        if self.size <= 0:
            return
        now = self.clock()
        peer = resolved.peer
        keys = [ref_key(ref), f"id:{peer.id}"]
        if peer.username:
            keys.append("@" + peer.username.lower())
        if peer.kind == "self":
            keys.append("me")
        for key in dict.fromkeys(k for k in keys if k is not None):
            old = self._entries.get(key)
            stored = old.stored_at if old is not None and old.peer.id == peer.id and not self._expired(old, now) \
                else now
            self._entries[key] = _Entry(peer, resolved.input_peer, stored)
            self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
            self.evictions += 1
        self._dirty = True

    def stats(self) -> dict[str, int | float]:
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "expirations": self.expirations, "size": len(self._entries), "capacity": self.size,
                "ttl": self.ttl}

    def close(self) -> None:
        if self.path is not None and self._dirty:
            self.save(self.path)
            self._dirty = False

    # -- the cache -----------------------------------------------------------------------------

    def _expired(self, entry: _Entry, now: float) -> bool:
        age = now - entry.stored_at
        return age > self.ttl or age < -CLOCK_SKEW

    def get(self, ref: PeerRef) -> ResolvedPeer | None:
        key = ref_key(ref)
        entry = self._entries.get(key) if key is not None else None
        if entry is not None and self._expired(entry, self.clock()):
            del self._entries[key]  # type: ignore[arg-type]
            self.expirations += 1
            self._dirty = True
            entry = None
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)  # type: ignore[arg-type]
        self.hits += 1
        self._dirty = True  # the LRU order changed
        return ResolvedPeer(entry.peer, entry.input_peer)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        """Keys from least to most recently used."""
        return list(self._entries)

    # -- persistence ---------------------------------------------------------------------------

    def to_json(self) -> bytes:
        entries = [{"key": key, "stored_at": e.stored_at, "peer": e.peer.to_dict(),
                    "input_peer": encode_input_peer(e.input_peer)} for key, e in self._entries.items()]
        return orjson.dumps({"version": FORMAT_VERSION, "owner": self.owner, "entries": entries})

    def save(self, path: Path) -> None:
        """Write atomically (temp file, fsync, rename), readable by the owner only (0600)."""
        write_atomic(path, self.to_json(), mode=0o600)

    def _load(self, path: Path) -> None:
        """Load what a previous run learned; a missing, foreign or damaged file is an empty cache."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring unreadable peer cache %s: %s", path, exc)
            return
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            return
        if data.get("owner") != self.owner:
            return  # another account's access hashes: useless here
        now = self.clock()
        for item in data.get("entries") or ():
            try:
                entry = _Entry(Peer.from_dict(item["peer"]), decode_input_peer(item["input_peer"]),
                               float(item["stored_at"]))
                key = str(item["key"])
            except Exception as exc:  # one damaged entry costs one request, not the cache
                log.debug("skipping damaged peer cache entry: %s", exc)
                continue
            if self._expired(entry, now):
                self.expirations += 1
                continue
            self._entries[key] = entry
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
            self.evictions += 1
