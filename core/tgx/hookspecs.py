"""Every hook tgx calls: the reference for plugin authors (docs/plugins.md explains each).

Hooks are synchronous and cheap; call them with keywords. ``tgx_register_*`` hooks return a
spec (or a list of specs) from :mod:`tgx.specs`; the core validates them and builds the
objects that do the work. The calling rule of each hook is stated in its docstring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from tgx.config import Config
    from tgx.specs import EncoderSpec, FormatSpec, MetricsSinkSpec, PeerResolverSpec

PROJECT = "tgx"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec(firstresult=True)
def tgx_telegram_client(config: Config) -> Any:
    """Return a *not yet connected* Telethon ``TelegramClient`` for this run, or None.

    :param config: the resolved :class:`tgx.config.Config` (credentials, session path, plugin tables).
    :return: a ``telethon.TelegramClient`` (or subclass), or None to let another plugin answer.

    Calling rule: firstresult — stops at the first non-None result. The built-in ``telegram``
    plugin (real Telegram) is ``trylast``, so any other plugin that answers wins over it; the
    built-in ``simulated`` plugin answers only when ``[simulated]`` is configured (or
    ``TGX_SIMULATED`` is set) — an explicit choice, so then it alone is asked, and ``tgx demo``
    always asks it. Errors raised here end the command (exit 5 for auth problems).
    """


@hookspec
def tgx_register_peer_resolvers(config: Config) -> PeerResolverSpec | list[PeerResolverSpec] | None:
    """Register peer resolvers: objects that turn a CHAT argument into a peer without a request.

    :param config: the resolved configuration.
    :return: a :class:`tgx.specs.PeerResolverSpec`, a list of them, or None.

    Calling rule: every implementation is called; resolvers are asked in descending
    ``priority``, the first non-None answer wins, and Telegram itself is asked last. Every
    resolution (from a resolver or the network) is broadcast to all resolvers' ``learn()``.
    A resolver that raises is disabled for the run with a warning; resolution goes on.
    Disabling every resolver must change nothing but the number of requests.
    """


@hookspec
def tgx_register_encoders(config: Config) -> EncoderSpec | list[EncoderSpec] | None:
    """Register video encoders for ``--transcode``.

    :param config: the resolved configuration.
    :return: an :class:`tgx.specs.EncoderSpec`, a list of them, or None.

    Calling rule: every implementation is called. The core uses the highest-``priority``
    encoder whose ``probe()`` says available (``--encoder NAME`` pins one); when ``encode()``
    raises ``EncodeError`` the file falls back to the next encoder, and an encoder that fails
    repeatedly is not tried again in that run. Duplicate names are an error naming both plugins.
    """


@hookspec
def tgx_register_formats() -> FormatSpec | list[FormatSpec] | None:
    """Register output formats (``--format NAME``).

    :return: a :class:`tgx.specs.FormatSpec`, a list of them, or None.

    Calling rule: every implementation is called. A name registered twice is reported as a
    one-line warning naming both plugins; the first registration wins and the rest still work.
    A writer that raises during rendering fails that format (exit 1, the others are finished
    and the archive is untouched); a rerun or ``tgx render`` renders it again.
    """


@hookspec
def tgx_register_metrics_sinks(config: Config) -> MetricsSinkSpec | list[MetricsSinkSpec] | None:
    """Register metrics sinks: receivers of periodic snapshots and of the final report.

    :param config: the resolved configuration.
    :return: a :class:`tgx.specs.MetricsSinkSpec`, a list of them, or None.

    Calling rule: every implementation is called; every enabled sink receives the same
    events. A sink that raises is disabled with one warning; the export never fails because
    of a sink.
    """


@hookspec
def tgx_register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``tgx`` CLI.

    :param app: the root ``typer.Typer``; call ``app.command()`` or ``app.add_typer()`` on it.
    :return: nothing.

    Calling rule: every implementation is called once while the CLI is built (before argv
    is parsed). A plugin that raises here is reported and skipped; the other commands work.
    """
