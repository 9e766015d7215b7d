"""The media stage of ``tgx export``: parallel part downloads, dedupe by media id, safe names,
resume of interrupted downloads, and re-encoding of videos beside the downloads.

Public API: :class:`MediaOptions` (what to download), :func:`run_media_stage` (the stage, called
by the export pipeline), :class:`MediaResult` (what it did), and :func:`attach_paths` (fills
``Message.media.path`` from the media index while rendering).
"""

from __future__ import annotations

from tgx.media.index import attach_paths, file_paths
from tgx.media.names import safe_name
from tgx.media.options import MediaOptions, parse_kinds, parse_size
from tgx.media.stage import MediaResult, run_media_stage

__all__ = ["MediaOptions", "MediaResult", "attach_paths", "file_paths", "parse_kinds", "parse_size",
           "run_media_stage", "safe_name"]
