"""``tgx doctor [--online] [--json]``: is this machine ready to export, and if not, what to fix.

Every check is local and quick (no network) unless ``--online`` is given, which connects once
to confirm the session is still logged in. Statuses: ``ok``; ``warn`` — works, but slower or
without an optional feature (no VA-API: the CPU encoder is used; no cryptg: Telethon's ~80x
slower AES through the system's OpenSSL or pure Python);
``fail`` — needs fixing before ``tgx export`` works as expected. Exit 0 when nothing fails, 1
otherwise. A config file that cannot be read stops every command, this one included, with exit
3 and the file, line and key.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pluggy
import typer
from rich.table import Table
from rich.text import Text

from tgx import console
from tgx.config import Config
from tgx.errors import ExitCode, TgxError

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _simulated(config: Config) -> bool:
    if config.is_disabled("simulated"):
        return False
    try:
        from tgx.simulator.scenario import scenario_from_config

        return scenario_from_config(config) is not None
    except TgxError:
        return True  # configured, but broken: the config check reports it


def check_config(config: Config, pm: pluggy.PluginManager) -> list[Check]:
    where = config.path if config.path is not None and config.path.is_file() else None
    checks = [Check("config", OK, f"{where}" if where else "no config file (built-in defaults)")]
    known = {name for name, _plugin in pm.list_name_plugin()} | set(getattr(pm, "infos", {}) or {})
    for table in sorted(config.tables):
        if table not in known:
            checks.append(Check(f"config [{table}]", WARN, "matches no plugin (ignored)",
                                f"remove the table or install/enable the plugin '{table}'"))
    if config.simulated_requested:
        try:
            from tgx.simulator.scenario import scenario_from_config

            scenario_from_config(config)
        except TgxError as exc:
            checks.append(Check("config [simulated]", FAIL, exc.message, exc.hint or "fix the table"))
    fmt = config.export.get("format")
    if fmt:
        from tgx.host import registry

        names = [n.strip() for n in str(fmt).split(",") if n.strip()]
        unknown = [n for n in names if n not in registry.formats(pm)]
        if unknown:
            checks.append(Check("config [export] format", FAIL, f"unknown format '{unknown[0]}'",
                                "see `tgx formats` for the available ones"))
    return checks


def _logged_in(session: Path) -> bool | None:
    """Whether a Telethon session file holds an auth key (None: cannot tell)."""
    try:
        con = sqlite3.connect(f"file:{session}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT auth_key FROM sessions LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return bool(row and row[0])


def check_session(config: Config) -> list[Check]:
    if _simulated(config):
        return [Check("telegram", OK, "the simulated Telegram is configured: no credentials or login needed")]
    checks: list[Check] = []
    missing = [n for n, v in (("TGX_API_ID", config.api_id), ("TGX_API_HASH", config.api_hash)) if not v]
    if missing:
        checks.append(Check("credentials", FAIL, f"{' and '.join(missing)} not set",
                            "get an api_id and api_hash at https://my.telegram.org and set TGX_API_ID / "
                            "TGX_API_HASH (or [telegram] api_id/api_hash in tgx.toml)"))
    else:
        checks.append(Check("credentials", OK, f"api_id {config.api_id}, api_hash set"))
    session = config.session_path.with_name(config.session_path.name + ".session")
    folder = session.parent
    if not session.exists():
        login = "tgx login" + ("" if config.account == "default" else f" --account {config.account}")
        checks.append(Check("session", FAIL, f"not logged in (no {session})", f"run `{login}`"))
        return checks
    problems = []
    if _mode(folder) & 0o077:
        problems.append(f"folder {folder} is {_mode(folder):04o}")
    if _mode(session) & 0o077:
        problems.append(f"file is {_mode(session):04o}")
    if problems:
        checks.append(Check("session permissions", FAIL,
                            "readable by others: " + ", ".join(problems) + " (a session is as good as a login)",
                            f"chmod 700 {folder} && chmod 600 {session}"))
    else:
        checks.append(Check("session permissions", OK, f"{session} (0600 in a 0700 folder)"))
    logged = _logged_in(session)
    if logged is False:
        checks.append(Check("session", FAIL, "the session file holds no login", "run `tgx login`"))
    elif logged is None:
        checks.append(Check("session", WARN, "the session file cannot be read as a Telethon session",
                            "move it away and run `tgx login`"))
    else:
        checks.append(Check("session", OK, f"logged in (session '{config.session}'; not verified online)"))
    return checks


def check_proxy(config: Config) -> Check:
    """The proxy every connection goes through, by its label (no password, no MTProxy secret)."""
    from tgx.proxy import parse_proxy

    try:
        proxy = parse_proxy(config.proxy, source=config.proxy_source)
    except TgxError as exc:
        return Check("proxy", FAIL, exc.message, exc.hint or "")
    if proxy is None:
        return Check("proxy", OK, "none: tgx connects directly (--proxy, TGX_PROXY or [telegram] proxy to use one)")
    detail = f"{proxy.label()} (from {config.proxy_source})"
    if _simulated(config):
        detail += "; the simulated Telegram does not use it"
    return Check("proxy", OK, detail)


def doctor_accounts(config: Config) -> list[str]:
    """The accounts doctor checks: ``[accounts] use``, else every account tgx knows."""
    return list(config.accounts_use) or config.known_accounts()


def check_accounts(config: Config) -> list[Check]:
    """:func:`check_session` for every account; each check named after its account when there
    are several (``session [work]``)."""
    names = doctor_accounts(config)
    if len(names) == 1 and names[0] == config.account:
        return check_session(config)
    checks: list[Check] = []
    for name in names:
        try:
            cfg = config.for_account(name)
        except TgxError as exc:
            checks.append(Check(f"account [{name}]", FAIL, exc.message, exc.hint or "fix [accounts] in tgx.toml"))
            continue
        for check in check_session(cfg):
            check.name = f"{check.name} [{name}]"
            checks.append(check)
    return checks


async def check_online(state: Any, account: str | None = None) -> Check:
    from tgx.errors import AuthError, NetworkError

    name = "online" if account is None else f"online [{account}]"
    login = "tgx login" + ("" if account in (None, "default") else f" --account {account}")
    try:
        async with state.connected_client(require_login=False, account=account) as client:
            if not await client.is_user_authorized():
                return Check(name, FAIL, "Telegram says this session is not logged in", f"run `{login}`")
            from tgx.cli.login import describe_account
            from tgx.telegram.accounts import record_profile

            me = await client.get_me()
            record_profile(state.account_config(account), me)
            return Check(name, OK, f"connected, logged in as {describe_account(me)}")
    except (AuthError, NetworkError) as exc:
        return Check(name, FAIL, exc.message, exc.hint or "")


def check_crypto() -> Check:
    """Which AES-IGE Telethon really uses (cryptg, else the system's OpenSSL through ctypes,
    else pure Python) and how fast it decrypts here: every MTProto packet goes through it."""
    import time

    from telethon.crypto import AES, aes, libssl

    if aes.cryptg is not None:  # what Telethon imported, not merely what is installed
        backend = "cryptg (C)"
    elif libssl.decrypt_ige is not None:
        backend = "the system's OpenSSL through ctypes"
    else:
        backend = "pure Python (pyaes)"
    data, key, iv = os.urandom(64 * 1024), os.urandom(32), os.urandom(32)
    started = time.perf_counter()
    AES.decrypt_ige(data, key, iv)
    speed = len(data) / (1024 * 1024) / max(time.perf_counter() - started, 1e-6)
    detail = f"Telethon decrypts with {backend}: {speed:,.0f} MiB/s here"
    if backend.startswith("cryptg"):
        return Check("cryptg", OK, detail)
    # Telethon's OpenSSL path copies every byte into a ctypes array (~10 MiB/s); cryptg ~800.
    return Check("cryptg", WARN, f"{detail}; cryptg is ~80x faster on big exports and media",
                 "pip install cryptg")


def check_media(pm: pluggy.PluginManager, config: Config) -> list[Check]:
    from tgx.ffmpeg import find_ffmpeg
    from tgx.media.encoders import EncoderChain

    checks: list[Check] = []
    try:
        info = find_ffmpeg(config.env)
    except TgxError as exc:
        checks.append(Check("ffmpeg", FAIL, exc.message, exc.hint or "unset TGX_FFMPEG or point it at ffmpeg"))
        info = None
    else:
        if info is None:
            checks.append(Check("ffmpeg", WARN, "not found (only needed for --transcode)",
                                "install ffmpeg, or `pip install 'tgx[ffmpeg]'`"))
        else:
            checks.append(Check("ffmpeg", OK, f"{info.path} (version {info.version}, via {info.source})"))
    try:
        statuses = EncoderChain.from_plugins(pm, config, warn=lambda _m: None).statuses()
    except TgxError as exc:
        return [*checks, Check("encoders", FAIL, exc.message, exc.hint or "`tgx plugins` to disable the culprit")]
    for s in statuses:
        if s.available:
            checks.append(Check(f"encoder {s.name}", OK, f"available (priority {s.priority})"))
        else:
            fix = ("check /dev/dri/renderD*, the VA-API driver and membership of the 'render' group"
                   if s.name == "vaapi" else "see `tgx encoders`")
            checks.append(Check(f"encoder {s.name}", WARN, f"unavailable: {s.reason}", fix))
    return checks


def check_locations(config: Config) -> list[Check]:
    import platformdirs

    checks: list[Check] = []
    data = config.data_dir
    if data.exists() and not os.access(data, os.W_OK | os.X_OK):
        checks.append(Check("data dir", FAIL, f"{data} is not writable", f"fix the permissions of {data}"))
    else:
        checks.append(Check("data dir", OK, f"{data}" + ("" if data.exists() else " (created on login)")))
    cfg_dir = Path(platformdirs.user_config_dir("tgx"))
    checks.append(Check("config dir", OK, f"{cfg_dir} (or $TGX_CONFIG, ./tgx.toml)"))
    return checks


def check_plugins(pm: pluggy.PluginManager) -> list[Check]:
    from tgx.host.manager import plugin_infos

    checks = []
    broken = [info for info in plugin_infos(pm) if info.error]
    for info in broken:
        checks.append(Check(f"plugin {info.name}", FAIL, f"failed to load: {info.error}",
                            f"reinstall or fix it, or `tgx plugins disable {info.name}`"))
    enabled = sum(1 for info in plugin_infos(pm) if info.enabled)
    if not broken:
        checks.append(Check("plugins", OK, f"{enabled} enabled, none failed to load"))
    return checks


def run_checks(pm: pluggy.PluginManager, config: Config) -> list[Check]:
    return [*check_config(config, pm), *check_accounts(config), check_proxy(config), check_crypto(),
            *check_media(pm, config), *check_locations(config), *check_plugins(pm)]


def _print(checks: list[Check]) -> None:
    out = console.stdout()
    table = Table(show_edge=False, pad_edge=False)
    for col in ("check", "status", "detail", "what to do"):
        table.add_column(col, overflow="fold", no_wrap=col in ("check", "status"))
    style = {OK: "green", WARN: "yellow", FAIL: "bold red"}
    for c in checks:
        table.add_row(Text(c.name), Text(c.status, style=style.get(c.status, "")), Text(c.detail), Text(c.fix))
    out.print(table)
    failed = sum(c.status == FAIL for c in checks)
    out.print(Text("everything needed works" if not failed else f"{failed} problem(s) to fix (see above)"))


def register(app: typer.Typer, pm: pluggy.PluginManager) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        online: bool = typer.Option(False, "--online", help="Also connect to Telegram to confirm the login."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON document instead of a table."),
    ) -> None:
        """Check the setup: config, login and session permissions, cryptg, ffmpeg, VA-API, plugins."""
        from tgx.cli import get_state, run_async

        state = get_state(ctx)
        checks = run_checks(state.pm, state.config)
        if online:
            names = doctor_accounts(state.config)
            single = len(names) == 1 and names[0] == state.config.account
            for name in names:
                checks.append(run_async(check_online(state, None if single else name)))
        ok = not any(c.status == FAIL for c in checks)
        if as_json:
            console.print_json({"ok": ok, "checks": [asdict(c) for c in checks]})
        else:
            _print(checks)
        if not ok:
            raise typer.Exit(ExitCode.FAILURE)


__all__ = ["Check", "check_proxy", "register", "run_checks"]
