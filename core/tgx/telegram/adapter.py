"""The Telethon internals tgx relies on, in one module (Telethon 1.x; see DESIGN.md).

Telethon's public API has no way to count every request, to send through another data center's
sender with tgx's own flood-wait handling, or to know the logged-in user's id without a request.
Each of those reads or wraps a private attribute; they are all here, so an upgrade of Telethon
that moves one breaks one module (and the tests of the features above), not the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[..., Awaitable[Any]]  # TelegramClient._call(sender, request, ...)


def self_id(client: Any) -> int | None:
    """The logged-in user's id as Telethon cached it at login (``None`` before: no request made)."""
    value = getattr(client, "_self_id", None)
    return value if isinstance(value, int) else None


def proxy_of(client: Any) -> Any:
    """The proxy the client was built with (``None``: a direct connection)."""
    return getattr(client, "_proxy", None)


def wrap_calls(client: Any, wrapper: Callable[[Call], Call]) -> None:
    """Replace the client's ``_call`` with ``wrapper(original)``: every request of Telethon 1.x,
    whoever sends it (the runner, entity look-ups, other DCs' senders), goes through it."""
    client._call = wrapper(client._call)


async def call_via(client: Any, sender: Any, request: Any) -> Any:
    """Send ``request`` through ``sender`` (another data center's MTProto sender)."""
    return await client._call(sender, request)


async def borrow_sender(client: Any, dc_id: int) -> Any:
    """An exported sender for data center ``dc_id`` (Telethon keeps and shares them)."""
    return await client._borrow_exported_sender(dc_id)


async def return_sender(client: Any, sender: Any) -> None:
    """Give back a sender from :func:`borrow_sender`."""
    await client._return_exported_sender(sender)


async def reconnect_sender(client: Any, sender: Any, dc_id: int) -> None:
    """Connect a borrowed sender again after its connection dropped, as Telethon itself would."""
    dc = await client._get_dc(dc_id)
    await sender.connect(client._connection(dc.ip_address, dc.port, dc.id, loggers=client._log,
                                            proxy=client._proxy, local_addr=client._local_addr))


__all__ = ["borrow_sender", "call_via", "proxy_of", "reconnect_sender", "return_sender", "self_id", "wrap_calls"]


RECONNECT_CALLBACKS = ("_auto_reconnect_callback", "_reconnect_callback")  # MTProtoSender, the simulator's


def on_reconnect(client: Any, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` each time the client's connection comes back after a drop (the sender's
    auto-reconnect callback, which Telethon sets to ``_handle_auto_reconnect``). Updates Telegram
    pushed while it was down are lost, and Telethon's own gap handling does not hand edits and
    deletions to event handlers — a watcher catches up itself. Returns the undo."""
    sender = getattr(client, "_sender", None)
    name = next((n for n in RECONNECT_CALLBACKS if hasattr(sender, n)), None)
    if sender is None or name is None:
        return lambda: None
    original = getattr(sender, name)

    async def reconnected() -> None:
        callback()
        if original is not None:
            await original()

    setattr(sender, name, reconnected)
    return lambda: setattr(sender, name, original)
