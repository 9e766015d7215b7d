"""The ``tgx`` command line: a typer app built from a plugin manager.

How a run goes (:func:`main`): argv is pre-scanned for the root options that decide *which*
plugins exist (``-p``/``--plugin``, ``--config``, ``-v``) — they must be known before the app
is built, because plugins add commands — then config → plugin manager → :func:`build_app` →
the command runs, and every failure becomes one line on stderr and an exit code:

* :class:`tgx.errors.TgxError` → ``tgx: error: <message>`` (+ ``  hint: ...``), ``err.exit_code``;
* a usage error (bad flag, missing argument) → the usage line and ``tgx: error: ...``, exit 2;
* Ctrl-C → ``tgx: interrupted``, exit 130;
* anything else → ``tgx: error: internal error: <Type>: <msg>``, exit 1 (traceback with ``-v``).

Every message goes through :func:`tgx.console.redact`.

**How a command gets the config and the plugin manager**: the root context's ``obj`` is an
:class:`AppState`. In a command, take a ``ctx: typer.Context`` parameter and call
``get_state(ctx)`` (or ``get_state()`` — it finds the current click context), then use
``state.config``, ``state.pm``, ``state.make_client()``, ``async with state.connected_client()``,
``state.peer_resolution(client, state_dir)``. A core command module in :data:`COMMAND_MODULES`
exposes ``register(app: typer.Typer, pm) -> None``.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import itertools
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from tgx import __version__, console
from tgx.errors import AuthError, ConfigError, ExitCode, NetworkError, PluginError, TgxError, UsageError

if TYPE_CHECKING:  # at run time each is imported where it is used: `tgx --version` imports none
    import pluggy

    from tgx.config import Config
    from tgx.telegram.peers import PeerResolution

T = TypeVar("T")
VERBOSE_COMMANDS = ("export", "render", "demo")  # they print progress: -q and -v after the command too
PIPE_CLOSED = 141  # stdout's reader went away (`tgx --help | head`): 128 + SIGPIPE, no message

# Core command groups, one module each in tgx.cli, imported lazily by name. A module that does
# not exist (yet) is skipped silently; one that fails to import is a warning.
COMMAND_MODULES = ["plugins", "login", "logout", "accounts", "chats", "topics", "formats", "export", "watch",
                   "import_", "render", "verify", "demo", "encoders", "metrics", "doctor"]

HELP = """Export Telegram history — channels, groups, private chats, forum topics — with media,
into JSONL, Telegram-Desktop JSON, HTML, Markdown, CSV or SQLite. Resumable; extensible with plugins.

