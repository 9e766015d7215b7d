"""What the stages of one export share, in one typed object instead of long parameter lists.

The conductor (:mod:`tgx.export.conductor`) builds a :class:`RunContext` once per run and hands
it to each stage: the fetcher (:class:`tgx.fetch.history.HistoryFetcher`), the edit re-sync
(:func:`tgx.fetch.resync.refresh_recent`) and the media stage (:func:`tgx.media.run_media_stage`).
A stage takes what it needs from it — the request runner to talk to Telegram, the archive to
write to, the metrics to record into — and nothing else reaches it sideways.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tgx import console

if TYPE_CHECKING:
    import pluggy

    from tgx.archive.store import Archive
    from tgx.config import Config
    from tgx.metrics.collector import Metrics
    from tgx.metrics.progress import ExportProgress
    from tgx.telegram.runner import RequestRunner


@dataclass
class RunContext:
    """One export run (see the module doc).

    ``client`` is the connected Telethon client (``TelegramClient``, or the simulated one):
    Telethon ships no type information, so it stays ``Any``.
    """

    runner: RequestRunner  # every request goes through it: flood waits, pacing, reconnects
    archive: Archive  # OUT/.tgx/archive.sqlite, locked for this run (tgx.archive.lock)
    config: Config
    pm: pluggy.PluginManager
    client: Any
    out: Path
    metrics: Metrics
    progress: ExportProgress
    warn: console.Warn = console.warn

    @classmethod
    def for_stage(cls, runner: RequestRunner, archive: Archive, *, config: Config | None = None,
                  pm: pluggy.PluginManager | None = None, metrics: Metrics | None = None,
                  progress: ExportProgress | None = None) -> RunContext:
        """A context for driving one stage on its own (tests, benchmarks): by default an empty
        config with the built-in plugins, metrics that go nowhere and a silent progress."""
        from tgx.config import Config as _Config
        from tgx.host.manager import get_plugin_manager
        from tgx.metrics.collector import Metrics as _Metrics
        from tgx.metrics.progress import ExportProgress as _Progress

        config = config if config is not None else _Config()
        return cls(runner=runner, archive=archive, config=config,
                   pm=pm if pm is not None else get_plugin_manager(config, load_entrypoints=False),
                   client=runner.client, out=archive.path.parent.parent,
                   metrics=metrics if metrics is not None else _Metrics(interval=0, resources=False),
                   progress=progress if progress is not None else _Progress(quiet=True))


__all__ = ["RunContext"]
