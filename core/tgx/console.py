"""Where tgx talks to people: messages on stderr, data on stdout, secrets never.

Messages (warnings, errors, progress notes) go to a rich console on **stderr**, so that
``--json`` output on **stdout** stays machine-readable. Every message passes through
:func:`redact` first: the API hash, bot tokens and phone numbers must never reach a terminal,
a log or a CI transcript, even when they are part of an exception text from a library.

The consoles are looked up on each call (not cached at import), so ``capsys`` and
``CliRunner`` see what is printed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console

PREFIX = "tgx"

# Values registered at runtime (the configured API hash, bot token, the phone being logged in).
_secrets: set[str] = set()

# Shapes of secrets that may show up in third-party messages even when not registered.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}\b"), "<bot-token>"),  # 123456:AAE...
    (re.compile(r"(?<![\w+])\+\d[\d \-().]{5,18}\d"), "<phone>"),  # +49 151 2345678
    (re.compile(r"\b[0-9a-f]{32}\b"), "<redacted>"),  # API hash (32 hex)
)


# C0/C1 control characters (NUL, ESC, ...) and the bidi overrides/isolates (U+202A-E, U+2066-9):
# from a chat title they would garble the terminal line or reorder what follows them.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
Warn = Callable[[str], None]
"""What stages call to tell the user something went wrong but the run goes on (default :func:`warn`)."""


def printable(text: str) -> str:
    """``text`` safe for a terminal: control and bidi-override characters become U+FFFD; tabs and
    newlines stay. Telegram text (titles, names) is untrusted and reaches the console this way."""
    return _UNPRINTABLE.sub("\ufffd", text)


def register_secret(value: object) -> None:
    """Remember a secret value so that :func:`redact` removes it wherever it appears."""
    if value is None:
        return
    text = str(value).strip()
    if len(text) >= 4:  # never register tiny values: they would blank out ordinary words
        _secrets.add(text)


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped token replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "<redacted>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def stderr() -> Console:
    # soft_wrap: a one-line message stays one line whatever the terminal width (tests grep it).
    return Console(stderr=True, soft_wrap=True, highlight=False, markup=False)


def stdout() -> Console:
    # Piped output (| less, > file, tests) is not cut to 80 columns; a terminal gets its width.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _emit(line: str) -> None:
    stderr().print(printable(redact(line)), markup=False, highlight=False)


def warn(message: str) -> None:
    """``tgx: warning: <message>`` on stderr."""
    _emit(f"{PREFIX}: warning: {message}")


def info(message: str) -> None:
    """A note for the user on stderr (``tgx: <message>``)."""
    _emit(f"{PREFIX}: {message}")


def error(message: str, hint: str | None = None) -> None:
    """``tgx: error: <message>`` and, when given, ``  hint: <hint>`` on stderr."""
    _emit(f"{PREFIX}: error: {message}")
    if hint:
        _emit(f"  hint: {hint}")


def _default(obj: Any) -> Any:
    return str(obj)  # Paths, datetimes orjson does not know, enums...


def dumps_json(obj: Any) -> str:
    return orjson.dumps(obj, default=_default, option=orjson.OPT_INDENT_2).decode()


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (one document, newline-terminated)."""
    sys.stdout.write(dumps_json(obj) + "\n")
    sys.stdout.flush()
