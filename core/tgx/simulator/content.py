"""Deterministic content: hashing, texts with entities, and file bytes.

Everything here is a pure function of its arguments, so a message or a file part can be rebuilt
at any time instead of being stored: that is what keeps the simulated server O(1) in history size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from telethon.tl import types

M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """splitmix64's finalizer: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def hash_of(*parts: int) -> int:
    """Combine integers into one 64-bit hash (order matters)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = mix64(h ^ (part & M64))
    return h


def signed64(x: int) -> int:
    """A 64-bit hash as the signed ``long`` TL expects (never 0, which means "no hash")."""
    x &= M64
    if x >= 1 << 63:
        x -= 1 << 64
    return x or 1


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: Telegram's unit for entity offsets."""
    return len(text.encode("utf-16-le")) // 2


CUSTOM_EMOJI_ALTS = ("🔥", "💬", "📌", "🎉", "🛠", "📚")


def custom_emoji_alt(document_id: int) -> str:
    """The emoji a simulated custom emoji document stands for (its ``alt``): any id is one."""
    return CUSTOM_EMOJI_ALTS[document_id % len(CUSTOM_EMOJI_ALTS)]


# ---------------------------------------------------------------------------------------------
# Texts


PLAIN_TEXTS: tuple[str, ...] = (
    "Good morning! Here is today's update.",
    "Привет! Это сообщение на русском языке.",
    "今日はいい天気ですね。中文也可以：你好，世界。",
    "مرحبا بالعالم — نص من اليمين إلى اليسار",
    "Emoji party 🎉🥳👨‍👩‍👧‍👦 🇺🇦🇯🇵 ❤️‍🔥 and a 🦊",
    "Markdown-looking *stars* _underscores_ [brackets](parens) `ticks` ~tilde~ | pipes |",
    "HTML-looking <b>bold</b> &amp; <i>tags</i> \"quotes\" 'apostrophes'",
    "Line one\nLine two\n\nLine four after a blank line",
    "  leading and trailing spaces  ",
    "Combining marks: e\u0301 a\u0308 n\u0303 — zero width\u200bspace and\u00a0nbsp",
    "Math: ∑ x² ≤ ∞, arrows ← → ↔, currency €£¥₴",
    "Short.",
    ("A longer post. " * 12).strip(),
    "Tabs\tand\tcommas, \"quoted, text\", ; semicolons; and a backslash \\ path\\to\\file",
    "Numbers 0123456789 and ids #1234 @notamention",
    "Windows line endings\r\nare here\r\ntoo",
)

CAPTIONS: tuple[str, ...] = (
    "",
    "A caption with emoji 📸",
    "Подпись к файлу",
    "caption with a link https://example.org/path?q=1&r=2",
)

HOSTILE_TEXTS: tuple[str, ...] = (
    "<script>alert(1)</script> and <img src=x onerror=alert(2)>",
    "--> ]]> {{7*7}} ${7*7} <!-- \u202eevil.exe \x00nul",
)

NUMBER_SENTINEL = "QZXQZXQ"  # patched with the message id (7 digits) in numbered texts
NUMBER_WIDTH = len(NUMBER_SENTINEL)

POLL_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Which format do you export to?", ("JSONL", "HTML", "Markdown", "SQLite")),
    ("Лучший день недели?", ("Пятница", "Суббота")),
    ("Pick an emoji 🤔", ("🐍", "🦀", "🐹")),
)

REACTION_EMOJI: tuple[str, ...] = ("👍", "❤", "🔥", "🎉")

FILE_NAMES: tuple[str, ...] = (
    "report.pdf",
    "archive.tar.gz",
    "ünïcödé файл 📄.txt",
    "../../etc/passwd",
    "con.txt",
    "a/b\\c:d*e?.bin",
    "",
    "very long name " + "x" * 200 + ".dat",
)

MIME_BY_NAME = {
    ".pdf": "application/pdf",
    ".gz": "application/gzip",
    ".txt": "text/plain",
    ".bin": "application/octet-stream",
    ".dat": "application/octet-stream",
}


def mime_for_name(name: str) -> str:
    for ext, mime in MIME_BY_NAME.items():
        if name.endswith(ext):
            return mime
    return "application/octet-stream"


@dataclass(slots=True)
class RichText:
    """Builds a text and its entities together, counting offsets in UTF-16 units."""

    text: str = ""
    entities: list[Any] = field(default_factory=list)

    def add(self, chunk: str, *entity_makers: Any) -> RichText:
        offset = utf16_len(self.text)
        length = utf16_len(chunk)
        self.text += chunk
        for make in entity_makers:
            self.entities.append(make(offset, length))
        return self


