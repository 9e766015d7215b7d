"""Hostile input for rendering and security tests: texts, names, links, file names and paths.

Everything here is *data* an exporter may receive from Telegram (or find in a tampered
archive). A renderer passes when it shows each item as inert text and never turns one into
markup, script, a dangerous href, or a path outside the chat folder. The ``PWNED`` markers are
what a browser test looks for: if any of these ran, ``document.title`` or ``window.__pwned``
would change.
"""

from __future__ import annotations

# Message texts / captions: markup, script, template syntax, odd unicode and control characters.
TEXTS: tuple[str, ...] = (
    "<script>document.title='PWNED';window.__pwned=1</script>",
    '<img src=x onerror="document.title=\'PWNED\';window.__pwned=2">',
    '"><svg onload="window.__pwned=3">',
    "</div></main></body><script>window.__pwned=4</script>",
    "<iframe src=\"javascript:window.top.__pwned=5\"></iframe>",
    "<style>body{display:none}</style>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__pwned=6\">",
    "<base href=\"https://evil.example/\">",
    "<a href=\"javascript:window.__pwned=7\">click</a>",
    "{{ 7*7 }} {% for x in range(3) %}{{x}}{% endfor %} ${7*7} #{7*7}",
    "&lt;b&gt;not bold&lt;/b&gt; &amp; &#x3C;script&#x3E; &#60;",
    "<!-- comment --> ]]> <![CDATA[ x ]]>",
    "line one\nline two\r\nline three\rline four",
    "tab\tand\vvertical\ftab",
    "nul\x00byte and bell\x07 and escape\x1b[31m",
    "\u202eright-to-left override\u202c and \u200bzero\u200dwidth\ufeff",
    "astral: \U0001F600 \U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001D54F \U00010348",
    "combining: e\u0301 a\u0308 \u0915\u094d\u0937",
    "lone surrogates: \ud800 and \udfff end",
    "javascript:window.__pwned=8",
    "'single' \"double\" `back`",
    "x" * 5000,
)

# Display names of users and chats (sender names, chat titles, forwarded-from names).
NAMES: tuple[str, ...] = (
    "<script>window.__pwned=10</script>",
    "\"'><img src=x onerror=window.__pwned=11>",
    "",
    " ",
    "\u202eevil\u202c",
    "\U0001F600\U0001F600",
    "Robert'); DROP TABLE messages;--",
    "a\nb",
    "N" * 300,
)

# text_link targets a renderer must never turn into a live link.
UNSAFE_LINKS: tuple[str, ...] = (
    "javascript:window.__pwned=20",
    "JaVaScRiPt:window.__pwned=21",
    " javascript:window.__pwned=22",
    "\tjavascript:window.__pwned=23",
    "java\tscript:window.__pwned=24",
    "java\nscript:window.__pwned=25",
    "java\rscript:window.__pwned=26",
    "\x00javascript:window.__pwned=27",
    "\x01javascript:window.__pwned=28",
    "javascript\x00:window.__pwned=29",
    "\u3000javascript:window.__pwned=30",
    "data:text/html,<script>window.__pwned=31</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/path",
    "\\\\evil.example\\share",
    "/\\evil.example",
    "blob:https://evil.example/uuid",
    "about:blank",
    "chrome://settings",
    "view-source:https://example.com",
    "jar:https://evil.example!/",
)

# Links a renderer should keep (scheme kept, attribute quoting intact).
SAFE_LINKS: tuple[str, ...] = (
    "https://example.com/a?b=c&d=e#f",
    "http://example.org/",
    "HTTPS://EXAMPLE.COM/UPPER",
    'https://example.com/"onmouseover="window.__pwned=40',
    "https://example.com/<script>window.__pwned=41</script>",
    "mailto:someone@example.com",
    "tel:+15551234567",
    "tg://resolve?domain=telegram",
)

# File names as Telegram sends them (DocumentAttributeFilename): never a path.
FILE_NAMES: tuple[str, ...] = (
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32\\drivers\\etc\\hosts",
    "C:\\Windows\\evil.exe",
    "CON",
    "nul.txt",
    "a\x00b.txt",
    "file\nname.txt",
    "<script>window.__pwned=50</script>.txt",
    "name with spaces & ampersand #1 ?.pdf",
    "\u00fcn\u00efc\u00f6d\u00e9\U0001F600.txt",
    "\u202egpj.exe",
    ".hidden",
    "a" * 300 + ".bin",
    "javascript:window.__pwned=51.txt",
    "%2e%2e%2fpasswd",
    "dir/sub/file.txt",
    "",
)

# Media.path values a tampered archive could hold: a renderer must not link outside the chat.
MEDIA_PATHS_UNSAFE: tuple[str, ...] = (
    "../outside.jpg",
    "photos/../../outside.jpg",
    "/etc/passwd",
    "C:\\evil.jpg",
    "\\\\host\\share\\x.jpg",
    "photos\\..\\..\\x.jpg",
    "./../x.jpg",
    "photos//x.jpg",
    "javascript:window.__pwned=60",
    "photos/\x00.jpg",
    "",
)

# Unusual but legitimate relative paths: kept, URL-quoted.
MEDIA_PATHS_SAFE: tuple[str, ...] = (
    "photos/a b#c?d%.jpg",
    "files/\u00fcn\u00efc\u00f6d\u00e9 \U0001F600.txt",
    "files/javascript:x.txt",
    "files/'quote\".bin",
)

ALL_STRINGS: tuple[str, ...] = TEXTS + NAMES + UNSAFE_LINKS + SAFE_LINKS + FILE_NAMES + MEDIA_PATHS_UNSAFE
