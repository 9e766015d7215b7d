"""The CLI root: argv pre-scan, exit codes, one-line errors, secrets redacted, plugin commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tgx
import typer
from tgx import console
from tgx.cli import main, prescan, run
from tgx.config import Config
from tgx.errors import AuthError, ExitCode
from tgx.host.manager import get_plugin_manager


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Nothing touches the user's home: config and data dirs live in tmp_path."""
    for name in list(os.environ):
        if name.startswith("TGX_") or name.startswith("INPUT_PEER_CACHE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGX_CONFIG", str(tmp_path / "config" / "tgx.toml"))
    (tmp_path / "config" / "tgx.toml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "tgx.toml").touch()  # $TGX_CONFIG must name an existing file
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


def tgx_subprocess(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgx", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tgx: error:")]


def without_warnings(stderr: str) -> list[str]:
    """stderr lines minus warnings (built-in plugins under construction may warn)."""
    return [line for line in stderr.splitlines() if not line.startswith("tgx: warning:")]


# -- pre-scan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "plugins", "config", "verbose"), [
    (["-p", "no:html", "export", "x"], ["no:html"], None, 0),
    (["-pno:html", "-p", "csv", "plugins"], ["no:html", "csv"], None, 0),
    (["--plugin", "a", "--plugin=no:b", "plugins"], ["a", "no:b"], None, 0),
    (["--config", "c.toml", "-vv", "chats"], [], "c.toml", 2),
    (["--config=c.toml", "-v", "--verbose", "chats"], [], "c.toml", 2),
    (["export", "-p", "no:html"], [], None, 0),  # after the sub-command: not a root option
    (["--", "-p", "x"], [], None, 0),
])
def test_prescan(argv: list[str], plugins: list[str], config: str | None, verbose: int) -> None:
    scan = prescan(argv)
    assert (scan.plugins, scan.config, scan.verbose) == (plugins, config, verbose)


# -- the console script (subprocess: the real entry point) -------------------------------------------


def test_version_and_help(env: dict[str, str]) -> None:
    result = tgx_subprocess("--version", env=env)
    assert result.returncode == 0 and result.stdout.strip() == f"tgx {tgx.__version__}"
    result = tgx_subprocess("--help", env=env)
    assert result.returncode == 0
    for word in ("--plugin", "--config", "--verbose", "plugins", "login", "chats", "formats"):
        assert word in result.stdout


def test_unknown_p_name_exits_3_with_one_line(env: dict[str, str]) -> None:
    result = tgx_subprocess("-p", "no:nosuch", "plugins", env=env)
    assert result.returncode == ExitCode.CONFIG
    [line] = error_lines(result.stderr)
    assert "unknown plugin 'nosuch' in -p no:nosuch; known: " in line and "telegram" in line
    assert "Traceback" not in result.stderr


