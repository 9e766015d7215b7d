"""Installed plugins that fail are reported with their reason and never counted as success:
a registration hook that raises (shown by `tgx plugins`, traceback with -v), a hookimpl declaring
an argument the hookspec does not have (the whole pluggy reason, not its first line), and a format
writer that raises (`tgx render` names it failed and lists only the formats that worked). Real
entry points, real `tgx` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_reliability import write_config
from tgx.errors import ExitCode
from tgxrun import tgx_env

RAISING = '''
import tgx

@tgx.hookimpl
def tgx_register_formats():
    raise RuntimeError("boom while registering")
'''

EXTRA_ARG = '''
import tgx

@tgx.hookimpl
def tgx_register_formats(extra):
    return []
'''

BAD_WRITER = '''
import tgx
from tgx.specs import FormatSpec


class Writer:
    def __init__(self, ctx):
        self.ctx = ctx

    def open(self):
        self.fh = self.ctx.open("messages.boom", "w")

    def write(self, messages):
        raise ValueError("the boom writer broke")

    def close(self):
        self.fh.close()

    def abort(self):
        pass


@tgx.hookimpl
def tgx_register_formats():
    return FormatSpec("boom", Writer, "always fails")
'''


def _install(tmp_path: Path, module: str, source: str) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    dist = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[tgx]\n{module.removeprefix('tgx_')} = {module}\n")
    (site / f"{module}.py").write_text(source)
    env = tgx_env(tmp_path, write_config(tmp_path / "tgx.toml", {"chats": [
        {"kind": "channel", "username": "boomchan", "title": "Boom", "messages": 300, "media": False}]}))
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def _info(listing: str, name: str) -> dict:
    return next(p for p in json.loads(listing) if p["name"] == name)


def test_a_registration_hook_that_raises_shows_in_tgx_plugins(tmp_path):
    env = _install(tmp_path, "tgx_raising", RAISING)
    listing = _run(tmp_path, env, "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    info = _info(listing.stdout, "raising")
    assert info["enabled"] is True
    assert info["problems"] == ["tgx_register_formats raised RuntimeError: boom while registering"]

    table = _run(tmp_path, env, "plugins")
    row = next(line for line in table.stdout.splitlines() if line.startswith("raising"))
    assert "yes, failing" in row and "boom while registering" in row
    assert "Traceback" not in table.stderr

    verbose = _run(tmp_path, env, "-v", "plugins")
    assert "Traceback (most recent call last)" in verbose.stderr
    assert 'raise RuntimeError("boom while registering")' in verbose.stderr


def test_a_hookimpl_with_an_unknown_argument_is_reported_with_the_whole_reason(tmp_path):
    env = _install(tmp_path, "tgx_extraarg", EXTRA_ARG)
    listing = _run(tmp_path, env, "plugins", "--json")
    assert listing.returncode == 0, listing.stderr
    info = _info(listing.stdout, "extraarg")
    assert info["enabled"] is False
    assert info["error"].startswith("PluginValidationError: Plugin 'extraarg' for hook 'tgx_register_formats'")
    assert "Argument(s) {'extra'} are declared in the hookimpl but can not be found in the hookspec" in info["error"]
    warning = next(line for line in listing.stderr.splitlines() if "extraarg" in line)
    assert "{'extra'}" in warning


def test_a_writer_that_raises_fails_its_format_and_is_never_listed_as_rendered(tmp_path):
    env = _install(tmp_path, "tgx_boom", BAD_WRITER)
    export = _run(tmp_path, env, "export", "@boomchan", "-o", "out", "-f", "jsonl,boom")
    assert export.returncode == ExitCode.FAILURE, export.stderr
    assert "tgx: error: boomchan: format 'boom' failed: ValueError: the boom writer broke" in export.stderr
    render = _run(tmp_path, env, "render", "out", "-f", "boom,jsonl")
    assert render.returncode == ExitCode.FAILURE
    assert "format 'boom' failed: ValueError: the boom writer broke" in render.stderr
    rendered = [line for line in render.stderr.splitlines() if ": rendered " in line]
    assert rendered == [f"tgx: Boom: rendered jsonl into {Path('out') / 'boomchan'}"]
    assert not (tmp_path / "out" / "boomchan" / "messages.boom").exists()


def test_a_format_of_a_disabled_plugin_names_the_plugin(tmp_path):
    env = _install(tmp_path, "tgx_boom", BAD_WRITER)
    env["TGX_DISABLE_PLUGINS"] = "boom"
    r = _run(tmp_path, env, "export", "@boomchan", "-o", "out", "-f", "boom")
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert r.stderr.splitlines()[0] == ("tgx: error: format 'boom' is provided by plugin 'boom', which is not "
                                        "enabled (disabled by TGX_DISABLE_PLUGINS)")
    assert "`tgx plugins enable boom`" in r.stderr
    assert not (tmp_path / "out").exists()
    unknown = _run(tmp_path, env, "export", "@boomchan", "-o", "out", "-f", "nosuch")
    assert "unknown format 'nosuch'" in unknown.stderr


EOF_CLIENT = '''
import asyncio
import tgx


class Session:
    server_address, port = "127.0.0.9", 443


class HalfAnswer:
    """What Telethon raises when something on the way (a captive portal, an HTTP proxy) answers."""

    session = Session()

    async def connect(self):
        raise asyncio.IncompleteReadError(b"HTTP/1.1 403", 1347703872)

    def disconnect(self):
        return None


@tgx.hookimpl(tryfirst=True)
def tgx_telegram_client(config):
    return HalfAnswer()
'''


def test_a_connection_that_fails_mid_handshake_is_one_line_exit_6(tmp_path):
    env = _install(tmp_path, "tgx_halfanswer", EOF_CLIENT)
    env.pop("TGX_SIMULATED", None)
    (tmp_path / "plain.toml").write_text("")
    env["TGX_CONFIG"] = str(tmp_path / "plain.toml")
    env.update(TGX_API_ID="1", TGX_API_HASH="0" * 32)
    r = _run(tmp_path, env, "chats")
    assert r.returncode == ExitCode.NETWORK, r.stderr
    assert r.stderr.splitlines()[0] == (
        "tgx: error: cannot connect to Telegram at 127.0.0.9:443: IncompleteReadError: 12 bytes read on a total "
        "of 1347703872 expected bytes (no proxy: tgx connects directly; HTTP(S)_PROXY variables are not used)")
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