def rich_texts(user_id: int, custom_emoji_id: int) -> tuple[RichText, ...]:
    """Texts that carry every entity kind, with non-BMP characters before them."""
    t = types
    full = (
        RichText()
        .add("🔥 ")
        .add("bold", lambda o, n: t.MessageEntityBold(o, n)).add(" ")
        .add("italic", lambda o, n: t.MessageEntityItalic(o, n)).add(" ")
        .add("underline", lambda o, n: t.MessageEntityUnderline(o, n)).add(" ")
        .add("strike", lambda o, n: t.MessageEntityStrike(o, n)).add(" 🎉 ")
        .add("spoiler", lambda o, n: t.MessageEntitySpoiler(o, n)).add("\n")
        .add("a quoted line", lambda o, n: t.MessageEntityBlockquote(o, n)).add("\n")
        .add("inline_code()", lambda o, n: t.MessageEntityCode(o, n)).add("\n")
        .add("print('hi')\n", lambda o, n: t.MessageEntityPre(o, n, "python")).add("👉 ")
        .add("a link", lambda o, n: t.MessageEntityTextUrl(o, n, "https://example.org/a?b=c&d=<e>"))
        .add(" ")
        .add("Alice", lambda o, n: t.MessageEntityMentionName(o, n, user_id)).add(" ")
        .add("😀", lambda o, n: t.MessageEntityCustomEmoji(o, n, custom_emoji_id)).add(" ")
        .add("@alice", lambda o, n: t.MessageEntityMention(o, n)).add(" ")
        .add("#hashtag", lambda o, n: t.MessageEntityHashtag(o, n)).add(" ")
        .add("$TGX", lambda o, n: t.MessageEntityCashtag(o, n)).add(" ")
        .add("/start", lambda o, n: t.MessageEntityBotCommand(o, n)).add(" ")
        .add("https://example.org", lambda o, n: t.MessageEntityUrl(o, n)).add(" ")
        .add("someone@example.org", lambda o, n: t.MessageEntityEmail(o, n)).add(" ")
        .add("+1 555 0100", lambda o, n: t.MessageEntityPhone(o, n)).add(" ")
        .add("4111 1111 1111 1111", lambda o, n: t.MessageEntityBankCard(o, n))
    )
    nested = RichText().add("𝕋𝕖𝕩𝕥 ")
    start = utf16_len(nested.text)
    nested.add("bold ").add("bold-italic", lambda o, n: t.MessageEntityItalic(o, n)).add(" end")
    nested.entities.insert(0, t.MessageEntityBold(start, utf16_len(nested.text) - start))
    nested.add("\n")
    quote_at = utf16_len(nested.text)
    nested.add("quote with code inside\nand a second line",
               lambda o, n: t.MessageEntityBlockquote(o, n, collapsed=True))
    nested.entities.append(t.MessageEntityCode(quote_at + len("quote with "), len("code")))
    cyrillic = (
        RichText()
        .add("Жирный", lambda o, n: t.MessageEntityBold(o, n)).add(" и ")
        .add("ссылка", lambda o, n: t.MessageEntityTextUrl(o, n, "https://example.org/путь")).add(" ")
        .add("#тег", lambda o, n: t.MessageEntityHashtag(o, n))
    )
    return (full, nested, cyrillic)


def hostile_link_text() -> RichText:
    """A ``javascript:`` text_link: exporters must never emit it as a live link."""
    return (
        RichText().add("click ")
        .add("here", lambda o, n: types.MessageEntityTextUrl(o, n, "javascript:alert(document.cookie)"))
        .add(" <b>not bold</b>")
    )


# ---------------------------------------------------------------------------------------------
# File bytes

_BLOCK = 4096
_BASE_SIZE = 1 << 20
_BASE: bytes | None = None

MAGIC: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",
    "audio/ogg": b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "application/pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    "audio/mpeg": b"ID3\x03\x00\x00\x00\x00\x00\x00",
    "application/gzip": b"\x1f\x8b\x08\x00",
    "video/webm": b"\x1aE\xdf\xa3",
}


def _base() -> bytes:
    global _BASE
    if _BASE is None:
        _BASE = random.Random(0x7467785F73696D).randbytes(_BASE_SIZE + _BLOCK)
    return _BASE


def file_bytes(key: int, size: int, offset: int, limit: int, mime: str = "") -> bytes:
    """Bytes ``[offset, offset+limit)`` of the file ``key`` of ``size`` bytes.

    Each 4 KiB block is a window into a fixed 1 MiB random buffer, chosen by hashing
    (key, block index): a pure function of (file, offset), served in O(1) memory, and a
    block delivered at the wrong offset shows up as wrong bytes. The file starts with the
    magic bytes of its MIME type, so sniffers see a plausible type.
    """
    end = min(size, offset + limit)
    if offset >= end:
        return b""
    base = _base()
    first = offset // _BLOCK
    last = (end - 1) // _BLOCK
    parts = []
    for block in range(first, last + 1):
        start = (mix64(key ^ (block * 0x9E3779B1)) % (_BASE_SIZE // 64)) * 64
        parts.append(base[start:start + _BLOCK])
    data = b"".join(parts)
    lo = offset - first * _BLOCK
    data = data[lo:lo + (end - offset)]
    magic = MAGIC.get(mime, b"")
    if offset < len(magic):
        head = magic[offset:min(len(magic), end)]
        data = head + data[len(head):]
    return data
