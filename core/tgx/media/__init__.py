"""The media stage of ``tgx export``: parallel part downloads, dedupe by media id, safe names,
resume of interrupted downloads, and re-encoding of videos beside the downloads.

Public API: :class:`MediaOptions` (what to download), :func:`run_media_stage` (the stage, called
by the export pipeline), :class:`MediaResult` (what it did), and :func:`attach_paths` (fills
``Message.media.path`` from the media index while rendering).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tgx.media.index import attach_paths, file_paths
    from tgx.media.names import safe_name
    from tgx.media.options import MediaOptions, parse_kinds, parse_size
    from tgx.media.stage import MediaResult, run_media_stage

# Imported on first use: `tgx encoders` and `tgx --help` need media.encoders, not the download
# stage (which imports Telethon).
_FROM = {"attach_paths": "index", "file_paths": "index", "safe_name": "names", "MediaOptions": "options",
         "parse_kinds": "options", "parse_size": "options", "MediaResult": "stage", "run_media_stage": "stage"}


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module 'tgx.media' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tgx.media.{_FROM[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["MediaOptions", "MediaResult", "attach_paths", "file_paths", "parse_kinds", "parse_size",
           "run_media_stage", "safe_name"]
