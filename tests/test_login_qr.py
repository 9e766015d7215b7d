"""Logins (issue 17): ``tgx login --qr`` and ``tgx login --session-string`` through the real CLI
against the simulated Telegram — which starts logged out with ``[simulated.login] authorized =
false`` and serves auth.exportLoginToken / updateLoginToken / auth.importLoginToken and the 2FA
password (real SRP) — and the simulator's login side on its own."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import stat

import pytest
import segno
from telethon import errors
from telethon.sessions import StringSession
from telethon.tl import functions, types
from tgx.errors import ConfigError, ExitCode
from tgx.simulator.login import Login
from tgx.testing import SimulatedTelegram, build_world, validate_scenario
from tgxrun import tgx_env

SEED = 1
PASSWORD = "correct-horse-battery"


def tgx(tmp_path, *args, config, input_text="", timeout=120):
    """The real CLI in a subprocess with ``input_text`` on stdin (a pipe, not a terminal)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "tgx", *args], input=input_text, capture_output=True,
                          text=True, timeout=timeout, env=tgx_env(tmp_path, config), cwd=tmp_path)


def _config(tmp_path, **login):
    import tomlkit

    path = tmp_path / "tgx.toml"
    path.write_text(tomlkit.dumps({"simulated": validate_scenario(
        {"seed": SEED, "messages": 50, "big_file_mb": 0, "login": {"authorized": False, **login}})}))
    return path


def _url(number: int) -> str:
    token = Login(SEED).token_bytes(number)
    return "tg://login?token=" + base64.urlsafe_b64encode(token).decode().rstrip("=")


def _qr(number: int) -> str:
    """The QR code of the ``number``-th token exactly as `tgx login --qr` prints it."""
    buf = io.StringIO()
    segno.make(_url(number), error="l").terminal(out=buf, compact=True, border=2)
    return buf.getvalue()


def _session_mode(tmp_path) -> int:
    return stat.S_IMODE((tmp_path / "data" / "sessions" / "tgx.session").stat().st_mode)


