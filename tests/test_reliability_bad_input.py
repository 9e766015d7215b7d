# ruff: noqa: F811 - the fixtures imported from test_reliability are parameters here
"""Bad input and hostile conditions: one clear line, a meaningful exit code, nothing exported touched.

Corrupt or truncated archive, a broken config, an output folder that belongs to another chat,
a chat that becomes private mid-export, a revoked session, plugins that raise inside their hooks,
and a full disk. Each runs the real ``tgx export`` against the simulated Telegram.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import tgx
from test_reliability import (  # noqa: F401 - baseline and run_tgx are fixtures
    CHANNEL,
    CHAT,
    archive_state,
    assert_same_export,
    baseline,
    clean,
    error_lines,
    export_args,
    faulty,
    one_error,
    run_tgx,
    snapshot,
    write_config,
)
from tgx.config import load_config
from tgx.errors import ExitCode
from tgx.host.manager import get_plugin_manager
from tgx.specs import FormatSpec, MetricsSinkSpec, PeerResolverSpec
from tgxrun import archived_count, read_jsonl, tgx_env

SMALL = {"kind": "channel", "username": "tiny", "title": "Tiny", "messages": 120, "media": False}


@pytest.fixture
def exported(tmp_path: Path, run_tgx) -> tuple[Path, dict[str, str]]:
    """A finished export of SMALL in tmp_path/out and a snapshot of its files."""
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL]})
    r = run_tgx(cfg, "export", "@tiny", "-o", "out", "-f", "jsonl,csv")
    assert r.returncode == 0, r.stderr
    return cfg, snapshot(tmp_path / "out")


# -- the archive ----------------------------------------------------------------------------------------


def _truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _garbage_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = b"this is not an SQLite file".ljust(100, b"!")
    db.write_bytes(bytes(data))


def _garbage_pages(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for start in range(page, len(data), page):  # every page but the first (the schema stays readable)
        data[start:start + page] = bytes((i * 37 + 11) & 0xFF for i in range(page))
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _garbage_header, _garbage_pages],
                         ids=["truncated", "not-sqlite", "corrupt-pages"])
def test_damaged_archive_is_reported_and_nothing_is_touched(tmp_path, run_tgx, exported, damage):
    cfg, files = exported
    db = tmp_path / "out" / ".tgx" / "archive.sqlite"
    for extra in db.parent.glob("archive.sqlite-*"):
        extra.unlink()
    damage(db)
    damaged = db.read_bytes()
    r = run_tgx(cfg, "export", "@tiny", "-o", "out", "-f", "jsonl,csv")
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    line = one_error(r)
    assert "archive" in line and "corrupt" in line
    assert "move it away" in line or ".recover" in line
    assert snapshot(tmp_path / "out") == files
    assert db.read_bytes() == damaged  # not "repaired" behind the user's back


# -- config -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "words"), [
    ('[export]\nformat = "jsonl"\nfromat = "csv"\n', "export.fromat"),
    ("[export\nformat = 1\n", "invalid TOML"),
    ('[simulated]\nchats = [{kind = "channel", username = "tiny", mesages = 5}]\n', "mesages"),
    # wrong types: the file and the key, never a TypeError
    ("[export]\nout = 5\n", "export.out must be a non-empty path string, not 5"),
    ('[export]\nout = ""\n', "export.out must be a non-empty path string"),
    ("[export]\nformat = 7\n", "export.format must be a format name or a list"),
    ('[export]\nparallel_files = "many"\n', "export.parallel_files must be a whole number from 1 to 32, not 'many'"),
    ('[export]\nmax_flood_wait = "x"\n', "export.max_flood_wait must be a number of seconds"),
    ("[export]\nmedia = true\n", "export.media must be"),
    ("[export]\ncrf = 99\n", "export.crf must be a whole number from 0 to 51"),
    ('[export]\ntranscode = "sometimes"\n', "export.transcode must be one of"),
    ("[export]\nmetrics_interval = 0\n", "export.metrics_interval must be a number of seconds above 0"),
    ('[telegram]\nflood_sleep_threshold = "60"\n', "telegram.flood_sleep_threshold must be"),
    ('[plugins]\ndisable = "html"\nload = [1]\n', "plugins.load must be a list of plugin names"),
    ("[export]\nmax_size = true\n", "export.max_size must be"),
    # well-typed but wrong: still the file's key, never a flag the user did not pass
    ('[export]\nmedia = "bogus"\n', "bad.toml: export.media: unknown media kind 'bogus'"),
    ('[export]\nmedia = ["photo", "none"]\n', "export.media: 'none' cannot be combined"),
    ('[export]\nmax_size = "lots"\n', "export.max_size"),
])
def test_broken_config_is_one_line_exit_3(tmp_path, run_tgx, exported, text, words):
    _cfg, files = exported
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    r = run_tgx(bad, "export", "@tiny", "-o", "out", "-f", "jsonl,csv")
    assert r.returncode == ExitCode.CONFIG, r.stderr
    line = one_error(r)
    assert words in line
    assert snapshot(tmp_path / "out") == files


def test_a_wrong_typed_secret_is_never_echoed(tmp_path, run_tgx):
    bad = tmp_path / "bad.toml"
    bad.write_text("[telegram]\napi_hash = 271828182845904523536\n")
    r = run_tgx(bad, "export", "@tiny", "-o", "out")
    assert r.returncode == ExitCode.CONFIG, r.stderr
    line = one_error(r)
    assert "telegram.api_hash must be a string, not a number" in line
    assert "271828" not in r.stderr + r.stdout


def test_formats_as_a_toml_list(tmp_path, run_tgx):
    """``format = ["jsonl", "csv"]`` (how docs/configuration.md writes it) works like ``-f jsonl,csv``."""
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL]},
                       extra={"export": {"format": ["jsonl", "csv"], "out": "listed"}})
    r = run_tgx(cfg, "export", "@tiny")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "listed" / "tiny"
    assert (folder / "messages.jsonl").is_file() and (folder / "messages.csv").is_file()


# -- the output folder of another chat ----------------------------------------------------------------------


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
def test_folder_that_belongs_to_another_chat(tmp_path, run_tgx, cache):
    """@news now names another chat, and the first one is gone. With the peer cache on, its stale
    answer (the first chat, for its TTL) fails the first request; tgx asks Telegram again and
    refuses the same way."""
    first = write_config(tmp_path / "a.toml", {"chats": [{**SMALL, "username": "news", "id": 1_800_000_001}]})
    second = write_config(tmp_path / "b.toml", {"chats": [{**SMALL, "username": "news", "id": 1_800_000_777}]})
    assert run_tgx(first, "export", "@news", "-o", "out", "-f", "jsonl").returncode == 0
    files, state = snapshot(tmp_path / "out"), archive_state(tmp_path / "out")
    r = run_tgx(second, *([] if cache else ["-p", "no:peer_cache"]), "export", "@news", "-o", "out", "-f", "jsonl")
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    line = one_error(r)
    assert "news/ in this output belongs to another chat" in line and "1800000001" in line
    assert "different --out" in r.stderr
    assert snapshot(tmp_path / "out") == files
    assert archive_state(tmp_path / "out")["messages"] == state["messages"]


def test_a_cached_username_that_moved_while_its_chat_lives_on(tmp_path, run_tgx):
    """@news moved from chat 1 (now @oldnews, still readable) to chat 777. The cache still says
    chat 1; its first page shows @oldnews, so tgx asks Telegram again instead of exporting chat 1
    as @news — and refuses, since news/ here holds chat 1's export."""
    old = {**SMALL, "username": "news", "id": 1_800_000_001}
    first = write_config(tmp_path / "a.toml", {"chats": [old]})
    second = write_config(tmp_path / "b.toml", {"chats": [{**old, "username": "oldnews"},
                                                          {**SMALL, "username": "news", "id": 1_800_000_777}]})
    assert run_tgx(first, "export", "@news", "-o", "out", "-f", "jsonl").returncode == 0
    files, state = snapshot(tmp_path / "out"), archive_state(tmp_path / "out")
    r = run_tgx(second, "export", "@news", "-o", "out", "-f", "jsonl")
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    assert "news/ in this output belongs to another chat (id -1001800000001" in one_error(r)
    assert snapshot(tmp_path / "out") == files
    assert archive_state(tmp_path / "out") == state
    # A fresh folder (no cache there) gets the chat that is @news now.
    fresh = run_tgx(second, "export", "@news", "-o", "out2", "-f", "jsonl")
    assert fresh.returncode == 0, fresh.stderr
    assert {m["chat_id"] for m in read_jsonl(tmp_path / "out2" / "news" / "messages.jsonl")} == {-1001800000777}


