"""The plugin manager (enable/disable, one name everywhere; broken plugins) and the spec registry."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tgx
from tgx.config import Config, load_config
from tgx.errors import ExitCode, PluginError
from tgx.host import registry
from tgx.host.manager import BUILTIN_PLUGINS, get_plugin_manager, known_plugin_names, plugin_infos
from tgx.specs import EncoderSpec, FormatSpec, MetricsSinkSpec, PeerResolverSpec


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)

    def matching(self, text: str) -> list[str]:
        return [w for w in self if text in w]


def make_dist(site: Path, dist: str, version: str, entry_points: dict[str, str],
              modules: dict[str, str] | None = None) -> None:
    """An installed distribution, as importlib.metadata sees one: a *.dist-info folder on sys.path."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[tgx]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private site dir on sys.path; modules imported from it are forgotten afterwards."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    before = set(sys.modules)
    yield path
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and str(path) in (sys.modules[name].__file__ or ""):
            del sys.modules[name]


GOOD = """
import tgx
from tgx.specs import FormatSpec

@tgx.hookimpl
def tgx_register_formats():
    return FormatSpec(name="{fmt}", factory=lambda ctx: None, description="from {module}")
"""


def good(fmt: str) -> str:
    return GOOD.format(fmt=fmt, module=fmt)


def pm_for(config: Config, **kwargs: Any) -> tuple[Any, Warnings]:
    warnings = Warnings()
    return get_plugin_manager(config, warn=warnings, **kwargs), warnings


# -- built-ins ---------------------------------------------------------------------------------------


def test_builtins_are_registered_under_their_short_names() -> None:
    pm, _ = pm_for(Config(env={}), load_entrypoints=False)
    infos = {i.name: i for i in plugin_infos(pm)}
    assert list(infos)[: len(BUILTIN_PLUGINS)] == list(BUILTIN_PLUGINS)
    for name in ("telegram", "peer_cache"):
        assert pm.get_plugin(name) is sys.modules[BUILTIN_PLUGINS[name]]
        assert infos[name].enabled and infos[name].source == "built-in"
        assert infos[name].version == tgx.__version__
    assert infos["telegram"].hooks == ["tgx_telegram_client"]
    assert infos["peer_cache"].hooks == ["tgx_register_peer_resolvers"]


@pytest.mark.parametrize("how", ["cli", "env", "file", "config"])
def test_disable_a_builtin_every_way(how: str, tmp_path: Path) -> None:
    cli: list[str] = []
    env: dict[str, str] = {}
    path = tmp_path / "tgx.toml"
    if how == "cli":
        cli = ["no:peer_cache"]
    elif how == "env":
        env["TGX_DISABLE_PLUGINS"] = "csv, peer_cache"
    elif how == "file":
        path.write_text('[plugins]\ndisable = ["peer_cache"]\n')
    config = load_config(path if path.exists() else None, env=env, cli_plugins=cli)
    if how == "config":
        config.disable.append("peer_cache")
    pm, _ = pm_for(config, cli_plugins=cli, load_entrypoints=False)
    assert pm.is_blocked("peer_cache") and pm.get_plugin("peer_cache") is None
    info = {i.name: i for i in plugin_infos(pm)}["peer_cache"]
    assert not info.enabled and info.error is None and "disabled" in (info.note or "")
    assert registry.peer_resolvers(pm, warn=pytest.fail) == []
    if how == "cli":
        assert "-p no:peer_cache" in info.note
    if how == "env":
        assert "TGX_DISABLE_PLUGINS" in info.note


def test_p_name_overrides_a_disable(tmp_path: Path) -> None:
    path = tmp_path / "tgx.toml"
    path.write_text('[plugins]\ndisable = ["peer_cache"]\n')
    config = load_config(path, env={"TGX_DISABLE_PLUGINS": "peer_cache"}, cli_plugins=["peer_cache"])
    pm, _ = pm_for(config, cli_plugins=["peer_cache"], load_entrypoints=False)
    assert pm.get_plugin("peer_cache") is not None