def test_qr_login_without_2fa_then_the_session_is_logged_in(tmp_path):
    config = _config(tmp_path, qr_scan_after=0.2)
    before = tgx(tmp_path, "chats", config=config)
    assert before.returncode == ExitCode.AUTH and "not logged in" in before.stderr  # really starts logged out
    r = tgx(tmp_path, "login", "--qr", config=config, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _qr(1) in r.stderr and "Link Desktop Device" in r.stderr
    assert _url(1) not in r.stdout + r.stderr  # the URL only on a terminal: these are pipes
    assert "logged in as @tgx_tester (Tgx Tester, id 7100000001)" in r.stderr
    assert _session_mode(tmp_path) == 0o600
    after = tgx(tmp_path, "chats", "--json", config=config)  # a new process, the same data dir
    assert after.returncode == 0, after.stderr
    assert any(chat["username"] == "tgx_demo" for chat in json.loads(after.stdout))
    again = tgx(tmp_path, "login", "--qr", config=config)
    assert again.returncode == 0 and "already logged in as @tgx_tester" in again.stderr and _qr(1) not in again.stderr


def test_qr_login_with_an_expired_code_and_2fa(tmp_path):
    """The first code expires unscanned (a new one is shown), the second is scanned, a wrong 2FA
    password is asked again, the right one logs in."""
    config = _config(tmp_path, qr_expires=1, qr_scan_token=2, qr_scan_after=0.2, password=PASSWORD)
    r = tgx(tmp_path, "login", "--qr", config=config, input_text=f"wrong-one\n{PASSWORD}\n", timeout=120)
    assert r.returncode == 0, r.stderr
    assert _qr(1) in r.stderr and _qr(2) in r.stderr and _qr(3) not in r.stderr
    assert "the QR code expired; here is a new one" in r.stderr
    assert "wrong password, try again" in r.stderr
    assert "logged in as @tgx_tester" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert tgx(tmp_path, "chats", config=config).returncode == 0


def test_qr_login_with_three_wrong_passwords_exits_5_logged_out(tmp_path):
    config = _config(tmp_path, qr_scan_after=0.1, password=PASSWORD)
    r = tgx(tmp_path, "login", "--qr", config=config, input_text="a1\nb2\nc3\n", timeout=120)
    assert r.returncode == ExitCode.AUTH, r.stderr
    assert "wrong password 3 times" in r.stderr
    assert tgx(tmp_path, "chats", config=config).returncode == ExitCode.AUTH


def _string_of_a_logged_in_simulated_session() -> str:
    world = SimulatedTelegram(seed=SEED, messages=50, big_file_mb=0)

    async def export(client):
        assert await client.is_user_authorized()
        return client.session.save()

    return world.run(export, session=StringSession())


def test_a_session_string_is_imported_from_stdin(tmp_path):
    config = _config(tmp_path)
    string = _string_of_a_logged_in_simulated_session()
    r = tgx(tmp_path, "-vv", "login", "--session-string", "-", config=config, input_text=string + "\n")
    assert r.returncode == 0, r.stderr
    assert "logged in as @tgx_tester (Tgx Tester, id 7100000001) (session string imported)" in r.stderr
    assert string not in r.stdout + r.stderr
    assert _session_mode(tmp_path) == 0o600
    assert tgx(tmp_path, "chats", config=config).returncode == 0
    # a logged-in session is never overwritten by another string
    again = tgx(tmp_path, "login", "--session-string", "-", config=config, input_text=string)
    assert again.returncode == ExitCode.USAGE and "already logged in as @tgx_tester" in again.stderr


@pytest.mark.parametrize("bad", ["1garbage!!", "not-a-session", "1" + "A" * 40])
def test_a_bad_session_string_is_one_line_exit_2(tmp_path, bad):
    r = tgx(tmp_path, "login", "--session-string", "-", config=_config(tmp_path), input_text=bad)
    assert r.returncode == ExitCode.USAGE, r.stderr
    errors_ = [line for line in r.stderr.splitlines() if line.startswith("tgx: error:")]
    assert errors_ == ["tgx: error: not a Telethon session string (it does not decode)"]
    assert bad not in r.stdout + r.stderr


def test_a_session_string_telegram_refuses_exits_5_and_leaves_no_login(tmp_path):
    """A well-formed string whose key the server does not know (a logged-out session)."""
    world = build_world({"seed": SEED, "login": {"authorized": False}})

    async def export(client):
        assert not await client.is_user_authorized()
        return client.session.save()

    string = world.run(export, session=StringSession())
    config = _config(tmp_path)
    r = tgx(tmp_path, "login", "--session-string", "-", config=config, input_text=string)
    assert r.returncode == ExitCode.AUTH, r.stderr
    assert "Telegram does not accept the session string" in r.stderr and string not in r.stderr
    assert tgx(tmp_path, "chats", config=config).returncode == ExitCode.AUTH


def test_login_ways_cannot_be_combined(tmp_path):
    r = tgx(tmp_path, "login", "--qr", "--session-string", "-", config=_config(tmp_path), input_text="x")
    assert r.returncode == ExitCode.USAGE and "--qr and --session-string cannot be combined" in r.stderr


# -- the simulator's login side on its own -----------------------------------------------------------


def test_import_login_token_and_its_errors():
    world = build_world({"seed": SEED, "login": {"authorized": False, "qr_scan_after": 0.05}})

    async def flow(client):
        with pytest.raises(errors.AuthTokenInvalidError):
            await client(functions.auth.ImportLoginTokenRequest(b"no such token"))
        qr = await client.qr_login()
        with pytest.raises(errors.AuthTokenInvalidError):  # not scanned yet
            await client(functions.auth.ImportLoginTokenRequest(qr.token))
        await asyncio.sleep(0.2)  # scanned now
        answer = await client(functions.auth.ImportLoginTokenRequest(qr.token))
        assert isinstance(answer, types.auth.LoginTokenSuccess)
        return await client.get_me()

    me = world.run(flow)
    assert me.username == "tgx_tester"
    assert world.request_counts()["ImportLoginTokenRequest"] == 3


def test_update_login_token_arrives_through_telethons_update_path():
    world = build_world({"seed": SEED, "login": {"authorized": False, "qr_scan_after": 0.05}})
    seen = []

    async def flow(client):
        from telethon import events

        client.add_event_handler(lambda update: seen.append(update), events.Raw(types.UpdateLoginToken))
        qr = await client.qr_login()
        user = await qr.wait(timeout=5)
        return user.id, await client.is_user_authorized()

    assert world.run(flow) == (world.me.id, True)
    assert len(seen) == 1 and isinstance(seen[0], types.UpdateLoginToken)


def test_the_default_world_is_still_logged_in_from_the_start():
    async def check(client):
        return await client.is_user_authorized()

    assert SimulatedTelegram(seed=SEED).run(check) is True


@pytest.mark.parametrize(("login", "problem"), [
    ({"authorised": False}, "unknown key 'authorised'"),
    ({"qr_expires": -1}, "qr_expires must be"),
    ({"qr_scan_token": 0}, "qr_scan_token must be"),
    ({"password": 1234}, "password must be"),
    ({"authorized": "no"}, "authorized must be"),
])
def test_login_table_typos_are_config_errors(login, problem):
    with pytest.raises(ConfigError) as info:
        validate_scenario({"login": login})
    assert problem in info.value.message


def test_qr_login_moves_to_the_dc_the_account_lives_on(tmp_path):
    """Most accounts live on another DC than the one a new client asks first: the scanned token is
    answered with auth.loginTokenMigrateTo, the client moves there (a new key) and imports the
    token — and the session kept is that DC's, which the next process uses."""
    from tgx.testing import read_request_log

    log = tmp_path / "requests.jsonl"
    config = _config(tmp_path, qr_scan_after=0.2, qr_dc=4)
    text = config.read_text().replace("[simulated]", f"[simulated]\nrequest_log = {json.dumps(str(log))}", 1)
    config.write_text(text)
    r = tgx(tmp_path, "login", "--qr", config=config, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "logged in as @tgx_tester" in r.stderr
    sent = [(e["type"], e["dc"], e["error"]) for e in read_request_log(str(log))
            if e["type"] in ("ExportLoginTokenRequest", "ImportLoginTokenRequest")]
    assert sent[-1] == ("ImportLoginTokenRequest", 4, None)
    assert all(dc != 4 for kind, dc, _e in sent if kind == "ExportLoginTokenRequest")
    after = tgx(tmp_path, "chats", "--json", config=config)
    assert after.returncode == 0, after.stderr
    assert {e["dc"] for e in read_request_log(str(log)) if e["type"] == "GetDialogsRequest"} == {4}
