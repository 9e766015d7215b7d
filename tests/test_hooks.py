"""One test per hook (``test_hook_<name>``, datasette's rule; test_hooks_documented.py checks that
each hookspec has one): a plugin implementing only that hook, registered on a real plugin
manager, and the real `tgx` command line in this process, against the simulated Telegram."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import tgx
import typer
from test_reliability import write_config
from tgx.cli import run
from tgx.config import load_config
from tgx.errors import ExitCode
from tgx.host.manager import get_plugin_manager
from tgx.model import Message
from tgx.specs import (
    Availability,
    EncodeJob,
    EncoderSpec,
    FormatSpec,
    MetricsSinkSpec,
    PeerRef,
    PeerResolverSpec,
    RenderContext,
    ResolvedPeer,
    ResolverContext,
    SinkContext,
)

CHANNEL = {"kind": "channel", "username": "hookchan", "title": "Hooks", "messages": 250, "media": False}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``cli(plugin, *argv) -> (exit code, stdout, stderr)``: tgx with ``plugin`` registered."""
    monkeypatch.chdir(tmp_path)
    config = load_config(write_config(tmp_path / "tgx.toml", {"chats": [CHANNEL]}),
                         env={"TGX_DATA_DIR": str(tmp_path / "data")})

    def invoke(plugin: object, *argv: str) -> tuple[int, str, str]:
        pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
        pm.register(plugin, name="under_test")
        capsys.readouterr()
        code = run(pm, config, list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_hook_tgx_telegram_client(cli, tmp_path):
    """A client plugin gives the run its client (here: the simulated world's, counted)."""
    from tgx.testing import SimulatedTelegram

    made: list[Any] = []

    class Client:
        @tgx.hookimpl(tryfirst=True)
        def tgx_telegram_client(self, config: Any) -> Any:
            client = SimulatedTelegram.from_scenario({"chats": [{**CHANNEL, "username": "otherchan"}]}).client()
            made.append(client)
            return client

    # [simulated] in the config asks for the simulated plugin explicitly: drop it for this run.
    config_path = tmp_path / "plain.toml"
    config_path.write_text("")
    config = load_config(config_path, env={"TGX_DATA_DIR": str(tmp_path / "data")})
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    pm.register(Client(), name="under_test")
    assert run(pm, config, ["export", "@otherchan", "-o", "out", "-q"]) == ExitCode.OK
    assert len(made) == 1
    assert (tmp_path / "out" / "otherchan" / "messages.jsonl").read_text().count("\n") == 250


class _Shout:
    """A format: each message's text upper-cased, one per line, with the chat's options."""

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx

    def open(self) -> None:
        self.fh = self.ctx.open("shout.txt")
        self.fh.write(f"{self.ctx.options['shout-prefix']}{self.ctx.chat.title}\n")

    def write(self, messages: Sequence[Message]) -> None:
        for m in messages:
            self.fh.write(f"{m.id} {' '.join(m.text.upper().split())}\n")

    def close(self) -> None:
        self.fh.close()

    def abort(self) -> None:
        self.fh.close()


def test_hook_tgx_register_formats(cli, tmp_path):
    class Format:
        @tgx.hookimpl
        def tgx_register_formats(self) -> FormatSpec:
            return FormatSpec("shout", _Shout, "upper case", options=(tgx.OptionSpec("shout-prefix", "Prefix.",
                                                                                      default="# "),))

    code, out, err = cli(Format(), "formats", "--json")
    assert code == 0, err
    assert {f["name"]: f["plugin"] for f in json.loads(out)}["shout"] == "under_test"
    code, _out, err = cli(Format(), "export", "@hookchan", "-o", "out", "-f", "shout,jsonl", "--shout-prefix", "> ")
    assert code == 0, err
    lines = (tmp_path / "out" / "hookchan" / "shout.txt").read_text().splitlines()
    assert lines[0] == "> Hooks" and len(lines) == 251
    assert [int(line.split()[0]) for line in lines[1:]] == sorted(int(line.split()[0]) for line in lines[1:])


def test_hook_tgx_register_encoders(cli):
    class Encoder:
        name = "fake"

        def probe(self) -> Availability:
            return Availability(False, "needs the fake device")

        def encode(self, job: EncodeJob) -> None:
            raise AssertionError("never chosen: unavailable")

    class Plugin:
        @tgx.hookimpl
        def tgx_register_encoders(self, config: Any) -> EncoderSpec:
            return EncoderSpec("fake", 1_000, lambda config: Encoder(), "a test encoder")

    code, out, err = cli(Plugin(), "encoders", "--json")
    assert code == 0, err
    listed = {e["name"]: e for e in json.loads(out)["encoders"]}
    assert listed["fake"]["available"] is False and listed["fake"]["reason"] == "needs the fake device"
    assert listed["fake"]["plugin"] == "under_test"


def test_hook_tgx_register_metrics_sinks(cli, tmp_path):
    seen: dict[str, Any] = {"events": 0, "report": None, "closed": False}

    class Sink:
        def __init__(self, ctx: SinkContext) -> None:
            seen["out_dir"] = ctx.out_dir

        def event(self, snapshot: Mapping[str, Any]) -> None:
            seen["events"] += 1

        def report(self, report: Mapping[str, Any]) -> None:
            seen["report"] = dict(report)

        def close(self) -> None:
            seen["closed"] = True

    class Plugin:
        @tgx.hookimpl
        def tgx_register_metrics_sinks(self, config: Any) -> MetricsSinkSpec:
            return MetricsSinkSpec("collect", Sink, "keeps the report")

    code, _out, err = cli(Plugin(), "export", "@hookchan", "-o", "out", "-q")
    assert code == 0, err
    assert seen["closed"] and seen["out_dir"] == Path("out")
    assert seen["report"]["totals"]["messages"] == 250 and seen["report"]["run"]["exit_status"] == "ok"


def test_hook_tgx_register_peer_resolvers(cli):
    asked: list[PeerRef] = []
    learned: list[int] = []

    class Resolver:
        def __init__(self, ctx: ResolverContext) -> None:
            self.state_dir = ctx.state_dir

        async def resolve(self, ref: PeerRef) -> ResolvedPeer | None:
            asked.append(ref)
            return None  # not known here: the next resolver (the network) answers

        def learn(self, ref: PeerRef, resolved: ResolvedPeer) -> None:
            learned.append(resolved.peer.id)

        def stats(self) -> Mapping[str, int]:
            return {"hits": 0, "misses": len(asked)}

        def close(self) -> None:
            pass

    class Plugin:
        @tgx.hookimpl
        def tgx_register_peer_resolvers(self, config: Any) -> PeerResolverSpec:
            return PeerResolverSpec("asker", 10_000, Resolver)

    code, _out, err = cli(Plugin(), "export", "@hookchan", "-o", "out", "-q")
    assert code == 0, err
    assert [ref.value for ref in asked] == ["hookchan"] and len(learned) == 1


def test_hook_tgx_register_commands(cli):
    class Plugin:
        @tgx.hookimpl
        def tgx_register_commands(self, app: typer.Typer) -> None:
            @app.command("shout")
            def shout(word: str = typer.Argument(..., help="What to shout.")) -> None:
                """Shout a word (a plugin's command)."""
                from tgx.cli import get_state

                typer.echo(f"{word.upper()} from {get_state().config.path.name}")

    code, out, err = cli(Plugin(), "shout", "hey")
    assert code == 0, err
    assert out == "HEY from tgx.toml\n"
    code, out, _err = cli(Plugin(), "--help")
    assert "shout" in out


def test_a_plugins_texts_are_shown_as_plain_text_in_the_listings(cli):
    """`tgx formats` prints a plugin's words as they are (like every listing): no rich markup read in
    them (the brackets stay), no terminal control characters (one shared table, tgx.cli.table)."""
    class Format:
        @tgx.hookimpl
        def tgx_register_formats(self) -> FormatSpec:
            return FormatSpec("marked", _Shout, "[bold red]loud[/bold red] \x1b[2J\u202edone")

    code, out, err = cli(Format(), "formats")
    assert code == 0, err
    assert "[bold red]loud[/bold red]" in out
    assert "\x1b" not in out and "\u202e" not in out