def test_unknown_name_on_the_command_line_is_an_error(tmp_path) -> None:
    (tmp_path / "tgx.toml").touch()
    for cli in (["no:nosuch"], ["nosuch"]):
        config = load_config(None, env={"TGX_CONFIG": str(tmp_path / "tgx.toml")}, cli_plugins=cli)
        with pytest.raises(PluginError) as info:
            get_plugin_manager(config, cli_plugins=cli, load_entrypoints=False, warn=Warnings())
        assert info.value.exit_code == ExitCode.CONFIG
        assert f"unknown plugin 'nosuch' in -p {cli[0]}" in str(info.value)
        assert "known: " in str(info.value) and "peer_cache" in str(info.value)


def test_unknown_name_in_env_or_file_is_a_warning_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "tgx.toml"
    path.write_text('[plugins]\ndisable = ["gone_from_file"]\n')
    config = load_config(path, env={"TGX_DISABLE_PLUGINS": "gone_from_env", "TGX_LOAD_PLUGINS": "gone_load"})
    pm, warnings = pm_for(config, load_entrypoints=False)
    assert warnings.matching("unknown plugin 'gone_from_env' in TGX_DISABLE_PLUGINS")
    assert warnings.matching(f"unknown plugin 'gone_from_file' in [plugins] disable in {path}")
    assert warnings.matching("unknown plugin 'gone_load' in TGX_LOAD_PLUGINS")
    assert pm.get_plugin("telegram") is not None


def test_a_plugin_table_that_matches_no_plugin_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "tgx.toml"
    path.write_text("[peer_cache]\nsize = 3\n[htlm]\ntheme = 'dark'\n")
    _, warnings = pm_for(load_config(path, env={}), load_entrypoints=False)
    assert len(warnings.matching("[htlm]")) == 1 and "matches no plugin" in warnings.matching("[htlm]")[0]
    assert not warnings.matching("[peer_cache]")


# -- installed plugins (entry points) -----------------------------------------------------------------


def test_installed_plugin_is_loaded_with_its_distribution_and_version(site: Path) -> None:
    make_dist(site, "tgx-fmt-a", "2.0.1", {"fmt_a": "tgx_fmt_a"},
              {"tgx_fmt_a": GOOD.format(fmt="aaa", module="a")})
    pm, warnings = pm_for(Config(env={}))
    info = {i.name: i for i in plugin_infos(pm)}["fmt_a"]
    assert (info.source, info.version, info.enabled) == ("tgx-fmt-a", "2.0.1", True)
    assert info.hooks == ["tgx_register_formats"]
    assert registry.formats(pm, warn=warnings)["aaa"].plugin == "fmt_a"


def test_load_allow_list_applies_to_installed_plugins_only(site: Path) -> None:
    make_dist(site, "tgx-fmt-a", "1.0", {"fmt_a": "tgx_fmt_a"}, {"tgx_fmt_a": good("aaa")})
    make_dist(site, "tgx-fmt-b", "1.0", {"fmt_b": "tgx_fmt_b"}, {"tgx_fmt_b": good("bbb")})
    none, _ = pm_for(Config(env={}, load=[]))
    assert none.get_plugin("fmt_a") is None and none.get_plugin("fmt_b") is None
    assert none.get_plugin("telegram") is not None  # built-ins are not affected
    assert "TGX_LOAD_PLUGINS" in {i.name: i for i in plugin_infos(none)}["fmt_a"].note
    only_b, _ = pm_for(Config(env={}, load=["fmt_b"]))
    assert only_b.get_plugin("fmt_a") is None and only_b.get_plugin("fmt_b") is not None
    forced, _ = pm_for(Config(env={}, load=[], enable=["fmt_a"]), cli_plugins=["fmt_a"])
    assert forced.get_plugin("fmt_a") is not None
    disabled, _ = pm_for(Config(env={}, disable=["fmt_b"]))
    assert disabled.is_blocked("fmt_b") and "fmt_b" in known_plugin_names(disabled)


