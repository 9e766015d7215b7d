"""``tgx encoders``: what --transcode would use, and why the others cannot be used."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pluggy
import pytest
import tgx_cpu
import tgx_vaapi
from tgx import hookspecs
from tgx.cli import build_app
from tgx.config import Config
from typer.testing import CliRunner


def _pm(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin, name=plugin.__name__.removeprefix("tgx_"))  # type: ignore[attr-defined]
    return pm


@pytest.fixture(scope="module")
def real_ffmpeg() -> str:
    return pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()


def _run(pm: pluggy.PluginManager, config: Config, *args: str):
    result = CliRunner().invoke(build_app(pm, config), ["encoders", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_encoders_json_lists_every_encoder_with_reasons(real_ffmpeg: str):
    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg, "FORCE_CPU_TRANSCODE": "1"})
    result = _run(_pm(tgx_cpu, tgx_vaapi), config, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["ffmpeg"]["path"], data["ffmpeg"]["source"]) == (real_ffmpeg, "TGX_FFMPEG")
    assert data["selected"] == "cpu"
    rows = {row["name"]: row for row in data["encoders"]}
    assert [row["name"] for row in data["encoders"]] == ["vaapi", "cpu"]  # priority order
    assert rows["vaapi"] | {"description": None} == {
        "name": "vaapi", "plugin": "vaapi", "priority": 20, "available": False,
        "reason": "FORCE_CPU_TRANSCODE is set", "description": None, "selected": False, "ffmpeg": real_ffmpeg}
    assert rows["cpu"]["available"] is True and rows["cpu"]["reason"] is None and rows["cpu"]["selected"]


def test_encoders_table_without_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    config = Config(env={"PATH": str(tmp_path)})
    result = _run(_pm(tgx_cpu, tgx_vaapi), config)
    assert result.exit_code == 0
    out = result.stdout
    assert "ffmpeg: none (ffmpeg not found)" in out
    assert "ffmpeg not found" in out and "vaapi" in out and "cpu" in out
    assert "no encoder is available" in out


def test_encoders_with_only_the_cpu_plugin(real_ffmpeg: str):
    config = Config(env={**os.environ, "TGX_FFMPEG": real_ffmpeg})
    data = json.loads(_run(_pm(tgx_cpu), config, "--json").stdout)
    assert [row["name"] for row in data["encoders"]] == ["cpu"] and data["selected"] == "cpu"
