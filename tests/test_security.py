"""Security: file names from Telegram stay inside the output folder, state files are private,
and secrets never reach logs, metrics, errors or ``-vv`` output.

(The hostile-HTML-in-a-browser checks are in test_security_html.py.)
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from corpus.hostile import FILE_NAMES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reliability import write_config
from tgx.config import Config
from tgx.errors import OutputError
from tgx.media.names import (
    MAX_NAME_BYTES,
    FolderNames,
    inside,
    media_dir,
    name_key,
    open_nofollow,
    safe_name,
)
from tgx.simulator.content import FILE_NAMES as SIMULATED_FILE_NAMES
from tgxrun import tgx_env

# -- file names can never escape ----------------------------------------------------------------------

HOSTILE_PARTS = ["..", ".", "/", "\\", "\x00", "\u202e", "CON", "nul", "com1", "LPT9", ":", "*", "?", "<", ">",
                 "|", '"', " ", "\n", "\u200f", "~", "$", "%2e%2e%2f", "C:", "\\\\?\\", ".part", ".journal"]
names = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(HOSTILE_PARTS) | st.text(max_size=8), max_size=25).map("".join),
    st.sampled_from(FILE_NAMES + SIMULATED_FILE_NAMES),
)
CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _is_one_safe_component(name: str) -> None:
    assert name and name not in (".", "..")
    assert not any(ch in name for ch in "/\\\x00")
    assert not name.startswith(".") and not name.endswith((" ", "."))
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert unicodedata.normalize("NFC", name) == name
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name)
    assert "\u202e" not in name and "\u200f" not in name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(names, min_size=1, max_size=12))
def test_names_from_telegram_never_leave_their_folder(tmp_path: Path, batch: list[str]) -> None:
    """Whatever the names, every file lands in the folder, once, under a distinct safe name."""
    out = tmp_path / "case"
    out.mkdir(exist_ok=True)
    for old in out.rglob("*"):
        if old.is_file() or old.is_symlink():
            old.unlink()
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    folder = media_dir(out, "chat", "media", "document")
    claimed = FolderNames(folder)
    given_names = []
    for i, raw in enumerate(batch):
        name = claimed.claim(safe_name(raw, f"{1000 + i}.bin"), owner=1000 + i)
        _is_one_safe_component(name)
        path = inside(folder, name)
        fd = open_nofollow(path, CREATE, 0o644)
        os.write(fd, raw.encode("utf-8", "surrogatepass"))
        os.close(fd)
        given_names.append(name)
    assert len({name_key(n) for n in given_names}) == len(given_names)  # distinct, case-insensitively
    assert sorted(os.listdir(folder)) == sorted(given_names)
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve()) and not p.is_symlink()
    assert canary.read_text() == "untouched" and sorted(os.listdir(tmp_path)) == ["canary.txt", "case"]


def test_a_symlink_planted_between_naming_and_writing_is_refused(tmp_path: Path) -> None:
    """The race: a name is chosen, then someone puts a link there before the file is opened."""
    out, secret = tmp_path / "out", tmp_path / "secret.txt"
    out.mkdir()
    secret.write_text("do not overwrite")
    folder = media_dir(out, "chat", "media", "document")
    name = FolderNames(folder).claim(safe_name("../../secret.txt", "1.bin"), owner=1)
    target = folder / name
    os.symlink(secret, target)  # the attacker wins the race
    with pytest.raises(OutputError, match="symbolic link"):
        inside(folder, name)
    with pytest.raises(OutputError, match="symbolic link"):
        open_nofollow(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    # ... and a linked folder on the way is refused before anything is created in it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "chat" / "media" / "photo")
    with pytest.raises(OutputError, match="symbolic link"):
        media_dir(out, "chat", "media", "photo")
    assert secret.read_text() == "do not overwrite" and not any(elsewhere.iterdir())


def test_export_with_hostile_file_names_stays_inside_out(tmp_path: Path) -> None:
    """End to end: the simulated documents are named ../../etc/passwd, con.txt, a/b\\c:d*e?.bin ..."""
    cfg = write_config(tmp_path / "tgx.toml", {"messages": 400, "big_file_mb": 0})
    (tmp_path / "etc").mkdir()
    r = subprocess.run([sys.executable, "-m", "tgx", "export", "@tgx_demo", "-o", "deep/out", "-f", "jsonl",
                        "--media", "document", "--max-size", "256KiB", "--quiet"],
                       capture_output=True, text=True, timeout=300, env=tgx_env(tmp_path, cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = (tmp_path / "deep" / "out").resolve()
    docs = list((out / "tgx_demo" / "media" / "document").iterdir())
    assert len(docs) >= 5
    for p in docs:
        _is_one_safe_component(p.name)
    for p in out.rglob("*"):
        assert not p.is_symlink() and p.resolve().is_relative_to(out)
    assert not any((tmp_path / "etc").iterdir())
    assert sorted(os.listdir(tmp_path / "deep")) == ["out"]
    assert "_con.txt" in {p.name for p in docs}  # con.txt: a Windows device name, prefixed


# -- private state files ------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_archive_and_state_are_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [
        {"kind": "channel", "username": "privchan", "title": "P", "messages": 300, "media": False}]})
    r = subprocess.run([sys.executable, "-m", "tgx", "export", "@privchan", "-o", "out", "--quiet"],
                       capture_output=True, text=True, timeout=300, env=tgx_env(tmp_path, cfg), cwd=tmp_path,
                       preexec_fn=lambda: os.umask(0))
    assert r.returncode == 0, r.stderr
    state = tmp_path / "out" / ".tgx"
    assert _mode(state) == 0o700
    files = [p for p in state.iterdir() if p.is_file()]
    assert any(p.name == "archive.sqlite" for p in files)
    for p in files:
        assert _mode(p) & 0o077 == 0, f"{p.name} is {_mode(p):04o}"


def test_session_file_is_created_0600_in_a_0700_folder(tmp_path: Path) -> None:
    import tgx_telegram

    old = os.umask(0)
    try:
        config = Config(api_id=12345, api_hash="0123456789abcdef0123456789abcdef",
                        env={"TGX_DATA_DIR": str(tmp_path / "data")})
        client = tgx_telegram.tgx_telegram_client(config)
        assert client is not None and not client.is_connected()
        session = tmp_path / "data" / "sessions" / "tgx.session"
        assert _mode(session.parent) == 0o700 and _mode(session) == 0o600
        # An existing session that someone made readable is tightened again.
        os.chmod(session, 0o644)
        os.chmod(session.parent, 0o755)
        client.session.close()
        tgx_telegram.tgx_telegram_client(config).session.close()
        assert _mode(session.parent) == 0o700 and _mode(session) == 0o600
    finally:
        os.umask(old)


# -- secrets never leak -------------------------------------------------------------------------------

API_HASH = "f00dfacecafebeef0123456789abcdef"
BOT_TOKEN = "7012345678:AAHfakefakefakefakefakefakefake12345"
PHONE = "+4917655500123"
CODE = "97531"
PASSWORD = "hunter2-correct-horse"
PROXY_PASSWORD = "s0cks-pa55word"
MTPROXY_SECRET = "00112233445566778899aabbccddeeff"
SECRETS = (API_HASH, BOT_TOKEN, PHONE, PHONE.lstrip("+"), CODE, PASSWORD, PROXY_PASSWORD, MTPROXY_SECRET)


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return [s for s in SECRETS if s.encode() in data]


def _files_leaking(root: Path, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found = {}
    for p in root.rglob("*"):
        if p.is_file() and p.name not in skip:
            leaks = _leaks(p.read_bytes())
            if leaks:
                found[str(p)] = leaks
    return found


def test_secrets_stay_out_of_every_output_of_a_verbose_export(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "tgx.toml", {"messages": 200, "big_file_mb": 0},
                       extra={"telegram": {"api_id": 24680, "api_hash": API_HASH, "bot_token": BOT_TOKEN,
                                           "proxy": f"socks5://tgx:{PROXY_PASSWORD}@proxy.example:1080"}})
    env = tgx_env(tmp_path, cfg, TGX_API_HASH=API_HASH, TGX_BOT_TOKEN=BOT_TOKEN,
                  TGX_PROXY=f"mtproxy://{MTPROXY_SECRET}@mt.example:443")
    runs = [
        ["-vv", "export", "@tgx_demo", "alice", "-o", "out", "-f", "jsonl,json,html,csv,sqlite,markdown,txt",
         "--media", "photo", "--json"],
        ["-vv", "export", "@nosuchchat", "-o", "out"],  # an error path
        ["-vv", "doctor", "--json"],
        ["-vv", "--proxy", f"http://tgx:{PROXY_PASSWORD}@proxy.example:3128", "doctor", "--json"],
        ["-vv", "--proxy", f"socks5://tgx:{PROXY_PASSWORD}@proxy.example", "doctor"],  # malformed: an error path
        ["-vv", "metrics", "show", "out"],
    ]
    for argv in runs:
        r = subprocess.run([sys.executable, "-m", "tgx", *argv], capture_output=True, text=True, timeout=300,
                           env=env, cwd=tmp_path)
        assert r.returncode in (0, 1, 2, 4), (argv, r.stderr)
        assert not _leaks(r.stdout) and not _leaks(r.stderr), (argv, _leaks(r.stdout + r.stderr))
    assert (tmp_path / "out" / "export_metrics.json").exists()
    assert _files_leaking(tmp_path / "out") == {}
    assert _files_leaking(tmp_path / "data", skip=("tgx.session",)) == {}


LOGIN_PLUGIN = """
import tgx
from telethon import errors, types