def test_a_plugin_that_raises_on_import_is_reported_and_the_rest_works(site: Path) -> None:
    make_dist(site, "tgx-broken", "0.3", {"broken": "tgx_broken_mod"},
              {"tgx_broken_mod": "raise ImportError('needs libfoo')\n"})
    make_dist(site, "tgx-fmt-a", "1.0", {"fmt_a": "tgx_fmt_a"}, {"tgx_fmt_a": good("aaa")})
    pm, warnings = pm_for(Config(env={}))
    [line] = warnings.matching("'broken'")
    assert line == ("plugin 'broken' (tgx-broken 0.3) failed to load: ImportError: needs libfoo — "
                    "fix it or disable it with `tgx plugins disable broken`")
    info = {i.name: i for i in plugin_infos(pm)}["broken"]
    assert not info.enabled and info.error == "ImportError: needs libfoo"
    assert pm.get_plugin("fmt_a") is not None and "aaa" in registry.formats(pm, warn=warnings)
    # disabling it silences it: it is not even imported
    quiet, warnings = pm_for(Config(env={}, disable=["broken"]))
    assert not warnings.matching("broken") and quiet.is_blocked("broken")


def test_invalid_hookimpls_are_rejected_with_a_warning(site: Path) -> None:
    make_dist(site, "tgx-bad-args", "1.0", {"bad_args": "tgx_bad_args"}, {"tgx_bad_args": """
        import tgx
        @tgx.hookimpl
        def tgx_register_formats(nonsense):
            return None
    """})
    make_dist(site, "tgx-typo", "1.0", {"typo": "tgx_typo"}, {"tgx_typo": """
        import tgx
        @tgx.hookimpl
        def tgx_register_format():
            return None
    """})
    pm, warnings = pm_for(Config(env={}))
    assert warnings.matching("plugin 'bad_args' (tgx-bad-args 1.0) is invalid")
    assert warnings.matching("plugin 'typo' (tgx-typo 1.0) implements unknown hook tgx_register_format")
    assert pm.get_plugin("bad_args") is None and pm.get_plugin("typo") is None
    assert pm.hook.tgx_register_formats.get_hookimpls() is not None  # the hook still works
    pm.hook.tgx_register_formats()


def test_an_entry_point_named_like_a_builtin_is_skipped(site: Path) -> None:
    make_dist(site, "tgx-fake-telegram", "1.0", {"telegram": "tgx_fmt_a"},
              {"tgx_fmt_a": GOOD.format(fmt="aaa", module="a")})
    pm, warnings = pm_for(Config(env={}))
    assert warnings.matching("plugin 'telegram' from tgx-fake-telegram has the name of a built-in")
    assert pm.get_plugin("telegram") is sys.modules["tgx_telegram"]


# -- the registry ------------------------------------------------------------------------------------


def bare_pm() -> Any:
    pm, _ = pm_for(Config(env={}, disable=list(BUILTIN_PLUGINS)), load_entrypoints=False)
    return pm


class FormatPlugin:
    def __init__(self, *names: str) -> None:
        self.names = names

    @tgx.hookimpl
    def tgx_register_formats(self) -> list[FormatSpec]:
        return [FormatSpec(name, factory=lambda ctx: None) for name in self.names]


def test_duplicate_format_name_warns_naming_both_and_first_wins() -> None:
    pm = bare_pm()
    pm.register(FormatPlugin("html2", "only_a"), name="plugin_a")
    pm.register(FormatPlugin("html2", "only_b"), name="plugin_b")
    warnings = Warnings()
    found = registry.formats(pm, warn=warnings)
    assert warnings == ["format 'html2' is registered by both plugin 'plugin_a' and plugin 'plugin_b'; "
                        "using the one from 'plugin_a'"]
    assert found["html2"].plugin == "plugin_a"
    assert {"only_a", "only_b"} <= set(found)


