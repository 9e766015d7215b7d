"""tgx: a plugin-based Telegram exporter.

The public API for plugins is this package — ``hookimpl`` to mark hook implementations, the
specs and model types — and the modules in :data:`PUBLIC_MODULES` (docs/plugins.md lists the
same, and tests hold both to the import contracts in pyproject.toml). Everything else under
``tgx`` (the engine: ``tgx.cli``, ``tgx.fetch``, ``tgx.archive``, ...) is internal and may change;
the one exception, :data:`PUBLIC_NAMES`, is what a plugin's own command needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

    hookimpl: pluggy.HookimplMarker

# Names re-exported from the public modules, imported on first use: `tgx --version` must not pay
# for pluggy and the model (see docs/performance.md, start-up).
_FROM = {
    "TgxError": "tgx.errors",
    **dict.fromkeys(("Action", "Entity", "Forward", "Media", "Message", "Peer", "Reaction"), "tgx.model"),
    **dict.fromkeys(("Availability", "EncodeJob", "EncoderSpec", "FormatSpec", "MetricsSinkSpec", "OptionSpec",
                     "PeerRef", "PeerResolverSpec", "ResolvedPeer"), "tgx.specs"),
}


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        import pluggy

        value: Any = pluggy.HookimplMarker("tgx")
    elif name in _FROM:
        value = getattr(importlib.import_module(_FROM[name]), name)
    else:
        raise AttributeError(f"module 'tgx' has no attribute {name!r}")
    globals()[name] = value
    return value


__version__ = "0.1.0"


PUBLIC_MODULES = (
    "tgx.hookspecs",  # the hook specifications (what plugins implement)
    "tgx.specs",  # the specs hooks return, and the protocols of the objects they build
    "tgx.model",  # Message, Peer, Media...: what formats write (docs/model.md)
    "tgx.errors",  # TgxError and its exit codes
    "tgx.config",  # Config: what hooks receive
    "tgx.text",  # entity offsets, safe links, names: for format writers
    "tgx.fsutil",  # atomic writes: for sinks and caches
    "tgx.console",  # one-line messages, redaction
    "tgx.ffmpeg",  # finding and running ffmpeg: for encoders
    "tgx.proxy",  # proxy URLs as TelegramClient arguments: for client plugins
    "tgx.testing",  # the simulated Telegram, the pytest fixtures, render_messages: for plugins' tests
)
PUBLIC_NAMES = ("tgx.cli.get_state",)  # for plugins' commands (tgx_register_commands)

__all__ = [
    "Action", "Availability", "EncodeJob", "EncoderSpec", "Entity", "FormatSpec", "Forward", "Media",
    "Message", "MetricsSinkSpec", "OptionSpec", "Peer", "PeerRef", "PeerResolverSpec", "Reaction",
    "PUBLIC_MODULES", "PUBLIC_NAMES", "ResolvedPeer", "TgxError", "__version__", "hookimpl",
]
