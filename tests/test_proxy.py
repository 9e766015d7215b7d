"""Proxies (issue 17): ``--proxy`` / ``TGX_PROXY`` / ``[telegram] proxy`` reach the real
``TelegramClient`` as Telethon's own ``proxy=`` / ``connection=`` arguments, malformed URLs and
unreachable proxies are one line that names the proxy without its password, and ``tgx doctor``
reports it by label."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from telethon.network import ConnectionTcpFull, ConnectionTcpMTProxyRandomizedIntermediate
from telethon.tl import types
from tgx.config import Config, load_config
from tgx.errors import ConfigError, DependencyError, ExitCode
from tgx.host.manager import get_plugin_manager
from tgx.proxy import parse_proxy, safe_label
from tgxrun import tgx

PASSWORD = "pr0xy-s3cret-pw"
SECRET = "0123456789abcdef0123456789abcdef"
API_HASH = "0123456789abcdef0123456789abcdea"


@pytest.mark.parametrize(("url", "kwargs", "label"), [
    (f"socks5://alice:{PASSWORD}@proxy.example:1080",
     {"proxy": {"proxy_type": "socks5", "addr": "proxy.example", "port": 1080, "rdns": True,
                "username": "alice", "password": PASSWORD}}, "socks5://proxy.example:1080"),
    ("SOCKS5://10.0.0.1:9050", {"proxy": {"proxy_type": "socks5", "addr": "10.0.0.1", "port": 9050, "rdns": True}},
     "socks5://10.0.0.1:9050"),
    ("socks4://uid@10.0.0.2:1080",
     {"proxy": {"proxy_type": "socks4", "addr": "10.0.0.2", "port": 1080, "rdns": True, "username": "uid"}},
     "socks4://10.0.0.2:1080"),
    ("http://u:p%40ss%3A1@[2001:db8::1]:3128",
     {"proxy": {"proxy_type": "http", "addr": "2001:db8::1", "port": 3128, "rdns": True, "username": "u",
                "password": "p@ss:1"}}, "http://[2001:db8::1]:3128"),
    (f"mtproxy://{SECRET}@mt.example:443",
     {"connection": ConnectionTcpMTProxyRandomizedIntermediate, "proxy": ("mt.example", 443, "dd" + SECRET)},
     "mtproxy://mt.example:443"),
    (f"mtproxy://dd{SECRET}@mt.example:443",
     {"connection": ConnectionTcpMTProxyRandomizedIntermediate, "proxy": ("mt.example", 443, "dd" + SECRET)},
     "mtproxy://mt.example:443"),
    ("mtproxy://ASNFZ4mrze8BI0VniavN7w@mt.example:8888",  # the same 16 bytes in (url-safe) base64
     {"connection": ConnectionTcpMTProxyRandomizedIntermediate, "proxy": ("mt.example", 8888, "dd" + SECRET)},
     "mtproxy://mt.example:8888"),
])
def test_proxy_urls_become_telethon_arguments(url, kwargs, label):
    proxy = parse_proxy(url)
    assert proxy is not None
    assert proxy.client_kwargs() == kwargs
    assert proxy.label() == label
    assert PASSWORD not in repr(proxy) and SECRET not in repr(proxy)


@pytest.mark.parametrize("url", [None, "", "  ", "none", "NONE"])
def test_no_proxy(url):
    assert parse_proxy(url) is None


@pytest.mark.parametrize(("url", "problem"), [
    (f"ftp://u:{PASSWORD}@h:21", "unknown scheme 'ftp'"),
    (f"socks5://u:{PASSWORD}@h", "no port"),
    (f"socks5://u:{PASSWORD}@h:", "no port"),
    (f"socks5://u:{PASSWORD}@h:0", "port must be a number from 1 to 65535"),
    (f"socks5://u:{PASSWORD}@h:70000", "port must be a number from 1 to 65535"),
    (f"socks5://u:{PASSWORD}@h:socks", "port must be a number"),
    (f"socks5://u:{PASSWORD}@:1080", "no host"),
    (f"http://u:{PASSWORD}@h:8080/path", "no path or query"),
    (f"socks5://u:{PASSWORD}/x@h:1080", "must be %-encoded"),  # a raw / in the password
    (f"socks5://u:{PASSWORD}@x@h:1080", "must be %-encoded"),  # a raw @ in the password
    (f"socks4://u:{PASSWORD}@h:1080", "SOCKS4 has a user id but no password"),
    ("mtproxy://h:443", "needs its secret"),
    (f"mtproxy://{PASSWORD}@h:443", "must be 16 bytes"),
    ("mtproxy://0123@h:443", "must be 16 bytes"),
    (f"mtproxy://ee{SECRET}676f6f676c652e636f6d@h:443", "fake-TLS"),
    (PASSWORD, "not a URL"),
])
def test_malformed_proxy_urls_are_one_line_without_the_password(url, problem):
    with pytest.raises(ConfigError) as info:
        parse_proxy(url, source="TGX_PROXY")
    message = info.value.message
    assert problem in message and "(TGX_PROXY)" in message and "\n" not in message
    assert PASSWORD not in message and SECRET not in message and "0123@" not in message
    assert info.value.exit_code == ExitCode.CONFIG


def test_safe_label_drops_everything_before_the_last_at():
    assert safe_label(f"socks5://a:{PASSWORD}@b@host:1/p?q") == "socks5://host:1"
    assert safe_label("no url") == "a value that is not a URL"


# -- the client gets the parameters ------------------------------------------------------------------


def _client(tmp_path: Path, **env: str):
    """The real TelegramClient that the built-in telegram plugin builds for this environment."""
    config = load_config(tmp_path / "none.toml" if not (tmp_path / "tgx.toml").exists() else tmp_path / "tgx.toml",
                         env={"TGX_DATA_DIR": str(tmp_path / "data"), "TGX_API_ID": "12345",
                              "TGX_API_HASH": API_HASH, **env}, may_create=True)
    pm = get_plugin_manager(config, load_entrypoints=False)
    return config, pm.hook.tgx_telegram_client(config=config)


def test_socks5_from_env_reaches_the_constructed_client(tmp_path):
    _config, client = _client(tmp_path, TGX_PROXY=f"socks5://alice:{PASSWORD}@127.0.0.1:1080")
    assert client._proxy == {"proxy_type": "socks5", "addr": "127.0.0.1", "port": 1080, "rdns": True,
                             "username": "alice", "password": PASSWORD}
    assert client._connection is ConnectionTcpFull
    assert client._init_request.proxy is None


def test_mtproxy_from_the_config_file_reaches_the_constructed_client(tmp_path):
    (tmp_path / "tgx.toml").write_text(f'[telegram]\nproxy = "mtproxy://{SECRET}@mt.example:443"\n')
    config, client = _client(tmp_path)
    assert config.proxy_source == f"[telegram] proxy in {tmp_path / 'tgx.toml'}"
    assert client._connection is ConnectionTcpMTProxyRandomizedIntermediate
    assert client._proxy == ("mt.example", 443, "dd" + SECRET)
    # Telethon tells Telegram which MTProxy it came through (initConnection.proxy)
    assert client._init_request.proxy == types.InputClientProxy("mt.example", 443)


def test_env_beats_the_file_and_none_means_direct(tmp_path):
    (tmp_path / "tgx.toml").write_text('[telegram]\nproxy = "socks5://file.example:1080"\n')
    config, client = _client(tmp_path, TGX_PROXY="http://env.example:3128")
    assert (config.proxy_source, client._proxy["addr"]) == ("TGX_PROXY", "env.example")
    config, client = _client(tmp_path, TGX_PROXY="none")
    assert client._proxy is None and client._connection is ConnectionTcpFull


def test_an_accounts_proxy_loses_only_to_the_flag():
    config = Config()
    config.set_proxy("socks5://global.example:1080", "TGX_PROXY")
    assert config.proxy_for("http://account.example:3128") == "http://account.example:3128"
    assert config.proxy_for(None) == "socks5://global.example:1080"
    config.set_proxy("socks5://flag.example:1080", "--proxy")
    assert config.proxy_for("http://account.example:3128") == "socks5://flag.example:1080"


def test_a_socks_proxy_without_python_socks_is_refused_not_ignored(tmp_path, monkeypatch):
    """Telethon only warns and then connects *directly*: for someone behind censorship, worse than failing."""
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(DependencyError) as info:
        _client(tmp_path, TGX_PROXY=f"socks5://alice:{PASSWORD}@127.0.0.1:1080")
    assert "socks5://127.0.0.1:1080 needs python-socks" in info.value.message


# -- through the real CLI ----------------------------------------------------------------------------


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("tgx: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(("how", "code"), [("flag", ExitCode.USAGE), ("env", ExitCode.CONFIG),
                                           ("file", ExitCode.CONFIG)])
def test_a_bad_proxy_fails_cleanly_through_the_cli(tmp_path, how, code):
    url = f"socks5://alice:{PASSWORD}@proxy.example"  # no port
    args, env = ["chats"], {}
    config = None
    if how == "flag":
        args = ["--proxy", url, "chats"]
    elif how == "env":
        env = {"TGX_PROXY": url}
    else:
        config = tmp_path / "tgx.toml"
        config.write_text(f'[telegram]\nproxy = "{url}"\n')
    r = tgx(tmp_path, "-vv", *args, config=config, TGX_API_ID="1", TGX_API_HASH=API_HASH, **env)
    assert r.returncode == code, r.stderr
    line = _one_error_line(r.stderr)
    assert "bad proxy socks5://proxy.example" in line and "no port" in line
    assert PASSWORD not in r.stdout + r.stderr and "alice" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_a_proxy_of_the_wrong_type_in_the_file_is_not_echoed(tmp_path):
    config = tmp_path / "tgx.toml"
    config.write_text("[telegram]\nproxy = 31337\n")
    r = tgx(tmp_path, "doctor", config=config)
    assert r.returncode == ExitCode.CONFIG
    assert "telegram.proxy must be a proxy URL" in _one_error_line(r.stderr) and "31337" not in r.stderr


def test_an_unreachable_proxy_is_one_line_naming_it_by_label(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: the proxy refuses at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = tgx(tmp_path, "--proxy", f"socks5://alice:{PASSWORD}@127.0.0.1:{port}", "chats",
            TGX_API_ID="1", TGX_API_HASH=API_HASH, timeout=120)
    assert r.returncode == ExitCode.NETWORK, r.stderr
    line = _one_error_line(r.stderr)
    assert f"through proxy socks5://127.0.0.1:{port} from --proxy" in line, line
    assert PASSWORD not in r.stdout + r.stderr


def test_doctor_reports_the_proxy_by_label_and_the_flag_wins(tmp_path):
    r = tgx(tmp_path, "--proxy", f"mtproxy://{SECRET}@mt.example:443", "doctor", "--json",
            TGX_PROXY=f"socks5://alice:{PASSWORD}@env.example:1080")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["proxy"]["status"] == "ok"
    assert checks["proxy"]["detail"] == "mtproxy://mt.example:443 (from --proxy)"
    assert SECRET not in r.stdout + r.stderr and PASSWORD not in r.stdout + r.stderr
    r = tgx(tmp_path, "doctor", "--json", TGX_PROXY=f"socks5://alice:{PASSWORD}@env.example:1080")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["proxy"]["detail"] == "socks5://env.example:1080 (from TGX_PROXY)"
    r = tgx(tmp_path, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["proxy"]["detail"].startswith("none: tgx connects directly")