# -- Telegram says no ----------------------------------------------------------------------------------------


def test_chat_becomes_private_mid_export(tmp_path, run_tgx, baseline):
    cfg = faulty(tmp_path, {"type": "private", "chat": CHAT, "after": 10})
    r = run_tgx(cfg, *export_args("out"))
    assert r.returncode == ExitCode.NOT_FOUND, r.stderr
    line = one_error(r)
    assert "no longer accessible" in line and "private" in line
    assert "kept" in r.stderr
    assert 0 < archived_count(tmp_path / "out") < CHANNEL["messages"]
    r = run_tgx(clean(tmp_path), *export_args("out"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)


def test_chat_becomes_private_after_a_cached_resolution_is_still_exit_4(tmp_path, run_tgx, baseline):
    """A rerun resolves the chat from the peer cache; the chat turns private after a few pages.
    That is the chat changing, not the cache being stale: the same exit 4 and message as without
    a cache (no re-resolution that would report it differently)."""
    r = run_tgx(clean(tmp_path), *export_args("out", "--limit", "200"))
    assert r.returncode == 0, r.stderr
    r = run_tgx(faulty(tmp_path, {"type": "private", "chat": CHAT, "after": 5}), *export_args("out"))
    assert r.returncode == ExitCode.NOT_FOUND, r.stderr
    line = one_error(r)
    assert "no longer accessible" in line and "private" in line
    assert 200 < archived_count(tmp_path / "out") < CHANNEL["messages"]
    report = json.loads((tmp_path / "out" / "export_metrics.json").read_text())
    assert report["caches"]["peer_cache"]["hits"] == 1, report["caches"]  # resolved from the cache
    r = run_tgx(clean(tmp_path), *export_args("out"))
    assert r.returncode == 0, r.stderr
    assert_same_export(tmp_path / "out", baseline)


def test_revoked_session(tmp_path, run_tgx):
    cfg = faulty(tmp_path, {"type": "revoked", "after": 8})
    r = run_tgx(cfg, *export_args("out"))
    assert r.returncode == ExitCode.AUTH, r.stderr
    one_error(r)
    assert "tgx login" in r.stderr
    assert archive_state(tmp_path / "out")["integrity"] == [("ok",)]


# -- plugins that raise inside their hooks --------------------------------------------------------------------


class _BoomWriter:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def open(self) -> None:
        self.file = self.ctx.open("boom.txt")
        self.file.write("partial\n")

    def write(self, messages: Any) -> None:
        raise RuntimeError("boom in write")

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _BoomSink:
    def event(self, snapshot: Any) -> None:
        raise RuntimeError("boom in event")

    def report(self, report: Any) -> None:
        raise RuntimeError("boom in report")

    def close(self) -> None:
        pass


class _BoomResolver:
    async def resolve(self, ref: Any) -> Any:
        raise RuntimeError("boom in resolve")

    def learn(self, ref: Any, resolved: Any) -> None:
        raise RuntimeError("boom in learn")

    def stats(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


class BrokenPlugins:
    @tgx.hookimpl
    def tgx_register_formats(self) -> Any:
        return FormatSpec("boom", _BoomWriter, "raises while writing")

    @tgx.hookimpl
    def tgx_register_metrics_sinks(self, config: Any) -> Any:
        return MetricsSinkSpec("boomsink", lambda ctx: _BoomSink(), "raises on every event")

    @tgx.hookimpl
    def tgx_register_peer_resolvers(self, config: Any) -> Any:
        return PeerResolverSpec("boomresolver", 1000, lambda ctx: _BoomResolver())


def test_plugins_that_raise(tmp_path, baseline, capsys, monkeypatch):
    from tgx.cli import run

    monkeypatch.chdir(tmp_path)
    config = load_config(clean(tmp_path), env={"TGX_DATA_DIR": str(tmp_path / "data")})
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    pm.register(BrokenPlugins(), name="broken")
    code = run(pm, config, [*export_args("out"), "-f", "boom", "--metrics-interval", "0.05"])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILURE, err
    lines = error_lines(err)
    assert lines == [f"tgx: error: {CHAT}: format 'boom' failed: RuntimeError: boom in write"], err
    assert "Traceback" not in err
    warnings = [line for line in err.splitlines() if line.startswith("tgx: warning:")]
    assert any("boomsink" in w for w in warnings), err  # a sink that raises: warned, disabled
    assert any("boomresolver" in w and "disabled" in w for w in warnings), err
    assert not (tmp_path / "out" / CHAT / "boom.txt").exists()  # the failed format left nothing
    assert not list((tmp_path / "out").rglob("*.tgx-tmp"))
    assert_same_export(tmp_path / "out", baseline)  # jsonl and csv complete and identical


# -- a full disk -----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Any:
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path, leave: int) -> None:
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def _tgx_sub(cwd: Path, cfg: Path, *args: str, preexec: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True, timeout=300,
                          env=tgx_env(cwd, cfg), cwd=cwd, preexec_fn=preexec)


def test_disk_full_on_a_small_tmpfs(tmp_path):
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL, CHANNEL]})
    with small_tmpfs(tmp_path / "disk", "24m") as disk:
        r = _tgx_sub(disk, cfg, "export", "@tiny", "-o", "out", "-f", "jsonl")
        assert r.returncode == 0, r.stderr
        files = snapshot(disk / "out")

        # The archive cannot grow: a new chat does not fit.
        _fill(disk, 96 * 1024)
        r = _tgx_sub(disk, cfg, "export", "@" + CHAT, "-o", "out", "-f", "jsonl")
        assert r.returncode == ExitCode.OUTPUT, r.stderr
        assert "disk full" in one_error(r)
        assert snapshot(disk / "out") == files
        assert archive_state(disk / "out")["integrity"] == [("ok",)]

        # The archive fits, the rendered file does not: the old one stays, no temp file is left.
        (disk / "filler").unlink()
        assert _tgx_sub(disk, cfg, "export", "@" + CHAT, "-o", "out", "-f", "csv").returncode == 0
        files = snapshot(disk / "out")
        _fill(disk, 256 * 1024)
        r = _tgx_sub(disk, cfg, "export", "@" + CHAT, "-o", "out", "-f", "csv,jsonl")
        assert r.returncode == ExitCode.OUTPUT, r.stderr
        line = one_error(r)
        assert "disk full while rendering" in line and "No space left" in line
        assert snapshot(disk / "out") == files
        assert not list((disk / "out").rglob("*.tgx-tmp"))


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:  # in the child: writes past `limit` fail with EFBIG instead of a signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_file_too_large_while_rendering(tmp_path):
    """Without root, RLIMIT_FSIZE is the portable "disk full": EFBIG on the render's temp file."""
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL]})
    r = _tgx_sub(tmp_path, cfg, "export", "@" + CHAT, "-o", "out", "-f", "csv")
    assert r.returncode == 0, r.stderr
    files = snapshot(tmp_path / "out")
    # messages.jsonl of CHANNEL is ~1.7 MB; this run only rewrites the archive's first pages.
    r = _tgx_sub(tmp_path, cfg, "export", "@" + CHAT, "-o", "out", "-f", "csv,jsonl",
                 preexec=_file_size_limit(1_200_000))
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    line = one_error(r)
    assert "disk full while rendering jsonl" in line and "File too large" in line
    assert snapshot(tmp_path / "out") == files
    assert not list((tmp_path / "out").rglob("*.tgx-tmp"))


