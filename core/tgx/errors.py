"""Errors that end a command with one clear line and a meaningful exit code.

Anything raised as a :class:`TgxError` is printed by the CLI as ``tgx: error: <message>``
(plus an optional ``hint``) and never as a traceback. The exit codes are a contract that
scripts rely on; they are listed in docs/user-guide.md.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    FAILURE = 1  # an export ran but something in it failed (see the summary)
    USAGE = 2  # bad flag, malformed argument (typer/click use 2 as well)
    CONFIG = 3  # unreadable or invalid config, unknown plugin name
    NOT_FOUND = 4  # unknown chat, chat not accessible
    AUTH = 5  # missing credentials, not logged in, revoked session
    NETWORK = 6  # flood wait above the limit, connection lost: resumable
    OUTPUT = 7  # output directory not writable, belongs to another chat, corrupt archive, disk full
    DEPENDENCY = 8  # missing ffmpeg, encoder unavailable
    BUSY = 9  # another tgx process is writing the same output folder: retry later or --wait-lock
    INTERRUPTED = 130  # Ctrl-C / SIGTERM: state committed, resumable


class TgxError(Exception):
    """Base class: ``message`` is the one line shown to the user; ``hint`` says what to do."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(TgxError):
    exit_code = ExitCode.USAGE


class ConfigError(TgxError):
    exit_code = ExitCode.CONFIG


class PluginError(ConfigError):
    """A plugin is unknown, broken, or registered something invalid."""


class ChatNotFound(TgxError):
    exit_code = ExitCode.NOT_FOUND


class AuthError(TgxError):
    exit_code = ExitCode.AUTH


class NetworkError(TgxError):
    exit_code = ExitCode.NETWORK


class OutputError(TgxError):
    exit_code = ExitCode.OUTPUT


class DependencyError(TgxError):
    exit_code = ExitCode.DEPENDENCY


class EncodeError(TgxError):
    """An encoder failed on one file; the caller falls back to the next encoder."""


class Interrupted(TgxError):
    exit_code = ExitCode.INTERRUPTED


def first_line(exc: BaseException) -> str:
    """An exception's message as one line (its first), or its type's name when it has none:
    what a one-line error says of a failure from outside tgx (a parser of untrusted input)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