def test_tryfirst_takes_precedence_in_name_clashes() -> None:
    class Eager(FormatPlugin):
        @tgx.hookimpl(tryfirst=True)
        def tgx_register_formats(self) -> list[FormatSpec]:
            return [FormatSpec("html2", factory=lambda ctx: None)]

    pm = bare_pm()
    pm.register(FormatPlugin("html2"), name="first")
    pm.register(Eager(), name="eager")
    assert registry.formats(pm, warn=Warnings())["html2"].plugin == "eager"


def test_a_register_hook_that_raises_is_reported_and_others_still_register() -> None:
    class Broken:
        @tgx.hookimpl
        def tgx_register_formats(self) -> None:
            raise RuntimeError("kaput")

    pm = bare_pm()
    pm.register(Broken(), name="broken")
    pm.register(FormatPlugin("fine"), name="ok")
    warnings = Warnings()
    assert list(registry.formats(pm, warn=warnings)) == ["fine"]
    assert warnings.matching("plugin 'broken' failed in tgx_register_formats: RuntimeError: kaput")


def test_invalid_specs_are_skipped_with_a_warning() -> None:
    class Sloppy:
        @tgx.hookimpl
        def tgx_register_formats(self) -> list[Any]:
            return [{"name": "dict"}, FormatSpec("Bad Name", factory=lambda c: None),
                    FormatSpec("nofactory", factory=None), FormatSpec("good", factory=lambda c: None)]  # type: ignore

    pm = bare_pm()
    pm.register(Sloppy(), name="sloppy")
    warnings = Warnings()
    assert list(registry.formats(pm, warn=warnings)) == ["good"]
    assert len(warnings.matching("plugin 'sloppy' registered an invalid format")) == 3


class EncoderPlugin:
    def __init__(self, name: str, priority: int) -> None:
        self.spec = EncoderSpec(name, priority, factory=lambda config: None)

    @tgx.hookimpl
    def tgx_register_encoders(self, config: Config) -> EncoderSpec:
        return self.spec


def test_encoders_sorted_by_priority_and_duplicates_are_an_error() -> None:
    pm = bare_pm()
    pm.register(EncoderPlugin("slow", 10), name="p_slow")
    pm.register(EncoderPlugin("fast", 90), name="p_fast")
    assert [e.name for e in registry.encoders(pm, warn=pytest.fail)] == ["fast", "slow"]
    pm.register(EncoderPlugin("fast", 50), name="p_other")
    with pytest.raises(PluginError, match="encoder 'fast' is registered by both plugin 'p_fast' and "
                                          "plugin 'p_other'") as info:
        registry.encoders(pm, warn=pytest.fail)
    assert info.value.exit_code == ExitCode.CONFIG


def test_duplicate_metrics_sinks_and_peer_resolvers_are_errors() -> None:
    class Sinks:
        @tgx.hookimpl
        def tgx_register_metrics_sinks(self, config: Config) -> MetricsSinkSpec:
            return MetricsSinkSpec("dup", factory=lambda ctx: None)

        @tgx.hookimpl
        def tgx_register_peer_resolvers(self, config: Config) -> PeerResolverSpec:
            return PeerResolverSpec("dup", 1, factory=lambda ctx: None)

    pm = bare_pm()
    pm.register(Sinks(), name="one")
    assert list(registry.metrics_sinks(pm, warn=pytest.fail)) == ["dup"]
    assert [r.plugin for r in registry.peer_resolvers(pm, warn=pytest.fail)] == ["one"]
    pm.register(Sinks(), name="two")
    with pytest.raises(PluginError, match="metrics sink 'dup' is registered by both"):
        registry.metrics_sinks(pm, warn=pytest.fail)
    with pytest.raises(PluginError, match="peer resolver 'dup' is registered by both"):
        registry.peer_resolvers(pm, warn=pytest.fail)


def test_registry_results_are_memoized_per_manager_so_warnings_print_once(capsys: Any) -> None:
    pm = bare_pm()
    pm.register(FormatPlugin("x"), name="a")
    pm.register(FormatPlugin("x"), name="b")
    assert registry.formats(pm) is registry.formats(pm)
    assert capsys.readouterr().err.count("format 'x' is registered by both") == 1
