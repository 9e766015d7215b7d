"""Built-in plugin ``peer_cache``: resolve CHAT arguments from memory instead of asking Telegram.

Settings (environment wins over the file): ``INPUT_PEER_CACHE_SIZE`` / ``[peer_cache] size``
(default 1000 keys; 0 turns caching off) and ``INPUT_PEER_CACHE_TTL`` / ``[peer_cache] ttl``
(default 3600 seconds). The cache persists in ``OUT/.tgx/peer_cache.json``, so a second run
within the TTL resolves its chats without a single request. Disabling the plugin
(``tgx -p no:peer_cache``) changes nothing but the number of requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tgx
from tgx.config import Config
from tgx.errors import ConfigError
from tgx.specs import PeerResolverSpec, ResolverContext

if TYPE_CHECKING:
    from .cache import PeerCache

FILE_NAME = "peer_cache.json"  # in OUT/.tgx/

NAME = "peer_cache"
PRIORITY = 100  # above any resolver that has to do work; the network is always last
DEFAULT_SIZE = 1000
DEFAULT_TTL = 3600.0
TABLE_KEYS = {"size", "ttl"}


def _number(raw: Any, where: str, kind: type) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a non-negative number, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{where} must be a non-negative number, not {raw!r}")
    return value


def settings(config: Config) -> tuple[int, float]:
    """``(size, ttl)`` from the environment, else ``[peer_cache]``, else the defaults."""
    table = config.table(NAME)
    unknown = sorted(set(table) - TABLE_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {NAME}.{unknown[0]} in {config.path}",
                          hint=f"known keys in [{NAME}]: {', '.join(sorted(TABLE_KEYS))}")
    size_raw = config.env.get("INPUT_PEER_CACHE_SIZE") or table.get("size", DEFAULT_SIZE)
    ttl_raw = config.env.get("INPUT_PEER_CACHE_TTL") or table.get("ttl", DEFAULT_TTL)
    size_where = "INPUT_PEER_CACHE_SIZE" if config.env.get("INPUT_PEER_CACHE_SIZE") else "[peer_cache] size"
    ttl_where = "INPUT_PEER_CACHE_TTL" if config.env.get("INPUT_PEER_CACHE_TTL") else "[peer_cache] ttl"
    return _number(size_raw, size_where, int), _number(ttl_raw, ttl_where, float)


@tgx.hookimpl
def tgx_register_peer_resolvers(config: Config) -> PeerResolverSpec:
    size, ttl = settings(config)  # a bad setting is a ConfigError now, not at the first lookup

    def factory(context: ResolverContext) -> PeerCache:
        from .cache import PeerCache  # imported when an export resolves, not to build `tgx --help`

        return PeerCache(context.state_dir / FILE_NAME, size=size, ttl=ttl, owner=context.config.session)

    return PeerResolverSpec(name=NAME, priority=PRIORITY, factory=factory)


__all__ = ["FILE_NAME", "settings", "tgx_register_peer_resolvers"]
