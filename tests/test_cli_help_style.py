"""One help style on every command (tgx.cli.options): options that take a value show an UPPERCASE
metavar, flags show none, help sentences start with a capital; plugins' boolean options are
--x/--no-x flags and the old `--x on|off` spelling still works."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer
from tgx.cli import build_app
from tgx.cli.options import legacy_bool_args, tidy_help
from tgx.config import Config
from tgx.errors import UsageError
from tgx.host.manager import get_plugin_manager
from tgx.specs import OptionSpec
from tgxrun import tgx_env

METAVAR = re.compile(r"^[A-Z][A-Z0-9_.]*(\|[A-Z][A-Z0-9_.]*)*(\.\.\.)?$")


def _commands() -> list[tuple[str, object]]:
    config = Config(env={"TGX_DATA_DIR": "/nonexistent"})
    root = tidy_help(typer.main.get_command(build_app(get_plugin_manager(config, load_entrypoints=False), config)))
    found = []

    def walk(command: object, path: str) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "tgx")
    return found


COMMANDS = _commands()


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_option_follows_the_style(path, command):
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
        where = f"{path} {param.opts[0]}"
        if flag:
            assert param.metavar == "", where
        else:
            assert param.metavar and METAVAR.match(param.metavar), f"{where}: metavar {param.metavar!r}"
        if param.help:
            assert param.help[0].isupper() or param.help[0] in "`'-", f"{where}: {param.help!r}"


@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["render", "--help"], ["demo", "--help"],
                                  ["plugins", "--help"], ["metrics", "show", "--help"]])
def test_help_prints_no_type_placeholders(tmp_path, args):
    done = subprocess.run([sys.executable, "-m", "tgx", *args], capture_output=True, text=True, timeout=120,
                          env={**tgx_env(tmp_path), "COLUMNS": "200"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    options = done.stdout.split("Options", 1)[-1]
    assert not re.search(r"<(bool|int|str|float|text|integer)>", options), options


BOOL = [OptionSpec("csv-bom", "x", default=True, type=bool), OptionSpec("html-page-size", "y", type=int)]


@pytest.mark.parametrize(("given", "expected"), [
    (["--csv-bom", "off", "news"], ["--no-csv-bom", "news"]),
    (["--csv-bom=ON"], ["--csv-bom"]),
    (["--csv-bom", "--json"], ["--csv-bom", "--json"]),
    (["--no-csv-bom"], ["--no-csv-bom"]),
    (["--html-page-size", "off"], ["--html-page-size", "off"]),  # not a boolean option: typer decides
    (["--", "--csv-bom", "off"], ["--", "--csv-bom", "off"]),
])
def test_the_old_on_off_spelling_still_works(given, expected):
    assert legacy_bool_args(given, BOOL) == expected


def test_a_word_that_is_no_on_off_is_a_usage_error():
    with pytest.raises(UsageError, match=r"--csv-bom is a flag: use --csv-bom or --no-csv-bom \(not 'maybe'\)"):
        legacy_bool_args(["--csv-bom", "maybe"], BOOL)


def test_verbose_and_quiet_after_the_command(tmp_path, sim_config):
    cfg = sim_config(chats=[{"kind": "channel", "username": "stylechan", "messages": 20, "media": False}])
    env = tgx_env(tmp_path, cfg)
    run = [sys.executable, "-m", "tgx"]
    assert subprocess.run([*run, "export", "@stylechan", "-o", "out", "-q", "-v"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=120).returncode == 0
    done = subprocess.run([*run, "render", "out", "-f", "csv", "-q", "-vv", "--csv-bom", "off"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # -q: errors only
    assert not (tmp_path / "out" / "stylechan" / "messages.csv").read_bytes().startswith(b"\xef\xbb\xbf")
