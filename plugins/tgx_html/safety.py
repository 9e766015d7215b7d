"""What may become an ``href``/``src``, and text made safe to embed.

Everything from Telegram is untrusted: link targets, file names, media paths in a (possibly
tampered) archive. Link targets go through :func:`tgx.text.safe_href` with its default, strictest
rules (``SAFE_SCHEMES``: ``http``, ``https``, ``mailto``, ``tel``, ``tg``; whitespace or control
characters anywhere refuse the URL). Media paths must stay inside the chat folder: relative, no
``..``, no drive letters, no backslashes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from tgx.text import LINK_SCHEMES, scrub_surrogates

SAFE_SCHEMES = LINK_SCHEMES  # what an href may start with (the browser test checks every page for it)
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def mention_href(text: str) -> str | None:
    """``https://t.me/name`` for an ``@name`` mention with a plausible username."""
    name = text[1:] if text.startswith("@") else text
    return f"https://t.me/{name}" if _USERNAME.fullmatch(name) else None


def phone_href(text: str) -> str | None:
    digits = re.sub(r"[^0-9+*#]", "", text)
    return f"tel:{digits}" if any(c.isdigit() for c in digits) else None


def media_href(path: str | None) -> str | None:
    """A media file's relative URL (percent-quoted) if ``path`` stays inside the chat folder."""
    if not path or path.startswith("/") or "\\" in path or _PATH_CONTROL.search(path):
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts) or ":" in parts[0]:
        return None
    return quote(path, safe="/")


def clean_text(text: str) -> str:
    """Characters HTML cannot carry as written: NUL becomes U+FFFD, CR/CRLF become LF."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def encode_utf8(text: str) -> bytes:
    """UTF-8 bytes; lone surrogates (not encodable) become U+FFFD instead of failing the page."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return scrub_surrogates(text).encode("utf-8")
