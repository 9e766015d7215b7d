"""``tgx login`` and ``tgx chats`` (through the ``tgx_telegram_client`` hook), and the ``telegram`` plugin."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import tgx
import tgx_telegram
from telethon import TelegramClient, errors, types
from tgx.cli import main, run
from tgx.config import Config
from tgx.errors import AuthError, ExitCode
from tgx.host.manager import get_plugin_manager
from typer.testing import CliRunner

PHONE = "+491512345678"
CODE = "24680"
PASSWORD = "correct horse battery"
BOT_TOKEN = "123456789:AAE_abcdefghijklmnopqrstuvwxyz0123456"
API_HASH = "0123456789abcdef0123456789abcdef"

ME = types.User(id=99, first_name="Ada", username="ada", phone=PHONE[1:], access_hash=1, is_self=True)
CHANNEL = types.Channel(id=1234567890, title="News", photo=types.ChatPhotoEmpty(), date=None, access_hash=42,
                        username="news", broadcast=True)
FORUM = types.Channel(id=55, title="Forum", photo=types.ChatPhotoEmpty(), date=None, access_hash=43,
                      megagroup=True, forum=True)
FRIEND = types.User(id=5, first_name="Bob", access_hash=7)
GROUP = types.Chat(id=200, title="Family", photo=types.ChatPhotoEmpty(), participants_count=3, date=None,
                   version=1)


class FakeClient:
    """The parts of a Telethon client that login/chats use; real TL types, real Telethon errors."""

    def __init__(self, *, authorized: bool = False, password: str | None = PASSWORD) -> None:
        self.authorized = authorized
        self.password = password
        self.connected = False
        self.disconnected = False
        self.count_requests = 0

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.disconnected = True

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def get_me(self) -> Any:
        return ME if self.authorized else None

    async def send_code_request(self, phone: str) -> Any:
        assert phone == PHONE
        return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="h")

    async def sign_in(self, phone: str | None = None, code: str | None = None, *, password: str | None = None,
                      bot_token: str | None = None, phone_code_hash: str | None = None) -> Any:
        if bot_token is not None:
            if bot_token != BOT_TOKEN:
                raise errors.AccessTokenInvalidError(request=None)
        elif password is not None:
            if password != self.password:
                raise errors.PasswordHashInvalidError(request=None)
        else:
            assert phone == PHONE and phone_code_hash == "h"
            if code != CODE:
                raise errors.PhoneCodeInvalidError(request=None)
            if self.password:
                raise errors.SessionPasswordNeededError(request=None)
        self.authorized = True
        return ME

    async def iter_dialogs(self, limit: int | None = None) -> Any:
        dialogs = [
            SimpleNamespace(entity=CHANNEL, unread_count=3, message=SimpleNamespace(id=1500), input_entity=1),
            SimpleNamespace(entity=FORUM, unread_count=0, message=SimpleNamespace(id=80), input_entity=2),
            SimpleNamespace(entity=FRIEND, unread_count=1, message=SimpleNamespace(id=98765), input_entity=3),
            SimpleNamespace(entity=GROUP, unread_count=0, message=None, input_entity=4),
        ]
        for dialog in dialogs[:limit]:
            yield dialog

    async def get_messages(self, entity: Any, limit: int = 0) -> Any:
        self.count_requests += 1
        return SimpleNamespace(total=entity * 10)


class ClientPlugin:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    @tgx.hookimpl
    def tgx_telegram_client(self, config: Config) -> Any:
        return self.client


def setup(client: FakeClient, **config: Any) -> tuple[Any, Config]:
    cfg = Config(env={"TGX_CONFIG": "/nonexistent/tgx.toml"}, **config)
    pm = get_plugin_manager(cfg, load_entrypoints=False, warn=lambda m: None)
    pm.register(ClientPlugin(client), name="fake_client")
    return pm, cfg


def run_with_input(pm: Any, config: Config, argv: list[str], text: str = "") -> tuple[int, str]:
    """Run through tgx's own error handling, with prompts answered from ``text``: (exit code, output).

    The output is stdout when the command asks for --json, else stdout and stderr together."""
    with CliRunner().isolation(input=text) as (out, err, _):
        code = run(pm, config, argv)
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return code, stdout if "--json" in argv else stdout + stderr


def assert_no_secrets(output: str) -> None:
    for secret in (PHONE, PHONE[1:], CODE, PASSWORD, BOT_TOKEN, API_HASH):
        assert secret not in output


# -- login -------------------------------------------------------------------------------------------


def test_login_phone_code_and_2fa_with_retries() -> None:
    client = FakeClient()
    pm, config = setup(client)
    code, output = run_with_input(pm, config, ["login", "--phone", PHONE],
                                  f"11111\n{CODE}\nnot-it-123\n{PASSWORD}\n")
    assert code == 0, output
    assert "wrong code, try again" in output and "wrong password, try again" in output
    assert "logged in as @ada (Ada, id 99)" in output
    assert client.authorized and client.disconnected
    assert_no_secrets(output)


def test_login_gives_up_after_three_wrong_codes() -> None:
    pm, config = setup(FakeClient(password=None))
    code, output = run_with_input(pm, config, ["login", "--phone", PHONE], "1\n2\n3\n")
    assert code == ExitCode.AUTH and "wrong login code 3 times" in output


def test_login_asks_for_the_phone_when_not_given() -> None:
    pm, config = setup(FakeClient(password=None))
    code, output = run_with_input(pm, config, ["login"], f"{PHONE}\n{CODE}\n")
    assert code == 0 and "logged in as @ada" in output


def test_login_with_a_bot_token_from_option_or_config() -> None:
    client = FakeClient()
    pm, config = setup(client)
    code, output = run_with_input(pm, config, ["login", "--bot-token", BOT_TOKEN])
    assert code == 0 and client.authorized
    assert_no_secrets(output)
    client = FakeClient()
    pm, config = setup(client, bot_token=BOT_TOKEN)
    assert run_with_input(pm, config, ["login"])[0] == 0 and client.authorized


def test_login_with_a_rejected_bot_token_exits_5_without_echoing_it() -> None:
    bad = "987654321:ZZZ_abcdefghijklmnopqrstuvwxyz0123456"
    pm, config = setup(FakeClient())
    code, output = run_with_input(pm, config, ["login", "--bot-token", bad])
    assert code == ExitCode.AUTH and "Telegram rejected the bot token" in output
    assert bad not in output


def test_login_when_already_authorized() -> None:
    pm, config = setup(FakeClient(authorized=True))
    code, output = run_with_input(pm, config, ["login"])
    assert code == 0 and "already logged in as @ada (Ada, id 99)" in output
    assert_no_secrets(output)


# -- chats -------------------------------------------------------------------------------------------


def test_chats_json() -> None:
    client = FakeClient(authorized=True)
    pm, config = setup(client)
    code, output = run_with_input(pm, config, ["chats", "--json"])
    assert code == 0, output
    rows = json.loads(output)
    assert [(r["id"], r["kind"], r["title"], r["username"]) for r in rows] == [
        (-1001234567890, "channel", "News", "news"),
        (-1000000000055, "supergroup", "Forum", None),
        (5, "user", "Bob", None),
        (-200, "group", "Family", None),
    ]
    assert rows[0]["unread"] == 3 and rows[0]["approx_messages"] == 1500 and rows[0]["messages"] is None
    assert rows[1]["forum"] is True
    assert rows[2]["approx_messages"] is None  # a private chat's top id says nothing about its size
    assert client.count_requests == 0 and client.disconnected


def test_chats_limit_counts_and_table() -> None:
    client = FakeClient(authorized=True)
    pm, config = setup(client)
    code, output = run_with_input(pm, config, ["chats", "--limit", "2", "--counts", "--json"])
    rows = json.loads(output)
    assert code == 0 and len(rows) == 2 and [r["messages"] for r in rows] == [10, 20]
    code, output = run_with_input(pm, config, ["chats"])
    assert code == 0
    assert "@news" in output and "~1500" in output and "supergroup (forum)" in output
    assert run_with_input(pm, config, ["chats", "--limit", "0"])[0] == ExitCode.USAGE


def test_chats_when_not_logged_in_exits_5() -> None:
    client = FakeClient(authorized=False)
    pm, config = setup(client)
    code, output = run_with_input(pm, config, ["chats"])
    assert code == ExitCode.AUTH
    assert "tgx: error: not logged in: run `tgx login`" in output
    assert client.disconnected


def test_no_client_plugin_is_a_plugin_error() -> None:
    config = Config(env={}, disable=["telegram", "simulated"])
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    code, output = run_with_input(pm, config, ["chats"])
    assert code == ExitCode.CONFIG and "no plugin provides a Telegram client" in output


# -- the real `telegram` plugin ----------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("TGX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGX_CONFIG", str(tmp_path / "config" / "tgx.toml"))
    (tmp_path / "config" / "tgx.toml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "tgx.toml").touch()  # $TGX_CONFIG must name an existing file
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


@pytest.mark.parametrize("command", [["login"], ["chats"]])
def test_missing_api_credentials_exit_5_and_never_print_the_hash(env: dict[str, str], command: list[str],
                                                                 capsys: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGX_API_HASH", API_HASH)
    assert main(["-p", "no:simulated", *command]) == ExitCode.AUTH
    out, err = capsys.readouterr()
    assert "tgx: error: missing Telegram API credentials (TGX_API_ID not set)" in err
    assert "TGX_API_HASH" in err and "[telegram]" in err  # the hint says where to set them
    assert API_HASH not in out + err


def test_missing_credentials_through_the_console_script(env: dict[str, str]) -> None:
    env = {**env, "TGX_API_ID": "12345"}
    result = subprocess.run([sys.executable, "-m", "tgx", "-p", "no:simulated", "chats"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == ExitCode.AUTH
    assert "missing Telegram API credentials (TGX_API_HASH not set)" in result.stderr
    assert "Traceback" not in result.stderr


def test_telegram_plugin_builds_a_client_with_a_private_session(tmp_path: Path) -> None:
    config = Config(env={"TGX_DATA_DIR": str(tmp_path / "data")}, api_id=12345, api_hash=API_HASH,
                    session="work", flood_sleep_threshold=42)
    client = tgx_telegram.tgx_telegram_client(config=config)
    try:
        assert isinstance(client, TelegramClient)
        assert client.flood_sleep_threshold == 42
        session = tmp_path / "data" / "sessions" / "work.session"
        assert session.is_file()
        assert stat.S_IMODE(session.stat().st_mode) == 0o600
        assert stat.S_IMODE(session.parent.stat().st_mode) == 0o700
    finally:
        client.session.close()


def test_telegram_plugin_without_credentials_raises_auth_error(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match=r"TGX_API_ID and TGX_API_HASH not set"):
        tgx_telegram.tgx_telegram_client(config=Config(env={"TGX_DATA_DIR": str(tmp_path)}))
    assert not (tmp_path / "sessions").exists()


# -- with the simulated Telegram (skipped until the `simulated` plugin exists) --------------------------


@pytest.mark.skipif(importlib.util.find_spec("tgx_simulated") is None, reason="tgx_simulated not built yet")
def test_login_and_chats_against_the_simulated_telegram(env: dict[str, str], capsys: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGX_SIMULATED", "1")
    assert main(["login"]) == 0
    assert "already logged in as" in capsys.readouterr().err
    assert main(["chats", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all({"id", "kind", "title", "username"} <= set(r) for r in rows)
