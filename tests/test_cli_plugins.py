"""``tgx plugins`` / ``plugins disable|enable`` / ``tgx formats``, and a real third-party plugin.

The third-party plugin (tests/fixtures/thirdparty_plugin) is "installed" without pip: a
``tgx_hello-1.2.3.dist-info`` with its ``entry_points.txt`` plus the package's folder go on
PYTHONPATH of a ``tgx`` subprocess, and importlib.metadata finds a real ``tgx`` entry point.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tgx.cli import main
from tgx.errors import ExitCode

FIXTURE = Path(__file__).parent / "fixtures" / "thirdparty_plugin"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("TGX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TGX_CONFIG", str(tmp_path / "config" / "tgx.toml"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tgx.toml").touch()  # $TGX_CONFIG must name an existing file (see below)
    monkeypatch.setenv("TGX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return dict(os.environ)


@pytest.fixture
def hello_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` with the tgx-hello distribution discoverable (dist-info + source on PYTHONPATH)."""
    site = tmp_path / "site"
    info = site / "tgx_hello-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tgx-hello\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[tgx]\nhello = tgx_hello\n")
    paths = [str(site), str(FIXTURE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def tgx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tgx", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def listed(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return {item["name"]: item for item in json.loads(result.stdout)}


@pytest.fixture
def hello_here(hello_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The same distribution, discoverable in this process (cheaper than a subprocess per call)."""
    for path in reversed(hello_env["PYTHONPATH"].split(os.pathsep)):
        monkeypatch.syspath_prepend(path)
    yield
    sys.modules.pop("tgx_hello", None)


def listed_here(capsys: Any, *argv: str) -> dict[str, dict[str, Any]]:
    assert main([*argv, "plugins", "--json"]) == 0
    return {item["name"]: item for item in json.loads(capsys.readouterr().out)}


# -- a third-party plugin, end to end ------------------------------------------------------------------


def test_third_party_plugin_through_the_console_script(hello_env: dict[str, str]) -> None:
    hello = listed(tgx("plugins", "--json", env=hello_env))["hello"]
    assert hello["source"] == "tgx-hello" and hello["version"] == "1.2.3" and hello["enabled"] is True
    assert hello["hooks"] == ["tgx_register_commands", "tgx_register_formats"]
    assert hello["error"] is None
    result = tgx("hello", "Bob", env=hello_env)
    assert result.returncode == 0 and result.stdout == "hello, Bob\n"


def test_third_party_format_is_listed_by_tgx_formats(hello_here: Any, capsys: Any) -> None:
    assert main(["formats", "--json"]) == 0
    formats = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert formats["hello"]["plugin"] == "hello"
    assert formats["hello"]["options"][0]["name"] == "hello-greeting"


def test_third_party_plugin_disabled_by_p_no(hello_here: Any, capsys: Any) -> None:
    hello = listed_here(capsys, "-p", "no:hello")["hello"]
    assert hello["enabled"] is False and hello["note"] == "disabled by -p no:hello"
    assert hello["source"] == "tgx-hello" and hello["version"] == "1.2.3"
    assert main(["-p", "no:hello", "hello"]) == ExitCode.USAGE  # its command is gone with it
    assert main(["hello", "Ann"]) == 0 and capsys.readouterr().out.endswith("hello, Ann\n")


def test_third_party_plugin_not_loaded_with_an_empty_allow_list(hello_here: Any, capsys: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGX_LOAD_PLUGINS", "")
    hello = listed_here(capsys)["hello"]
    assert hello["enabled"] is False and "TGX_LOAD_PLUGINS" in hello["note"]
    assert listed_here(capsys, "-p", "hello")["hello"]["enabled"] is True  # -p NAME forces it on
    monkeypatch.setenv("TGX_LOAD_PLUGINS", "hello")
    both = listed_here(capsys)
    assert both["hello"]["enabled"] is True and both["telegram"]["enabled"] is True


def test_disable_persists_and_lists_as_disabled(hello_here: Any, capsys: Any) -> None:
    assert main(["plugins", "disable", "hello"]) == 0
    hello = listed_here(capsys)["hello"]
    assert hello["enabled"] is False and "[plugins] disable" in hello["note"]
    assert main(["plugins", "enable", "hello"]) == 0
    assert listed_here(capsys)["hello"]["enabled"] is True


# -- disable / enable edit the config file ----------------------------------------------------------------


def test_disable_creates_the_config_file_with_parents_0600(env: dict[str, str], tmp_path: Path, capsys: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "fresh" / "tgx.toml"
    monkeypatch.setenv("TGX_CONFIG", str(path))
    assert not path.parent.exists()
    assert main(["plugins", "disable", "peer_cache"]) == 0
    assert path.read_text() == '[plugins]\ndisable = ["peer_cache"]\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"disabled plugin 'peer_cache' in {path}" in capsys.readouterr().err
    assert main(["plugins", "disable", "peer_cache"]) == 0  # twice is fine
    assert "already disabled" in capsys.readouterr().err
    assert path.read_text().count("peer_cache") == 1


def test_disable_and_enable_keep_comments_and_other_settings(env: dict[str, str], capsys: Any) -> None:
    path = Path(env["TGX_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    original = (
        "# my tgx settings\n"
        "[telegram]\n"
        "session = \"work\"  # the work account\n"
        "\n"
        "[plugins]\n"
        "# html is slow on this box\n"
        "disable = [\"html\"]\n"
    )
    path.write_text(original)
    assert main(["plugins", "disable", "peer_cache"]) == 0
    text = path.read_text()
    assert "# my tgx settings" in text and "# the work account" in text and "# html is slow" in text
    assert main(["plugins", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    state = {item["name"]: item["enabled"] for item in out}
    assert state["peer_cache"] is False and state["html"] is False and state["telegram"] is True
    assert main(["plugins", "enable", "peer_cache"]) == 0
    assert path.read_text() == original


def test_unknown_name_exits_3_naming_the_known_plugins(env: dict[str, str], capsys: Any) -> None:
    assert main(["plugins", "disable", "nosuch"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "tgx: error: unknown plugin 'nosuch'; known: " in err and "peer_cache" in err
    assert Path(env["TGX_CONFIG"]).read_text() == ""  # untouched
    assert main(["plugins", "enable", "nosuch"]) == ExitCode.CONFIG


def test_enable_cleans_an_uninstalled_plugin_out_of_the_file(env: dict[str, str], capsys: Any) -> None:
    path = Path(env["TGX_CONFIG"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[plugins]\ndisable = ["gone", "peer_cache"]\n')
    assert main(["plugins", "enable", "gone"]) == 0
    assert path.read_text() == '[plugins]\ndisable = ["peer_cache"]\n'


def test_enable_warns_when_the_environment_still_disables(env: dict[str, str], capsys: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGX_DISABLE_PLUGINS", "peer_cache")
    assert main(["plugins", "enable", "peer_cache"]) == 0
    assert "still disabled by TGX_DISABLE_PLUGINS" in capsys.readouterr().err


def test_plugins_table_output(env: dict[str, str], capsys: Any) -> None:
    assert main(["-p", "no:peer_cache", "plugins"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "built-in" in lines["telegram"] and " yes " in lines["telegram"]
    assert " no " in lines["peer_cache"] and "disabled by -p no:peer_cache" in lines["peer_cache"]


def test_formats_lists_builtin_formats_with_their_plugin(env: dict[str, str], capsys: Any) -> None:
    assert main(["formats", "--json"]) == 0
    formats = json.loads(capsys.readouterr().out)
    assert all(set(f) == {"name", "plugin", "description", "options"} for f in formats)
    assert [f["name"] for f in formats] == sorted(f["name"] for f in formats)


def test_a_missing_tgx_config_is_an_error_except_for_the_commands_that_create_it(
        env: dict[str, str], tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "new" / "dir" / "tgx.toml"
    monkeypatch.setenv("TGX_CONFIG", str(missing))
    assert main(["plugins"]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert f"tgx: error: {missing}: config file not found (named by $TGX_CONFIG)" in err
    assert "unset TGX_CONFIG" in err
    assert main(["plugins", "disable", "html"]) == 0  # creates it, with its folders
    assert missing.read_text() == '[plugins]\ndisable = ["html"]\n'
    assert main(["plugins", "--json"]) == 0
    monkeypatch.delenv("TGX_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert main(["plugins", "--json"]) == 0  # a missing *default* config is no settings