Start with `tgx login`, list your chats with `tgx chats`, then `tgx export CHAT`."""


@dataclass
class AppState:
    """What every command needs: the resolved config and the plugin manager of this run."""

    pm: pluggy.PluginManager
    config: Config
    extra: dict[str, Any] = field(default_factory=dict)  # for commands that want to share things

    def account_config(self, account: str | None = None) -> Config:
        """The config as ``account`` sees it (:meth:`tgx.config.Config.for_account`; None: the
        config's own account), its API hash registered as a secret."""
        config = self.config if account in (None, self.config.account) else self.config.for_account(account)
        console.register_secret(config.api_hash)
        if config.proxy is not None and config.proxy is not self.config.proxy:  # an account's own proxy
            from tgx.proxy import parse_proxy

            proxy = parse_proxy(config.proxy, source=config.proxy_source)
            for secret in proxy.secrets() if proxy is not None else ():
                console.register_secret(secret)
        return config

    def make_client(self, config: Config | None = None) -> Any:
        """A not-yet-connected Telethon client from the ``tgx_telegram_client`` hook, for
        ``config`` (an account's, :meth:`account_config`; default: this state's config).

        When the simulated Telegram was asked for (``Config.simulated_requested``; ``tgx demo``
        always asks), only the ``simulated`` plugin is called: an explicit choice wins over
        any installed third-party client plugin, ``tryfirst`` or not."""
        hook = self.pm.hook.tgx_telegram_client
        if self.config.simulated_requested:
            if self.pm.get_plugin("simulated") is None:
                raise PluginError("the simulated Telegram was asked for ([simulated] or TGX_SIMULATED), "
                                  "but the built-in 'simulated' plugin is disabled",
                                  hint="`tgx plugins enable simulated`, or unset TGX_SIMULATED")
            others = [plugin for name, plugin in self.pm.list_name_plugin() if name != "simulated"]
            hook = self.pm.subset_hook_caller("tgx_telegram_client", remove_plugins=others)
        client = hook(config=config if config is not None else self.config)
        if client is None:
            raise PluginError("no plugin provides a Telegram client",
                              hint="enable the built-in one: `tgx plugins enable telegram`")
        return client

    @asynccontextmanager
    async def connected_client(self, *, require_login: bool = True, account: str | None = None
                               ) -> AsyncIterator[Any]:
        """Connect a client for the duration of the block; disconnect whatever happens.

        :param require_login: raise :class:`AuthError` (exit 5) when the session is not logged in.
        :param account: the account to connect as (None: the config's, ``default`` unless a
            command chose another).
        """
        from tgx.telegram.accounts import record_use

        config = self.account_config(account)
        client = self.make_client(config)
        try:
            try:
                await client.connect()
            except (TimeoutError, ConnectionError, OSError, EOFError) as exc:  # EOFError: IncompleteReadError
                raise NetworkError(f"cannot connect to Telegram at {_server_of(client)}: {type(exc).__name__}: "
                                   f"{exc} ({_proxy_of(client, config)})",
                                   hint="check the network (something on the way answered that is not "
                                        "Telegram?), then run the same command again") from None
            if require_login and not await client.is_user_authorized():
                login = "tgx login" if config.account == "default" else f"tgx login --account {config.account}"
                raise AuthError(f"not logged in: run `{login}`" if config.account == "default"
                                else f"account {config.account!r} is not logged in: run `{login}`")
            record_use(config)
            yield client
        finally:
            disconnect = client.disconnect()
            if inspect.isawaitable(disconnect):
                await disconnect

    def peer_resolution(self, client: Any, state_dir: Path | str) -> PeerResolution:
        """The resolver chain (registered resolvers, then Telegram) for this run."""
        from tgx.telegram.peers import PeerResolution

        return PeerResolution.from_plugins(self.pm, client, state_dir, config=self.config)


def _server_of(client: Any) -> str:
    session = getattr(client, "session", None)
    address, port = getattr(session, "server_address", None), getattr(session, "port", None)
    return f"{address}:{port}" if address else "its data center"


def _proxy_of(client: Any, config: Config | None = None) -> str:
    """How the client connects, for a connect error: the configured proxy by its label (never its
    password or MTProxy secret), else what the client itself was built with."""
    from tgx.proxy import parse_proxy
    from tgx.telegram.adapter import proxy_of

    configured = parse_proxy(config.proxy) if config is not None else None
    if config is not None and configured is not None:
        return f"through proxy {configured.label()} from {config.proxy_source}"
    proxy = proxy_of(client)
    if not proxy:
        return "no proxy: tgx connects directly; HTTP(S)_PROXY variables are not used"
    if "MTProxy" in getattr(getattr(client, "_connection", None), "__name__", ""):
        return f"through proxy mtproxy://{proxy[0]}:{proxy[1]}"  # (host, port, secret): never the secret
    if isinstance(proxy, dict):
        return f"through proxy {proxy.get('proxy_type', '?')}://{proxy.get('addr', '?')}:{proxy.get('port', '?')}"
    if isinstance(proxy, tuple | list) and len(proxy) >= 3:
        return f"through proxy {proxy[0]}://{proxy[1]}:{proxy[2]}"
    return "through a proxy"


def _library_logs(verbose: int) -> None:
    """Telethon logs to the ``telethon`` logger; without a handler Python prints its warnings raw
    ("Server closed the connection: ...") beside tgx's own one-line error. Quiet unless ``-v``,
    then each line redacted and prefixed."""
    import logging

    logger = logging.getLogger("telethon")
    if any(getattr(h, "_tgx", False) for h in logger.handlers):
        return
    if verbose:
        class Redacted(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                with contextlib.suppress(Exception):
                    sys.stderr.write(console.redact(f"telethon: {record.getMessage()}") + "\n")

        handler: logging.Handler = Redacted(logging.INFO if verbose >= 2 else logging.WARNING)
    else:
        handler = logging.NullHandler()
    handler._tgx = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


def get_state(ctx: typer.Context | None = None) -> AppState:
    """The :class:`AppState` of the running command (from the root context's ``obj``)."""
    found: Any = ctx or typer.main.get_current_context()
    obj = found.find_root().obj
    if not isinstance(obj, AppState):
        raise RuntimeError("tgx command run outside the tgx app (no AppState in the context)")
    return obj


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion (Ctrl-C propagates as KeyboardInterrupt)."""
    import asyncio  # only commands that talk to Telegram pay for it (start-up: see docs/performance.md)

    return asyncio.run(coro)


# -- building the app ------------------------------------------------------------------------------


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tgx {__version__}")
        raise typer.Exit()


def _plugin_order(impl: pluggy.HookImpl) -> int:
    return 0 if impl.tryfirst else 2 if impl.trylast else 1


def _register_core_commands(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    for name in COMMAND_MODULES:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written yet
            console.warn(f"command module '{name}' failed to load: {type(exc).__name__}: {exc}")
            continue
        except Exception as exc:
            console.warn(f"command module '{name}' failed to load: {type(exc).__name__}: {exc}")
            continue
        register = getattr(module, "register", None)
        if register is None:
            console.warn(f"command module '{name}' has no register(app, pm)")
            continue
        n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
        try:
            register(app, pm)
        except Exception as exc:
            # Even a deliberate TgxError (say, two plugins registering one encoder name) must not
            # take `tgx plugins disable` — the fix — down with it.
            del app.registered_commands[n_commands:]
            del app.registered_groups[n_groups:]
            reason = str(exc) if isinstance(exc, TgxError) else f"{type(exc).__name__}: {exc}"
            console.warn(f"command module '{name}' failed to register: {reason}")


def _command_names(app: typer.Typer, from_command: int = 0, from_group: int = 0) -> list[str]:
    """Names of the commands and groups registered on ``app`` (from the given positions on)."""
    names = []
    for info in app.registered_commands[from_command:]:
        callback_name = getattr(info.callback, "__name__", "")
        names.append(info.name or typer.main.get_command_name(callback_name))
    for group in app.registered_groups[from_group:]:
        instance = group.typer_instance
        name = group.name if isinstance(group.name, str) else None
        if name is None and instance is not None and isinstance(instance.info.name, str):
            name = instance.info.name
        if name:
            names.append(name)
    return names


def _register_plugin_commands(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    """Call each plugin's ``tgx_register_commands`` on its own; undo and warn on failure.

    Typer builds commands lazily, so a command with a broken signature would only fail when
    the whole app is built — breaking every command. Building after each plugin catches it.
    """
    impls = sorted(pm.hook.tgx_register_commands.get_hookimpls(), key=_plugin_order)
    for impl in impls:
        if impl.hookwrapper or impl.wrapper:
            continue
        n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
        taken = _command_names(app)
        try:
            impl.function(*[{"app": app}[arg] for arg in impl.argnames])
            added = _command_names(app, n_commands, n_groups)
            clash = sorted(set(added) & set(taken)) or sorted({n for n in added if added.count(n) > 1})
            if clash:
                raise ValueError(f"command name '{clash[0]}' is already taken")
            typer.main.get_command(app)
        except Exception as exc:
            del app.registered_commands[n_commands:]
            del app.registered_groups[n_groups:]
            console.warn(f"plugin '{impl.plugin_name}' failed in tgx_register_commands: "
                         f"{type(exc).__name__}: {exc} — its commands are unavailable; fix it or "
                         f"disable it with `tgx plugins disable {impl.plugin_name}`")


def build_app(pm: pluggy.PluginManager, config: Config | None = None) -> typer.Typer:
    """The root ``tgx`` app for ``pm``: core command modules, then plugins' commands.

    ``config`` defaults to ``pm.config`` (a :class:`tgx.host.manager.TgxPluginManager`). When the
    app is invoked without an ``obj`` (e.g. by ``typer.testing.CliRunner``), the root callback
    installs an :class:`AppState` for ``pm`` and ``config``.
    """
    if config is None:
        config = getattr(pm, "config", None)
        if config is None:
            raise TypeError("build_app needs a config with a plain pluggy.PluginManager")
    default_state = AppState(pm, config)
    app = typer.Typer(
        name="tgx",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        plugin: list[str] | None = typer.Option(
            None, "-p", "--plugin", metavar="NAME",
            help="Enable plugin NAME, or disable it with [bold]no:NAME[/] (repeatable). "
                 "Read before anything else; see `tgx plugins`.",
        ),
        config_path: Path | None = typer.Option(
            None, "--config", metavar="PATH",
            help="Read settings from PATH instead of $TGX_CONFIG, ./tgx.toml or the user config dir.",
        ),
        proxy: str | None = typer.Option(
            None, "--proxy", metavar="URL",
            help="Connect through this proxy: socks5://[user:pass@]host:port, socks4://, http:// or "
                 "mtproxy://SECRET@host:port; none connects directly. Default: TGX_PROXY, then "
                 "\\[telegram] proxy.",
        ),
        verbose: int = typer.Option(0, "-v", "--verbose", count=True,
                                    help="More detail; -v also shows tracebacks of internal errors."),
        version: bool = typer.Option(False, "--version", is_eager=True, callback=_version_callback,
                                     help="Print the version and exit."),
    ) -> None:
        # -p/--config/-v were applied by main()'s pre-scan; declared here for --help and parsing.
        if not isinstance(ctx.obj, AppState):
            ctx.obj = default_state
        ctx.obj.config.verbose = max(ctx.obj.config.verbose, verbose)
        if proxy is not None:  # after the app is built: no plugin depends on it, so no pre-scan
            try:
                ctx.obj.config.set_proxy(proxy, "--proxy")
            except ConfigError as exc:
                raise UsageError(exc.message, hint=exc.hint) from None

    _register_core_commands(app, pm)
    _register_plugin_commands(app, pm)
    return app


# -- main ------------------------------------------------------------------------------------------


@dataclass
class PreScan:
    plugins: list[str] = field(default_factory=list)
    config: str | None = None
    verbose: int = 0
    command: list[str] = field(default_factory=list)  # the sub-command and its first word
    version: bool = False  # `tgx --version`: answered before any config or plugin is loaded

    @property
    def writes_config(self) -> bool:
        """``tgx plugins enable|disable`` may create the config file it is told to use."""
        return self.command[:1] == ["plugins"] and self.command[1:2] in (["enable"], ["disable"])


def prescan(argv: Sequence[str]) -> PreScan:
    """Read the root options that must be known before the app exists.

    Only tokens before the sub-command are root options (click would reject them after it),
    so a sub-command's own ``-p`` is never mistaken for a plugin flag.
    """
    scan = PreScan()
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg == "--":
            break
        if arg in ("-p", "--plugin"):
            if nxt is not None:
                scan.plugins.append(nxt)
            i += 2
            continue
        if arg.startswith("--plugin="):
            scan.plugins.append(arg.split("=", 1)[1])
        elif arg.startswith("-p") and not arg.startswith("--"):
            scan.plugins.append(arg[2:])
        elif arg == "--config":
            scan.config = nxt
            i += 2
            continue
        elif arg.startswith("--config="):
            scan.config = arg.split("=", 1)[1]
        elif arg == "--version":
            scan.version = True
        elif _verbosity(arg):
            scan.verbose += _verbosity(arg)
        elif not arg.startswith("-"):
            scan.command = args[i:i + 2]
            if scan.command[0] in VERBOSE_COMMANDS:  # `tgx render -v` means what `tgx -v render` does
                scan.verbose += sum(_verbosity(a) for a in itertools.takewhile(lambda a: a != "--", args[i + 1:]))
            break  # the sub-command: what follows is its own
        i += 1
    return scan


def _verbosity(arg: str) -> int:
    """How much ``-v``/``-vv``/``--verbose`` one token adds (0 for anything else)."""
    if arg == "--verbose":
        return 1
    return len(arg) - 1 if len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) == {"v"} else 0


def _report_click_error(exc: typer.TyperException) -> None:
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.stderr().print(ctx.get_usage(), markup=False, highlight=False)
        help_name = ctx.command_path
        console.stderr().print(f"Try '{help_name} --help' for help.", markup=False, highlight=False)
    console.error(exc.format_message())


def _report_internal(exc: BaseException, verbose: int) -> None:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    console.error(f"internal error: {type(exc).__name__}: {message}".rstrip(": ").rstrip(),
                  hint=None if verbose else "run with -v for the traceback")
    if verbose:
        import traceback

        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(console.redact(text))
        sys.stderr.flush()


def _command(pm: pluggy.PluginManager, config: Config) -> Any:
    """The click command tree typer builds from the app, with tgx's help style (cli.options)."""
    from tgx.cli.options import tidy_help

    return tidy_help(typer.main.get_command(build_app(pm, config)))


def _args(pm: pluggy.PluginManager, args: Sequence[str]) -> list[str]:
    """argv with the old ``--x on|off`` spelling of boolean plugin options rewritten."""
    from tgx.cli.options import legacy_bool_args, plugin_option_specs

    return legacy_bool_args(args, plugin_option_specs(pm))


def _invoke(command: Any, args: list[str], state: AppState) -> int:
    """Run the click command typer built (``typer.main.get_command``) on ``args``."""
    with command.make_context("tgx", args, obj=state) as ctx:
        command.invoke(ctx)
    return ExitCode.OK


def _guarded(body: Callable[[], int], verbose: int) -> int:
    """Run ``body``; turn every way it can fail into one message and an exit code."""
    try:
        return body()
    except TgxError as exc:
        console.error(exc.message, exc.hint)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # typer's (vendored click's) usage errors, and bare `tgx`
        if type(exc).__name__ == "NoArgsIsHelpError":  # no public name for it: typer vendors click
            help_text = exc.format_message()  # rich help is printed while it is formatted: often ""
            if help_text.strip():
                sys.stdout.write(help_text + "\n")
            return ExitCode.USAGE
        _report_click_error(exc)
        return int(getattr(exc, "exit_code", ExitCode.USAGE))
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            console.info("interrupted")
            return ExitCode.INTERRUPTED
        console.error("aborted (no input)")
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        console.info("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as exc:
        _report_internal(exc, verbose)
        return ExitCode.FAILURE


def run(pm: pluggy.PluginManager, config: Config, argv: Sequence[str]) -> int:
    """Build the app for ``pm`` and run ``argv`` with :func:`main`'s error handling.

    For tests and embedders that build their own plugin manager (with in-process plugins);
    the ``-p``/``--config`` root options are parsed but have no effect here.
    """
    def body() -> int:
        return _invoke(_command(pm, config), _args(pm, argv), AppState(pm, config))

    return _guarded(body, config.verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``tgx`` console script. Returns the exit code (see :class:`tgx.errors.ExitCode`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    scan = prescan(args)
    if scan.version:  # eager, like click's: nothing else on the line matters
        sys.stdout.write(f"tgx {__version__}\n")
        return ExitCode.OK

    _library_logs(scan.verbose)

    def body() -> int:
        from tgx.config import load_config
        from tgx.host.manager import get_plugin_manager

        config = load_config(scan.config, cli_plugins=scan.plugins, verbose=scan.verbose,
                             may_create=scan.writes_config)
        console.register_secret(config.api_hash)
        console.register_secret(config.bot_token)
        pm = get_plugin_manager(config, cli_plugins=scan.plugins)
        return _invoke(_command(pm, config), _args(pm, args), AppState(pm, config))

    try:
        code = _guarded(body, scan.verbose)
        sys.stdout.flush()
    except BrokenPipeError:
        code = _reader_went_away()
    return code


def _reader_went_away() -> int:
    """``tgx ... | head``: the reader closed the pipe. Not an error of tgx: no message, and
    stdout is pointed at /dev/null so that the interpreter's final flush stays quiet too.
    Exit 141 (128 + SIGPIPE), what a tool killed by SIGPIPE reports to ``set -o pipefail``."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return PIPE_CLOSED


__all__ = [
    "COMMAND_MODULES", "AppState", "PreScan", "build_app", "get_state", "main", "prescan", "run", "run_async",
]
