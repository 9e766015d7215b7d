"""Choosing a video encoder, falling back when one fails, and running encodes beside downloads.

The core knows encoders only through the specs plugins register (``tgx_register_encoders``):
:class:`EncoderChain` builds them, asks each ``probe()`` whether it can work here, and tries
them highest priority first. A file that fails with one encoder is retried with the next; an
encoder that keeps failing on files another encoder could encode is dropped for the rest of
the run. When every encoder fails the *source* is the problem: the caller keeps the original.

:func:`needs_transcode` decides, from :func:`tgx.ffmpeg.probe_media` metadata, which files
``--transcode incompatible`` converts. :class:`EncodePool` runs encodes on a bounded thread pool
so the media stage keeps downloading meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tgx import console
from tgx.console import Warn
from tgx.errors import DependencyError, EncodeError, Interrupted, UsageError
from tgx.host import registry
from tgx.specs import Availability, EncodeJob, Encoder, EncoderSpec

if TYPE_CHECKING:
    import pluggy

    from tgx.config import Config
    from tgx.ffmpeg import MediaInfo

log = logging.getLogger(__name__)

DEFAULT_MAX_FAILURES = 3
MAX_LONG_SIDE = 1920

TRANSCODE_MODES = ("never", "incompatible", "always")



# ---------------------------------------------------------------------------------------------
# What needs transcoding


def parse_transcode_mode(value: str | None) -> str:
    """Validate ``--transcode``; None means the default, ``never``."""
    mode = (value or "never").strip().lower()
    if mode not in TRANSCODE_MODES:
        raise UsageError(f"--transcode must be one of {', '.join(TRANSCODE_MODES)}, not {value!r}")
    return mode


def incompatibility(info: MediaInfo, max_long_side: int = MAX_LONG_SIDE) -> str | None:
    """Why a video does not play inline everywhere (Telegram clients, browsers), or None if it does.

    Compatible: MP4/MOV container, H.264 video, AAC or no audio, 8-bit ``yuv420p``, long side
    at most ``max_long_side``.
    """
    if not info.is_mp4_family:
        return f"container {info.container.split(',')[0]}"
    if info.video_codec != "h264":
        return f"video codec {info.video_codec}"
    if info.audio_codec not in (None, "aac"):
        return f"audio codec {info.audio_codec}"
    if info.pix_fmt not in ("yuv420p", "yuvj420p") or (info.bit_depth or 8) != 8:
        return f"pixel format {info.pix_fmt}"
    if info.long_side > max_long_side:
        return f"size {info.width}x{info.height}"
    return None


def needs_transcode(info: MediaInfo, mode: str, max_long_side: int = MAX_LONG_SIDE) -> bool:
    """Whether ``--transcode MODE`` converts this file. Files without video never are."""
    if mode == "never" or not info.has_video:
        return False
    if mode == "always":
        return True
    if mode == "incompatible":
        return incompatibility(info, max_long_side) is not None
    raise UsageError(f"unknown transcode mode {mode!r}")


# ---------------------------------------------------------------------------------------------
# The chain


@dataclass(slots=True)
class EncoderStats:
    attempts: int = 0  # encode() calls
    successes: int = 0
    failures: int = 0  # EncodeError raised, whatever the cause
    blamed: int = 0  # failures on files that a later encoder then encoded (counts toward disabling)
    fallbacks: int = 0  # files handed to the next encoder after this one failed
    disabled: bool = False

    def as_dict(self) -> dict[str, int]:
        return {"attempts": self.attempts, "successes": self.successes, "failures": self.failures,
                "fallbacks": self.fallbacks, "disabled": int(self.disabled)}


@dataclass(frozen=True, slots=True)
class EncoderStatus:
    """One row of ``tgx encoders``."""

    name: str
    plugin: str | None
    priority: int
    available: bool
    reason: str
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "plugin": self.plugin, "priority": self.priority,
                "available": self.available, "reason": self.reason or None,
                "description": self.description}


@dataclass(slots=True)
class _Entry:
    spec: EncoderSpec
    plugin: str | None
    encoder: Encoder | None
    build_error: str | None
    availability: Availability | None = None




class EncoderChain:
    """The registered encoders, best first, with fallback and failure counting.

    :param specs: :class:`EncoderSpec` objects, or :class:`tgx.host.registry.Registered` ones (which
        also name their plugin), in any order — the chain sorts by ``priority`` (descending;
        ties keep the given order).
    :param pinned: ``--encoder NAME``: use only this one (no fallback); unknown or unavailable
        is a :class:`DependencyError` from :meth:`select`.
    :param max_failures: an encoder that failed on this many files which the next encoder then
        managed is not tried again in this run.

    Thread-safe: :meth:`encode` may run on several pool threads at once.
    """

    def __init__(
        self,
        specs: Iterable[EncoderSpec | Any],
        config: Config,
        pinned: str | None = None,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        warn: Warn | None = None,
    ) -> None:
        self.config = config
        self.pinned = pinned or None
        self.max_failures = max_failures
        self._warn = warn or console.warn
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        entries: list[_Entry] = []
        for item in specs:
            spec, plugin = (item.spec, item.plugin) if isinstance(item, registry.Registered) else (item, None)
            try:
                encoder, error = spec.factory(config), None
            except Exception as exc:  # a plugin bug must not end the export; it makes the encoder unusable
                encoder, error = None, f"plugin failed to create it: {type(exc).__name__}: {exc}"
            entries.append(_Entry(spec, plugin, encoder, error))
        entries.sort(key=lambda e: -e.spec.priority)
        self._entries = entries
        self._by_name = {e.spec.name: e for e in entries}
        self._stats = {e.spec.name: EncoderStats() for e in entries}
        self.source_failures = 0  # files every encoder failed on: the caller kept the original

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager, config: Config, pinned: str | None = None,
                     **kwargs: Any) -> EncoderChain:
        """The chain of every encoder the plugins in ``pm`` register."""
        from tgx.host import registry

        return cls(registry.encoders(pm, config), config, pinned, **kwargs)

    # -- availability

    @property
    def names(self) -> list[str]:
        return [e.spec.name for e in self._entries]

    def _availability(self, entry: _Entry) -> Availability:
        if entry.availability is None:
            with self._probe_lock:
                if entry.availability is None:
                    entry.availability = self._probe(entry)
        return entry.availability

    @staticmethod
    def _probe(entry: _Entry) -> Availability:
        if entry.encoder is None:
            return Availability(False, entry.build_error or "could not be created")
        try:
            result = entry.encoder.probe()
        except Exception as exc:  # TgxError (e.g. a broken TGX_FFMPEG) or a plugin bug
            return Availability(False, str(exc) or type(exc).__name__)
        if not isinstance(result, Availability):
            return Availability(False, f"probe() returned {type(result).__name__}, not Availability")
        return result

    def statuses(self) -> list[EncoderStatus]:
        """Every encoder, best first, probed (for ``tgx encoders``)."""
        out = []
        for entry in self._entries:
            avail = self._availability(entry)
            out.append(EncoderStatus(entry.spec.name, entry.plugin, entry.spec.priority, avail.available,
                                     "" if avail.available else avail.reason, entry.spec.description))
        return out

    def _unavailable_summary(self) -> str:
        reasons = [(e.spec.name, self._availability(e).reason) for e in self._entries]
        distinct = {r for _, r in reasons}
        if len(distinct) == 1:
            return distinct.pop()
        return "; ".join(f"{name}: {reason}" for name, reason in reasons)

    def select(self) -> Encoder:
        """The encoder a new file goes to first. Raises :class:`DependencyError` saying why none."""
        if self.pinned is not None:
            entry = self._by_name.get(self.pinned)
            if entry is None:
                known = ", ".join(self.names) or "none registered"
                raise DependencyError(f"unknown encoder '{self.pinned}' (known: {known})",
                                      hint="`tgx encoders` lists them")
            avail = self._availability(entry)
            if not avail.available:
                raise DependencyError(f"encoder '{self.pinned}' is unavailable: {avail.reason}",
                                      hint="`tgx encoders` shows every encoder and why")
            assert entry.encoder is not None
            return entry.encoder
        if not self._entries:
            raise DependencyError("no video encoder is registered (plugins cpu and vaapi are disabled?)",
                                  hint="`tgx plugins` shows which plugins are enabled")
        for entry in self._entries:
            if self._availability(entry).available and not self._stats[entry.spec.name].disabled:
                assert entry.encoder is not None
                return entry.encoder
        if any(self._availability(e).available for e in self._entries):
            raise DependencyError("every video encoder was disabled after repeated failures")
        raise DependencyError(f"no video encoder is available: {self._unavailable_summary()}",
                              hint="`tgx encoders` shows every encoder and why")

    def _candidates(self) -> list[_Entry]:
        if self.pinned is not None:
            self.select()  # raises when unknown or unavailable
            return [self._by_name[self.pinned]]
        with self._lock:
            usable = [e for e in self._entries if not self._stats[e.spec.name].disabled]
        return [e for e in usable if self._availability(e).available]

    # -- encoding

    def encode(self, job: EncodeJob) -> str:
        """Encode one file; returns the name of the encoder that did it.

        Raises :class:`EncodeError` when every encoder failed (the source is likely broken; the
        original is untouched) and :class:`DependencyError` when no encoder is usable at all.
        """
        candidates = self._candidates()
        if not candidates:
            self.select()  # raises the explanation
        errors: list[tuple[str, str]] = []
        for index, entry in enumerate(candidates):
            name = entry.spec.name
            assert entry.encoder is not None
            with self._lock:
                if self._stats[name].disabled and self.pinned is None:
                    continue
                self._stats[name].attempts += 1
            try:
                entry.encoder.encode(job)
            except Interrupted:
                raise
            except Exception as exc:  # EncodeError, or a plugin bug: either way, this file goes on
                text = str(exc) or type(exc).__name__
                if not isinstance(exc, EncodeError):
                    text = f"{type(exc).__name__}: {text}"
                errors.append((name, text))
                with self._lock:
                    self._stats[name].failures += 1
                    if index + 1 < len(candidates):
                        self._stats[name].fallbacks += 1
                log.info("encoder %s failed on %s: %s", name, job.source.name, exc)
                continue
            with self._lock:
                self._stats[name].successes += 1
                # Those that failed before this one are to blame: the source was fine.
                for failed, _ in errors:
                    self._blame(failed)
            if errors:
                self._warn(f"{job.source.name}: encoder {errors[-1][0]} failed ({errors[-1][1]}); "
                           f"encoded with {name} instead")
            return name
        with self._lock:
            self.source_failures += 1
        detail = "; ".join(f"{n}: {m}" for n, m in errors)
        raise EncodeError(f"{job.source.name}: could not transcode ({detail}); kept the original")

    def _blame(self, name: str) -> None:
        """Count a failure against ``name`` (lock held); disable it at ``max_failures``."""
        stats = self._stats[name]
        stats.blamed += 1
        if stats.blamed >= self.max_failures and not stats.disabled:
            stats.disabled = True
            self._warn(f"encoder {name} failed {stats.blamed} times; not using it for the rest of this run")

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: ``{"encoders": {name: {...}}, "source_failures": n}``."""
        with self._lock:
            return {"encoders": {name: s.as_dict() for name, s in self._stats.items()},
                    "source_failures": self.source_failures}