def test_render_file_too_large_is_disk_full_exit_7_and_names_no_success(tmp_path):
    """`tgx render` with no room: the export's exit 7 and message, not "format failed: OSError";
    the formats that failed are not listed as rendered, and the files from before stay."""
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL]})
    assert _tgx_sub(tmp_path, cfg, "export", "@" + CHAT, "-o", "out", "-f", "csv,jsonl").returncode == 0
    files = snapshot(tmp_path / "out")
    r = _tgx_sub(tmp_path, cfg, "render", "out", "-f", "csv,jsonl", preexec=_file_size_limit(1_200_000))
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    line = one_error(r)
    assert "disk full while rendering jsonl" in line and "File too large" in line
    assert ": rendered " not in r.stdout + r.stderr
    assert snapshot(tmp_path / "out") == files
    assert not list((tmp_path / "out").rglob("*.tgx-tmp"))


def test_sigterm_during_render_keeps_the_old_files_and_leaves_no_temp_file(tmp_path):
    big = {**CHANNEL, "messages": 30_000}
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [big]})
    assert _tgx_sub(tmp_path, cfg, "export", "@" + CHAT, "-o", "out", "-f", "jsonl,html,csv").returncode == 0
    files = snapshot(tmp_path / "out")
    proc = subprocess.Popen([sys.executable, "-m", "tgx", "render", "out", "-f", "jsonl,html,csv", "--html-page-size",
                             "500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=tgx_env(tmp_path, cfg), cwd=tmp_path)
    chat = tmp_path / "out" / CHAT
    deadline = time.monotonic() + 120
    while not list(chat.glob("*.tgx-tmp")):  # a writer is in the middle of a file
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    assert not list(chat.rglob("*.tgx-tmp"))
    assert snapshot(tmp_path / "out") == files


@contextlib.contextmanager
def _read_only(state: Path) -> Any:
    """OUT/.tgx made read-only: a read-only bind mount as root (root ignores modes), else chmod."""
    if os.geteuid() == 0:
        if shutil.which("mount") is None:
            pytest.skip("no mount(8) for a read-only bind mount")
        done = subprocess.run(f"mount --bind {state} {state} && mount -o remount,ro,bind {state}", shell=True,
                              capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(state)], capture_output=True)
            pytest.skip(f"cannot bind-mount read-only here: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["umount", str(state)], check=False)
        return
    (state / "archive.sqlite").chmod(0o400)
    try:
        yield
    finally:
        (state / "archive.sqlite").chmod(0o600)


def test_render_of_a_read_only_archive_says_it_needs_write_access(tmp_path, run_tgx, exported):
    cfg, files = exported
    state = tmp_path / "out" / ".tgx"
    with _read_only(state):
        r = run_tgx(cfg, "render", "out", "-f", "jsonl")
    assert r.returncode == ExitCode.OUTPUT, r.stderr
    line = one_error(r)
    assert "tgx needs write access to" in line and str(state.relative_to(tmp_path)) in line, line
    assert "cannot create" not in line
    assert snapshot(tmp_path / "out") == files


def test_empty_out_is_refused_not_the_current_directory(tmp_path, run_tgx):
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL]})
    r = run_tgx(cfg, "export", "@tiny", "--out", "", "-f", "jsonl")
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert one_error(r) == "tgx: error: --out is empty"
    assert not (tmp_path / ".tgx").exists() and not (tmp_path / "tiny").exists()


def test_a_chat_named_four_ways_is_fetched_once_and_counted_once(tmp_path, run_tgx):
    log = tmp_path / "requests.jsonl"
    cfg = write_config(tmp_path / "tgx.toml", {"chats": [SMALL], "request_log": str(log)})
    from tgxrun import request_counts

    first = run_tgx(cfg, "export", "tiny", "--json", "-o", "first")
    chat_id = json.loads(first.stdout)["chats"][0]["id"]  # the marked id, -100…
    once = request_counts(log)["GetHistoryRequest"]
    log.unlink()
    r = run_tgx(cfg, "export", "tiny", "@tiny", "https://t.me/tiny", "--json", "-o", "out", "--", str(chat_id))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [(c["id"], c["fetched"]) for c in result["chats"]] == [(chat_id, 120)]
    report = json.loads((tmp_path / "out" / "export_metrics.json").read_text())
    assert report["totals"]["messages"] == 120
    assert request_counts(log)["GetHistoryRequest"] == once
    assert len(read_jsonl(tmp_path / "out" / "tiny" / "messages.jsonl")) == 120
