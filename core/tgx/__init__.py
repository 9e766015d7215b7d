"""tgx: a plugin-based Telegram exporter.

The public API for plugins is this package: ``hookimpl`` to mark hook implementations,
the specs in :mod:`tgx.specs`, the model in :mod:`tgx.model`, errors in :mod:`tgx.errors`.
"""

from __future__ import annotations

import pluggy

from tgx.errors import TgxError
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction
from tgx.specs import (
    Availability,
    EncodeJob,
    EncoderSpec,
    FormatSpec,
    MetricsSinkSpec,
    OptionSpec,
    PeerRef,
    PeerResolverSpec,
    ResolvedPeer,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("tgx")

__all__ = [
    "Action", "Availability", "EncodeJob", "EncoderSpec", "Entity", "FormatSpec", "Forward", "Media",
    "Message", "MetricsSinkSpec", "OptionSpec", "Peer", "PeerRef", "PeerResolverSpec", "Reaction",
    "ResolvedPeer", "TgxError", "__version__", "hookimpl",
]
