"""Built-in plugin ``telegram``: the real Telegram, through a Telethon ``TelegramClient``.

It answers ``tgx_telegram_client`` last (``trylast``), so any other plugin that provides a
client (the ``simulated`` one, ...) wins over it. It connects through ``config.proxy``
(``--proxy`` / ``TGX_PROXY`` / ``[telegram] proxy``, see :mod:`tgx.proxy`) when one is set.
The session file lives in ``<data dir>/sessions/<name>.session``: the directory is created
0700 and the file 0600, because a session file is as good as a logged-in phone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import tgx
from tgx.config import Config
from tgx.errors import AuthError, DependencyError
from tgx.proxy import parse_proxy

SESSION_SUFFIX = ".session"  # what Telethon's SQLiteSession appends


def session_file(config: Config) -> Path:
    return config.session_path.with_name(config.session_path.name + SESSION_SUFFIX)


def prepare_session_dir(config: Config) -> Path:
    """Create the sessions directory (0700) and the session file (0600) before Telethon opens it."""
    path = session_file(config)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        # Created empty with the right mode, so there is no moment where it is world-readable;
        # SQLite treats an empty file as an empty database.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    os.chmod(path, 0o600)
    return path


def secure_session_file(config: Config) -> None:
    """Re-assert 0600 on the session file (after a login wrote to it)."""
    with contextlib.suppress(FileNotFoundError):
        os.chmod(session_file(config), 0o600)


@tgx.hookimpl(trylast=True)
def tgx_telegram_client(config: Config) -> Any:
    if not config.api_id or not config.api_hash:
        pairs = (("TGX_API_ID", config.api_id), ("TGX_API_HASH", config.api_hash))
        missing = " and ".join(name for name, value in pairs if not value)
        raise AuthError(
            f"missing Telegram API credentials ({missing} not set)",
            hint="get an api_id and api_hash at https://my.telegram.org, then set TGX_API_ID and "
                 "TGX_API_HASH, or api_id/api_hash in the [telegram] table of tgx.toml",
        )
    from telethon import TelegramClient

    proxy = parse_proxy(config.proxy, source=config.proxy_source)
    if proxy is not None and proxy.scheme != "mtproxy":
        try:
            import python_socks  # noqa: F401  (without it Telethon warns and connects *directly*)
        except ImportError:
            raise DependencyError(f"the proxy {proxy.label()} needs python-socks",
                                  hint="pip install 'python-socks[asyncio]'") from None
    prepare_session_dir(config)
    client = TelegramClient(
        str(config.session_path),
        config.api_id,
        config.api_hash,
        flood_sleep_threshold=config.flood_sleep_threshold,
        **(proxy.client_kwargs() if proxy is not None else {}),
    )
    secure_session_file(config)
    return client


__all__ = ["prepare_session_dir", "secure_session_file", "session_file", "tgx_telegram_client"]