PHONE, CODE, PASSWORD = {phone!r}, {code!r}, {password!r}


class LoginClient:
    \"\"\"Telethon's login surface with real TL types and errors: one wrong code, then 2FA.\"\"\"

    authorized = False
    codes = 0

    async def connect(self):
        pass

    async def disconnect(self):
        pass

    async def is_user_authorized(self):
        return self.authorized

    async def get_me(self):
        return types.User(id=42, first_name="Ada", username="ada", phone=PHONE[1:], access_hash=1,
                          is_self=True) if self.authorized else None

    async def send_code_request(self, phone):
        assert phone == PHONE
        return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=5), phone_code_hash="h")

    async def sign_in(self, phone=None, code=None, *, password=None, bot_token=None, phone_code_hash=None):
        if password is not None:
            if password != PASSWORD:
                raise errors.PasswordHashInvalidError(request=None)
            self.authorized = True
            return None
        self.codes += 1
        if self.codes == 1 or code != CODE:
            raise errors.PhoneCodeInvalidError(request=None)
        raise errors.SessionPasswordNeededError(request=None)


@tgx.hookimpl(tryfirst=True)
def tgx_telegram_client(config):
    return LoginClient()
"""


def test_login_flow_never_echoes_phone_code_or_password(tmp_path: Path) -> None:
    """``tgx -vv login`` with phone, a wrong code, the code and the 2FA password piped on stdin."""
    site = tmp_path / "site"
    info = site / "tgx_fakelogin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgx-fakelogin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[tgx]\nfakelogin = tgx_fakelogin\n")
    (site / "tgx_fakelogin.py").write_text(LOGIN_PLUGIN.format(phone=PHONE, code=CODE, password=PASSWORD))
    env = tgx_env(tmp_path, None, TGX_API_ID="1", TGX_API_HASH=API_HASH)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    r = subprocess.run([sys.executable, "-m", "tgx", "-vv", "login"], input=f"{PHONE}\n00000\n{CODE}\n{PASSWORD}\n",
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "logged in as @ada" in r.stderr and "wrong code" in r.stderr
    assert _leaks(r.stdout + r.stderr) == [], r.stdout + r.stderr
    assert _files_leaking(tmp_path, skip=("tgx_fakelogin.py",)) == {}


def test_qr_login_tokens_and_session_strings_never_reach_output(tmp_path: Path) -> None:
    """``tgx -vv login --qr`` (with 2FA) and ``--session-string -``: the tg://login URL and its token,
    the password and the session string appear in no output and no file but the session itself."""
    import base64

    from telethon.sessions import StringSession
    from tgx.simulator.login import Login
    from tgx.testing import SimulatedTelegram

    cfg = write_config(tmp_path / "tgx.toml", {"seed": 3, "messages": 20, "big_file_mb": 0,
                                               "login": {"authorized": False, "qr_scan_after": 0.1,
                                                         "password": PASSWORD}})
    token = base64.urlsafe_b64encode(Login(3).token_bytes(1)).decode().rstrip("=")
    env = tgx_env(tmp_path, cfg)
    r = subprocess.run([sys.executable, "-m", "tgx", "-vv", "login", "--qr"], input=f"{PASSWORD}\n",
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "logged in as" in r.stderr, r.stderr
    assert token not in r.stdout + r.stderr and PASSWORD not in r.stdout + r.stderr

    async def export(client):  # a logged-in session of the same world, as a string
        return client.session.save()

    string = SimulatedTelegram(seed=3, messages=20, big_file_mb=0).run(export, session=StringSession())
    (tmp_path / "data" / "sessions" / "tgx.session").unlink()
    r = subprocess.run([sys.executable, "-m", "tgx", "-vv", "login", "--session-string", "-"], input=string,
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "session string imported" in r.stderr, r.stderr
    assert string not in r.stdout + r.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in ("tgx.session", "tgx.toml"):  # the scenario holds the password
            data = path.read_bytes()
            assert token.encode() not in data and string.encode() not in data and PASSWORD.encode() not in data, path


ACCOUNT_HASH = "beefcafe00112233445566778899aabb"  # [accounts.b] api_hash
ACCOUNT_PROXY_PASSWORD = "acc0unt-pr0xy-pw"


def test_secrets_of_several_accounts_stay_out_of_every_output(tmp_path: Path) -> None:
    """Two accounts, each with its own secrets (b: its own api_hash and proxy password; both a
    phone number): a verbose export with both, the accounts listing (checked online), doctor
    and a failing export never print, log or store any of them — the phones only masked."""
    b_phone = "+4915199988877"
    secrets = (ACCOUNT_HASH, ACCOUNT_PROXY_PASSWORD, PHONE, PHONE.lstrip("+"), b_phone, b_phone.lstrip("+"))
    scenario = {"session_files": True, "big_file_mb": 0,
                "accounts": [{"name": "a", "username": "acct_a", "phone": PHONE},
                             {"name": "b", "username": "acct_b", "phone": b_phone}],
                "chats": [{"kind": "channel", "username": "pub_one", "messages": 300, "media": False},
                          {"kind": "supergroup", "title": "b only", "id": 1800000002, "messages": 200,
                           "media": False, "members": ["b"]}]}
    cfg = write_config(tmp_path / "tgx.toml", scenario, extra={"accounts": {
        "use": ["a", "b"],
        "b": {"api_id": 13579, "api_hash": ACCOUNT_HASH,
              "proxy": f"socks5://bee:{ACCOUNT_PROXY_PASSWORD}@127.0.0.1:1081"}}})
    env = tgx_env(tmp_path, cfg)
    runs = [
        ["-vv", "export", "--all-dialogs", "-o", "out", "--json"],
        ["accounts", "--check", "--json"],
        ["accounts"],
        ["-vv", "doctor", "--online", "--json"],
        ["-vv", "export", "@nosuchchat", "--accounts", "a,b", "-o", "out"],  # an error path
    ]
    for argv in runs:
        r = subprocess.run([sys.executable, "-m", "tgx", *argv], capture_output=True, text=True, timeout=300,
                           env=env, cwd=tmp_path)
        assert r.returncode in (0, 1, 4), (argv, r.stderr)
        found = [s for s in secrets if s in r.stdout + r.stderr]
        assert not found, (argv, found)
    listing = subprocess.run([sys.executable, "-m", "tgx", "accounts", "--json"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=120)
    phones = {row["name"]: row["phone"] for row in __import__("json").loads(listing.stdout)}
    assert phones["a"] == "+49•••••••••23" and phones["b"] == "+49•••••••••77", phones
    for root in (tmp_path / "out", tmp_path / "data"):
        for p in root.rglob("*"):
            if p.is_file() and not p.name.endswith(".session"):
                data = p.read_bytes()
                assert not [s for s in secrets if s.encode() in data], p
