"""What may become an ``href``/``src``, and text made safe to embed.

Everything from Telegram is untrusted: link targets, file names, media paths in a (possibly
tampered) archive. Links keep only the ``http``, ``https``, ``mailto``, ``tel`` and ``tg``
schemes; a URL that contains whitespace or control characters anywhere (browsers silently
drop tabs and newlines, so ``java\\tscript:`` *is* ``javascript:``) is refused outright. Media
paths must stay inside the chat folder: relative, no ``..``, no drive letters, no backslashes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel", "tg"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_href(url: str | None) -> str | None:
    """``url`` if it may be a link target, ``http://`` + it when it has no scheme (Telegram
    detects bare ``example.com`` links), else None: the caller renders plain text."""
    if not url:
        return None
    url = url.strip()
    if not url or _CONTROL_OR_SPACE.search(url):
        return None
    match = _SCHEME.match(url)
    if match is not None:
        scheme = match.group(1)
        if scheme.lower() in SAFE_SCHEMES:
            return url
        if "." not in scheme:  # a real scheme we do not allow (javascript:, data:, file:, ...)
            return None
        # "example.com:8080/x": a host and port, not a scheme
    if url.startswith(("/", "\\")):  # protocol-relative or rooted: would leave the archive
        return None
    return "http://" + url


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
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")