def test_broken_config_exits_3_without_traceback(env: dict[str, str], tmp_path: Path) -> None:
    path = Path(env["TGX_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[telegram\napi_id = 1\n")
    result = tgx_subprocess("plugins", env=env)
    assert result.returncode == ExitCode.CONFIG
    [line] = error_lines(result.stderr)
    assert str(path) in line and "invalid TOML" in line
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(env: dict[str, str]) -> None:
    result = tgx_subprocess("plugins", "--no-such-flag", env=env)
    assert result.returncode == ExitCode.USAGE
    assert "No such option: --no-such-flag" in error_lines(result.stderr)[0]
    assert "Usage: tgx plugins" in result.stderr
    result = tgx_subprocess("no-such-command", env=env)
    assert result.returncode == ExitCode.USAGE


# -- in-process: main() ------------------------------------------------------------------------------


def test_no_arguments_shows_help(env: dict[str, str], capsys: Any) -> None:
    assert main([]) == ExitCode.USAGE
    assert "Usage" in capsys.readouterr().out


def test_unknown_config_key_exits_3(env: dict[str, str], capsys: Any) -> None:
    path = Path(env["TGX_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[telegram]\napi_idd = 1\n")
    assert main(["plugins"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert f"tgx: error: {path}: unknown key telegram.api_idd" in err
    assert "hint: known keys in [telegram]" in err


def test_explicit_missing_config_exits_3(env: dict[str, str], tmp_path: Path, capsys: Any) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "plugins"]) == ExitCode.CONFIG
    assert "config file not found" in capsys.readouterr().err


def test_unknown_plugin_table_is_a_warning_and_the_command_runs(env: dict[str, str], capsys: Any) -> None:
    path = Path(env["TGX_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[nosuchplugin]\nx = 1\n")
    assert main(["plugins", "--json"]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "tgx: warning:" in err and "[nosuchplugin] matches no plugin" in err
    assert '"name": "telegram"' in out


# -- in-process: plugin commands and the error handler -------------------------------------------------


class CommandsPlugin:
    """A plugin adding commands that fail in every way the handler must cover."""

    @tgx.hookimpl
    def tgx_register_commands(self, app: typer.Typer) -> None:
        @app.command("fail-auth")
        def fail_auth() -> None:
            raise AuthError("session revoked", hint="run `tgx login`")

        @app.command("crash")
        def crash() -> None:
            raise RuntimeError("bad state for +441234567890 with hash 0123456789abcdef0123456789abcdef")

        @app.command("ctrl-c")
        def ctrl_c() -> None:
            raise KeyboardInterrupt

        @app.command("greet")
        def greet(name: str) -> None:
            typer.echo(f"hi {name}")


class BrokenCommands:
    @tgx.hookimpl
    def tgx_register_commands(self, app: typer.Typer) -> None:
        raise ValueError("cannot register")


class HalfRegistered:
    @tgx.hookimpl
    def tgx_register_commands(self, app: typer.Typer) -> None:
        @app.command("half")
        def half() -> None:
            pass

        raise RuntimeError("died after adding one command")


def pm_with(*plugins: tuple[str, object], verbose: int = 0) -> tuple[Any, Config]:
    config = Config(env={"TGX_CONFIG": "/nonexistent/tgx.toml"}, verbose=verbose)
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return pm, config


def test_tgx_error_is_one_line_with_hint_and_its_exit_code(capsys: Any) -> None:
    pm, config = pm_with(("cmds", CommandsPlugin()))
    assert run(pm, config, ["fail-auth"]) == ExitCode.AUTH
    err = capsys.readouterr().err
    assert without_warnings(err) == ["tgx: error: session revoked", "  hint: run `tgx login`"]


def test_internal_error_is_one_line_redacted_and_traceback_only_with_v(capsys: Any) -> None:
    pm, config = pm_with(("cmds", CommandsPlugin()))
    assert run(pm, config, ["crash"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert without_warnings(err)[0] == ("tgx: error: internal error: RuntimeError: bad state for <phone> "
                                        "with hash <redacted>")
    assert "run with -v for the traceback" in err and "Traceback" not in err
    pm, config = pm_with(("cmds", CommandsPlugin()), verbose=1)
    assert run(pm, config, ["crash"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "Traceback" in err and "441234567890" not in err and "0123456789abcdef" not in err


def test_keyboard_interrupt_exits_130(capsys: Any) -> None:
    pm, config = pm_with(("cmds", CommandsPlugin()))
    assert run(pm, config, ["ctrl-c"]) == ExitCode.INTERRUPTED
    assert "interrupted" in capsys.readouterr().err


def test_a_plugin_failing_in_tgx_register_commands_is_skipped_with_a_warning(capsys: Any) -> None:
    pm, config = pm_with(("broken", BrokenCommands()), ("half", HalfRegistered()), ("cmds", CommandsPlugin()))
    assert run(pm, config, ["greet", "ada"]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert out == "hi ada\n"
    assert "plugin 'broken' failed in tgx_register_commands: ValueError: cannot register" in err
    assert "plugin 'half' failed in tgx_register_commands: RuntimeError: died" in err
    assert run(pm, config, ["half"]) == ExitCode.USAGE  # what it added was undone: no such command


class Squatter:
    @tgx.hookimpl
    def tgx_register_commands(self, app: typer.Typer) -> None:
        @app.command("formats")
        def formats() -> None:
            typer.echo("squatted")


def test_a_plugin_command_cannot_replace_a_core_command(capsys: Any) -> None:
    pm, config = pm_with(("squatter", Squatter()))
    assert run(pm, config, ["formats", "--json"]) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "squatted" not in out and out.startswith("[")
    assert "plugin 'squatter' failed in tgx_register_commands: ValueError: command name 'formats' is " \
           "already taken" in err


def test_redact_registered_secrets_and_shapes() -> None:
    console.register_secret("s3cr3t-value")
    text = console.redact("token 123456789:AAE_abcdefghijklmnopqrstuvwxyz012345 s3cr3t-value "
                          "+1 (555) 123-4567")
    assert text == "token <bot-token> <redacted> <phone>"
    assert console.redact("chat -1001234567890 id 42") == "chat -1001234567890 id 42"


@pytest.mark.parametrize("args", [["--help"], ["plugins", "--json"], ["formats"], ["export", "--help"]])
def test_a_reader_that_goes_away_is_not_an_error(env: dict[str, str], args: list[str]) -> None:
    """`tgx ... | head`: no "internal error", no traceback — exit 141 (128 + SIGPIPE), or rich's
    own quiet exit 1 when the pipe breaks inside its help output."""
    import os as _os

    read, write = _os.pipe()
    _os.close(read)  # the reader is gone before tgx writes anything
    try:
        done = subprocess.run([sys.executable, "-m", "tgx", *args], env=env, stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    finally:
        _os.close(write)
    assert done.stderr == ""
    assert done.returncode in (1, 141)
