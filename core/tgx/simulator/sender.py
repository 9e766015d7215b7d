"""The fake network sender and the Telethon client that uses it.

:class:`SimulatedSender` stands where Telethon's ``MTProtoSender`` stands: ``send()``
serializes the request (``bytes(request)``, as the real sender does), the in-process server
answers with bytes, and the future resolves with ``request.read_result(...)``, i.e. Telethon
parses real TL. Everything above (``_call`` with flood-wait sleeps and retries, entity
caching, ``iter_messages``, ``download_media``, ``takeout()``) is Telethon's own code.

Updates the world pushes (:meth:`tgx.simulator.world.World.notify`) arrive the way
``MTProtoSender._handle_update`` delivers them: parsed TL put into the client's
``_updates_queue``, where Telethon's MessageBox checks pts/seq and closes gaps itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from telethon import TelegramClient, utils
from telethon.crypto import AuthKey
from telethon.errors import rpc_message_to_error
from telethon.extensions import BinaryReader
from telethon.network import ConnectionTcpFull
from telethon.sessions import MemorySession
from telethon.tl import functions
from telethon.tl.alltlobjects import LAYER
from telethon.tl.types import RpcError

from tgx.simulator.login import login_key, login_of
from tgx.simulator.server import Connection, Dropped, RpcFault, Server

if TYPE_CHECKING:
    from telethon.sessions import Session

    from tgx.simulator.world import World

SIM_API_ID = 611335
SIM_API_HASH = "5imu1a7ed0000000000000000000000a"  # not a secret: the simulator accepts any
RECONNECT_DELAY = 0.02  # seconds a transient drop costs before the request is resent

_log = logging.getLogger(__name__)


class SimulatorError(RuntimeError):
    """The simulator itself failed on a request (a bug in the simulator, not a Telegram error)."""


def server_of(world: World) -> Server:
    server = getattr(world, "_server", None)
    if server is None:
        server = world._server = Server(world)  # type: ignore[attr-defined]
    return server


class SimulatedSender:
    """Duck-typed ``MTProtoSender``: what ``TelegramClient`` calls on ``client._sender``."""

    def __init__(self, world: World, *, dc_id: int, authorized: bool, updates_queue: Any = None,
                 reconnect_callback: Any = None, auth_key: bytes | None = None, account: str = "default"):
        self.world = world
        self._updates_queue = updates_queue  # None: an exported sender (another DC): no updates
        self._reconnect_callback = reconnect_callback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._offline_until = 0.0  # loop time: a transient drop is in progress until then
        self.server = server_of(world)
        self.conn = Connection(dc_id, authorized, account=account)
        self.dc_id = dc_id
        self.auth_key = AuthKey(auth_key or login_key(world.seed))  # Telethon stores it in the session
        self._connection: Any = None
        self._user_connected = False
        self._pending: dict[asyncio.Future, asyncio.Task] = {}
        self._disconnected_future: asyncio.Future | None = None

    # -- MTProtoSender's public surface

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False
        self._connection = connection
        self._user_connected = True
        self._loop = asyncio.get_running_loop()
        self._disconnected_future = self._loop.create_future()
        if self._updates_queue is not None:
            if self not in self.world.listeners:
                self.world.listeners.append(self)
            timeline = getattr(self.world, "timeline", None)
            if timeline is not None:
                timeline.start()
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    def _transport_connected(self) -> bool:
        return self._user_connected

    async def disconnect(self) -> None:
        """User disconnect: pending requests are cancelled, as Telethon's sender does."""
        self._user_connected = False
        self._unlisten()
        for future, task in list(self._pending.items()):
            task.cancel()
            if not future.done():
                future.cancel()
        self._pending.clear()
        fut = self._disconnected_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    @property
    def disconnected(self) -> asyncio.Future:
        if self._disconnected_future is None:
            self._disconnected_future = asyncio.get_running_loop().create_future()
            self._disconnected_future.set_result(None)
        return asyncio.shield(self._disconnected_future)

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if utils.is_list_like(request):
            futures = []
            previous: asyncio.Future | None = None
            for item in request:
                future = self._submit(item, after=previous if ordered else None)
                futures.append(future)
                previous = future
            return futures
        return self._submit(request)

    # -- pushed updates and scripted drops (tgx.simulator.timeline)

    def wants_updates(self) -> bool:
        """Telegram pushes to a connected session that made a request outside InvokeWithoutUpdates."""
        return self._user_connected and self._updates_queue is not None and self.conn.updates

    def push(self, data: bytes) -> None:
        """Deliver serialized ``Updates`` (lost while a drop is in progress, as on a real socket)."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._user_connected:
            return
        if loop.time() < self._offline_until:
            return
        obj = BinaryReader(data).tgread_object()
        delay = self.world.latency / 2
        queue = self._updates_queue
        if delay:
            loop.call_soon_threadsafe(loop.call_later, delay, queue.put_nowait, obj)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, obj)

    def drop(self, *, fatal: bool = False, seconds: float = RECONNECT_DELAY) -> None:
        """The connection dies now. Transient: for ``seconds`` pushed updates are lost and requests
        wait; then it is back and the client's reconnect callback runs, as MTProtoSender's does.
        Fatal: every pending call fails with ConnectionError; the client must reconnect."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._user_connected:
            return
        if fatal:
            self._fail_all(ConnectionError("Connection to Telegram lost (simulated fatal drop)"))
            return
        self._offline_until = loop.time() + seconds
        callback = self._reconnect_callback
        if callback is not None:
            def reconnected() -> None:
                if self._user_connected:
                    task = loop.create_task(callback())
                    task.add_done_callback(_consume)
            loop.call_later(seconds, reconnected)

    def _unlisten(self) -> None:
        if self in self.world.listeners:
            self.world.listeners.remove(self)

    def _keepalive_ping(self, rnd_id: int) -> None:
        future = self.send(functions.PingRequest(rnd_id))
        future.add_done_callback(_consume)

    # -- internals

    def _submit(self, request: Any, after: asyncio.Future | None = None) -> asyncio.Future:
        data = bytes(request)  # serialize now, like MTProtoSender (struct errors raise here)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        task = loop.create_task(self._run(request, data, future, after))
        self._pending[future] = task
        task.add_done_callback(lambda _t, f=future: self._pending.pop(f, None))
        return future

    async def _run(self, request: Any, data: bytes, future: asyncio.Future,
                   after: asyncio.Future | None) -> None:
        world = self.world
        if after is not None:
            await asyncio.wait([after])
        latency = world.latency
        while True:
            if latency:
                await asyncio.sleep(latency / 2)
            offline = self._offline_until - asyncio.get_running_loop().time()
            if offline > 0:  # a transient drop: the request goes out once reconnected
                await asyncio.sleep(offline)
                if not self._user_connected:
                    return
            try:
                answer = self.server.handle(data, self.conn)
            except RpcFault as fault:
                if not future.done():
                    future.set_exception(rpc_message_to_error(RpcError(fault.code, fault.message), request))
                return
            except Dropped as drop:
                if drop.fatal:
                    self._fail_all(ConnectionError("Connection to Telegram lost (simulated fatal drop)"))
                    return
                # Telethon's sender reconnects by itself and resends what was pending.
                await asyncio.sleep(RECONNECT_DELAY)
                if not self._user_connected:
                    return
                continue
            except Exception as exc:  # a simulator bug: say so loudly, never as a Telegram error
                _log.exception("simulated server failed on %s", type(request).__name__)
                if not future.done():
                    future.set_exception(
                        SimulatorError(f"simulator failed on {type(request).__name__}: {exc!r}"))
                return
            if latency:
                await asyncio.sleep(latency / 2)
            if future.done():
                return
            try:
                result = request.read_result(BinaryReader(answer))
            except Exception as exc:
                future.set_exception(
                    SimulatorError(f"answer to {type(request).__name__} did not parse: {exc!r}"))
                return
            future.set_result(result)
            return

    def _fail_all(self, error: ConnectionError) -> None:
        """A fatal drop: every pending call fails with ``error``; sending needs a reconnect."""
        self._user_connected = False
        self._unlisten()
        current = asyncio.current_task()
        for future, task in list(self._pending.items()):
            if not future.done():
                future.set_exception(error)
            if task is not current:
                task.cancel()
        self._pending.clear()
        fut = self._disconnected_future
        if fut is not None and not fut.done():
            fut.set_exception(error)
            fut.add_done_callback(_consume)


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class SimulatedClient(TelegramClient):
    """A real ``TelegramClient`` whose network is the simulated server of ``world``.

    Logged in from the start as ``account`` (``default``: the world's "me"; see
    :meth:`tgx.simulator.world.World.add_account`). ``session`` defaults to a fresh
    ``MemorySession``; other keyword arguments go to ``TelegramClient`` unchanged.
    """

    def __init__(self, world: World, session: Session | str | None = None, *,
                 api_id: int | None = None, api_hash: str | None = None, account: str = "default",
                 **kwargs: Any):
        world.account(account)  # KeyError for an account the world does not have
        kwargs.setdefault("connection", ConnectionTcpFull)
        super().__init__(session if session is not None else MemorySession(), api_id or SIM_API_ID,
                         api_hash or SIM_API_HASH, **kwargs)
        self.world = world
        self.account = account
        if not self.session.server_address:
            self.session.set_dc(world.home_dc, "::1" if self._use_ipv6 else "127.0.0.1", 443)
        self._sender = self._new_sender()

    def _new_sender(self) -> SimulatedSender:
        login = login_of(self.world)
        key = self.session.auth_key.key if self.session.auth_key is not None else None
        if key is None and not login.authorized:
            key = os.urandom(256)  # a fresh key, as from a real key exchange: not logged in
        return SimulatedSender(self.world, dc_id=self.session.dc_id, authorized=login.key_is_logged_in(key),
                               auth_key=key,
                               updates_queue=self._updates_queue, reconnect_callback=self._handle_auto_reconnect,
                               account=self.account)

    async def connect(self) -> None:
        # a new sender also after Telethon's _switch_dc (auth.loginTokenMigrateTo, *_MIGRATE):
        # the session names another DC now, with no key there yet
        if not isinstance(self._sender, SimulatedSender) or self._sender.dc_id != self.session.dc_id:
            self._sender = self._new_sender()
        await super().connect()

    async def _on_login(self, user: Any) -> Any:
        """A login succeeded: keep the world's login key in the session, the simulator's stand-in
        for Telegram remembering that this key is logged in (see tgx.simulator.login)."""
        self._sender.auth_key.key = login_of(self.world).key
        self.session.auth_key = self._sender.auth_key
        self.session.save()
        return await super()._on_login(user)

    async def _create_exported_sender(self, dc_id: int) -> SimulatedSender:
        """Like Telethon's: a sender for another DC, authorized by exporting/importing the login."""
        dc = await self._get_dc(dc_id)
        sender = SimulatedSender(self.world, dc_id=dc_id, authorized=False, account=self.account)
        await sender.connect(self._connection(dc.ip_address, dc.port, dc.id, loggers=self._log,
                                              proxy=self._proxy, local_addr=self._local_addr))
        auth = await self(functions.auth.ExportAuthorizationRequest(dc_id))
        self._init_request.query = functions.auth.ImportAuthorizationRequest(id=auth.id, bytes=auth.bytes)
        await sender.send(functions.InvokeWithLayerRequest(LAYER, self._init_request))
        return sender

    def __repr__(self) -> str:
        return f"<SimulatedClient of {self.world!r}>"