# ---------------------------------------------------------------------------------------------
# The pool


def default_workers() -> int:
    """Half the CPUs this process may use (encoders are multi-threaded themselves), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


class EncodePool:
    """A bounded thread pool for encodes, so downloads go on while videos are converted.

    ``submit`` returns a :class:`concurrent.futures.Future` whose result is the encoder's name
    (async callers: ``await asyncio.wrap_future(fut)``). ``pending`` is how many are queued or
    running, for the caller's back-pressure. ``shutdown(cancel=True)`` drops queued jobs and
    kills running ffmpeg children (worker threads never receive KeyboardInterrupt).
    """

    def __init__(self, chain: EncoderChain, workers: int | None = None) -> None:
        self.chain = chain
        self.workers = workers or default_workers()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tgx-encode")
        self._futures: set[Future[str]] = set()
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._futures)

    def submit(self, job: EncodeJob) -> Future[str]:
        future = self._executor.submit(self.chain.encode, job)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[str]) -> None:
        with self._lock:
            self._futures.discard(future)

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            from tgx import ffmpeg

            self._executor.shutdown(wait=False, cancel_futures=True)
            # A job may be between dequeue and spawning its ffmpeg: kill until all have ended.
            while True:
                with self._lock:
                    running = list(self._futures)
                if not running:
                    break
                ffmpeg.cancel_all()
                wait(running, timeout=0.2)
        self._executor.shutdown(wait=True)

    def __enter__(self) -> EncodePool:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.shutdown(cancel=exc_type is not None)


def encoder_stats_for_metrics(chain: EncoderChain) -> Mapping[str, int]:
    """Flat counters (``encoder_vaapi_fallbacks`` ...) for sinks that want scalar names."""
    flat: dict[str, int] = {"encode_source_failures": chain.source_failures}
    for name, counters in chain.stats()["encoders"].items():
        for key, value in counters.items():
            flat[f"encoder_{name}_{key}"] = value
    return flat


__all__ = [
    "DEFAULT_MAX_FAILURES", "MAX_LONG_SIDE", "TRANSCODE_MODES", "EncodePool", "EncoderChain",
    "EncoderStats", "EncoderStatus", "default_workers", "encoder_stats_for_metrics", "incompatibility",
    "needs_transcode", "parse_transcode_mode",
]
