"""``tgx doctor``: one row per check, what to fix, ``--json``, exit 0 only when nothing fails."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from tgx.cli import main
from tgx.errors import ExitCode

API = {"TGX_API_ID": "12345", "TGX_API_HASH": "0123456789abcdef0123456789abcdef"}


@pytest.fixture
def doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``doctor(*options, **env) -> (exit code, {check name: row}, stdout)``, with ``--json`` unless
    ``json_output=False``."""
    for name in list(os.environ):
        if name.startswith("TGX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TGX_CONFIG", str(tmp_path / "tgx.toml"))
    (tmp_path / "tgx.toml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "tgx.toml").touch()  # $TGX_CONFIG must name an existing file
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, json_output: bool = True, **env: str) -> tuple[int, dict[str, dict[str, Any]], str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(["doctor", *argv, *(["--json"] if json_output else [])])
        out = capsys.readouterr().out
        if not json_output:
            return code, {}, out
        doc = json.loads(out)
        assert doc["ok"] is (code == 0)
        return code, {row["name"]: row for row in doc["checks"]}, out

    return run


def _session(tmp_path: Path, *, logged_in: bool = True, file_mode: int = 0o600, dir_mode: int = 0o700) -> Path:
    folder = tmp_path / "data" / "sessions"
    folder.mkdir(parents=True)
    path = folder / "tgx.session"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER, "
                "auth_key BLOB, takeout_id INTEGER)")
    con.execute("INSERT INTO sessions VALUES (2, '149.154.167.41', 443, ?, NULL)",
                (os.urandom(256) if logged_in else b"",))
    con.commit()
    con.close()
    os.chmod(path, file_mode)
    os.chmod(folder, dir_mode)
    return path


def test_all_ok_with_a_private_logged_in_session(doctor, tmp_path):
    _session(tmp_path)
    code, rows, _ = doctor(**API)
    assert code == 0, rows
    assert rows["credentials"]["status"] == "ok"
    assert rows["session permissions"]["status"] == "ok"
    assert rows["session"]["status"] == "ok" and "logged in" in rows["session"]["detail"]
    assert rows["cryptg"]["status"] == "ok"  # a test dependency of tgx itself
    assert rows["plugins"]["status"] == "ok"
    assert "config" in rows and "data dir" in rows and "encoder cpu" in rows and "ffmpeg" in rows
    for row in rows.values():  # every row that is not ok says what to do
        assert row["status"] in ("ok", "warn", "fail")
        assert row["status"] == "ok" or row["fix"], row


@pytest.mark.parametrize(("no_openssl", "backend"), [(False, "the system's OpenSSL"), (True, "pure Python")])
def test_without_cryptg_doctor_names_the_aes_telethon_really_uses(doctor, monkeypatch, no_openssl, backend):
    from telethon.crypto import aes, libssl

    monkeypatch.setattr(aes, "cryptg", None)
    if no_openssl:
        monkeypatch.setattr(libssl, "decrypt_ige", None)
    _code, rows, _ = doctor()
    row = rows["cryptg"]
    assert row["status"] == "warn" and row["fix"] == "pip install cryptg"
    assert f"Telethon decrypts with {backend}" in row["detail"] and "MiB/s here" in row["detail"]


def test_not_logged_in_and_no_credentials(doctor):
    code, rows, _ = doctor()
    assert code == ExitCode.FAILURE
    assert rows["credentials"]["status"] == "fail" and "TGX_API_ID" in rows["credentials"]["detail"]
    assert rows["session"]["status"] == "fail" and rows["session"]["fix"] == "run `tgx login`"


def test_empty_session_file_is_not_a_login(doctor, tmp_path):
    _session(tmp_path, logged_in=False)
    code, rows, _ = doctor(**API)
    assert code == ExitCode.FAILURE
    assert rows["session"]["status"] == "fail" and "no login" in rows["session"]["detail"]


def test_readable_session_is_a_failure_with_the_chmod_to_run(doctor, tmp_path):
    path = _session(tmp_path, file_mode=0o644, dir_mode=0o755)
    code, rows, _ = doctor(**API)
    assert code == ExitCode.FAILURE
    row = rows["session permissions"]
    assert row["status"] == "fail" and "0644" in row["detail"] and "0755" in row["detail"]
    assert row["fix"] == f"chmod 700 {path.parent} && chmod 600 {path}"
    os.chmod(path, 0o600)
    os.chmod(path.parent, 0o700)
    assert doctor(**API)[0] == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_simulated_telegram_needs_no_login(doctor, tmp_path):
    (tmp_path / "tgx.toml").write_text('[simulated]\nmessages = 10\n')
    code, rows, _ = doctor()
    assert code == 0, rows
    assert rows["telegram"]["status"] == "ok" and "credentials" not in rows


def test_config_problems_are_rows(doctor, tmp_path):
    (tmp_path / "tgx.toml").write_text('[export]\nformat = "jsonl,pdf"\n[nosuchplugin]\nx = 1\n'
                                       '[simulated]\nfaults = [{type = "nope"}]\n')
    code, rows, _ = doctor()
    assert code == ExitCode.FAILURE
    assert rows["config [export] format"]["status"] == "fail" and "pdf" in rows["config [export] format"]["detail"]
    assert rows["config [nosuchplugin]"]["status"] == "warn"
    assert rows["config [simulated]"]["status"] == "fail" and "nope" in rows["config [simulated]"]["detail"]


def test_unreadable_config_stops_with_exit_3(doctor, tmp_path, capsys):
    (tmp_path / "tgx.toml").write_text("[export\n")
    code = main(["doctor"])
    assert code == ExitCode.CONFIG
    assert "invalid TOML" in capsys.readouterr().err


def test_broken_ffmpeg_and_missing_vaapi_device(doctor, tmp_path):
    _session(tmp_path)
    code, rows, _ = doctor(**API, TGX_FFMPEG=str(tmp_path / "no-ffmpeg"), VAAPI_DEVICE_PATH=str(tmp_path / "dri"))
    assert code == ExitCode.FAILURE
    assert rows["ffmpeg"]["status"] == "fail" and "TGX_FFMPEG" in rows["ffmpeg"]["detail"]
    assert rows["encoder vaapi"]["status"] == "warn" and rows["encoder vaapi"]["fix"]


def test_a_plugin_that_failed_to_load(doctor, tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "tgx_broken-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgx-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tgx]\nbroken = tgx_broken_plugin\n")
    (site / "tgx_broken_plugin.py").write_text("raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(site))
    _session(tmp_path)
    code, rows, _ = doctor(**API)
    assert code == ExitCode.FAILURE
    row = rows["plugin broken"]
    assert row["status"] == "fail" and "needs libfoo" in row["detail"]
    assert "tgx plugins disable broken" in row["fix"]


def test_table_output(doctor, tmp_path):
    _session(tmp_path)
    code, _, out = doctor(json_output=False, **API)
    assert code == 0
    for word in ("check", "status", "what to do", "session permissions", "everything needed works"):
        assert word in out


def test_online_check_against_the_simulated_telegram(doctor, tmp_path):
    (tmp_path / "tgx.toml").write_text('[simulated]\nmessages = 10\n')
    code, rows, _ = doctor("--online")
    assert code == 0, rows
    assert rows["online"]["status"] == "ok" and "@tgx_tester" in rows["online"]["detail"]
    (tmp_path / "tgx.toml").write_text('[simulated]\nmessages = 10\nfaults = [{type = "revoked"}]\n')
    code, rows, _ = doctor("--online")
    assert code == ExitCode.FAILURE
    assert rows["online"]["status"] == "fail" and "tgx login" in rows["online"]["fix"]
