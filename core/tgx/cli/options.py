"""How options look and read on every command: plugins' options as typer parameters, one metavar
style, and the format list.

* **One style.** Every option that takes a value shows an UPPERCASE metavar naming what it takes
  (``--out DIR``, ``--concurrency N``, ``--transcode MODE``); flags show none (``--quiet``), and
  booleans are ``--x/--no-x``. :func:`tidy_help` applies the flag rule to the built command tree
  (typer would print ``<bool>``); the tests check every command against the rule.
* **Plugins' options** (``OptionSpec`` of a format or metrics sink) become flags of ``tgx export``
  (and, for formats, ``tgx render``) by themselves. Their CLI default is None, so that "not given"
  falls back to the plugin's tgx.toml table, then to ``opt.default``
  (:func:`tgx.host.registry.option_values`).
* **Old spelling.** A boolean plugin option is a ``--x/--no-x`` flag; ``--x on`` / ``--x off``
  (what the docs showed before) still work: :func:`legacy_bool_args` rewrites them.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Sequence
from typing import Any, Literal

import pluggy
import typer
from rich.markup import escape

from tgx.errors import UsageError
from tgx.host import registry
from tgx.specs import OptionSpec

TRUE_WORDS = frozenset({"on", "true", "yes", "1"})
FALSE_WORDS = frozenset({"off", "false", "no", "0"})


def split_formats(values: Sequence[str]) -> list[str]:
    """``-f jsonl,html -f csv`` → ``["jsonl", "html", "csv"]`` (each once, in order)."""
    names: list[str] = []
    for value in values:
        names += [v.strip() for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(names))


def plugin_option_specs(pm: pluggy.PluginManager, *, sinks: bool = True) -> list[OptionSpec]:
    """Every option a format (and, with ``sinks``, a metrics sink) plugin adds, once each
    (first registration wins)."""
    seen: dict[str, OptionSpec] = {}
    specs: list[Any] = [item.spec for item in registry.formats(pm).values()]
    if sinks:
        specs += [item.spec for item in registry.metrics_sinks(pm).values()]
    for spec in specs:
        for opt in spec.options:
            seen.setdefault(opt.name, opt)
    return list(seen.values())


def py_name(flag: str) -> str:
    """The Python parameter name of a plugin option (``html-page-size`` → ``opt_html_page_size``)."""
    return "opt_" + flag.replace("-", "_")


def metavar_of(opt: OptionSpec) -> str:
    """The option's metavar: its own, else its choices (``DAY|MONTH``), else by type."""
    if opt.metavar:
        return opt.metavar
    if opt.choices:
        return "|".join(c.upper() for c in opt.choices)
    return {int: "N", float: "NUMBER"}.get(opt.type, "TEXT")


def option_parameter(opt: OptionSpec) -> inspect.Parameter:
    """A plugin option as a keyword parameter for a typer command built with ``__signature__``."""
    text = opt.help[:1].upper() + opt.help[1:]  # capitalised like the core's help
    if not text.endswith((".", ")", "]")):
        text += "."
    if opt.default is not None:  # shown as typer shows the core's defaults (the CLI default is None)
        text += " " + escape(f"[default: {_default_word(opt)}]")
    if opt.type is bool:
        default = typer.Option(None, f"--{opt.name}/--no-{opt.name}", help=text, show_default=False)
        annotation: Any = bool
    else:
        default = typer.Option(None, f"--{opt.name}", help=text, show_default=False, metavar=metavar_of(opt))
        annotation = Literal[opt.choices] if opt.choices else opt.type
    return inspect.Parameter(py_name(opt.name), inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation | None)


def _default_word(opt: OptionSpec) -> str:
    if opt.type is bool:
        return f"--{opt.name}" if opt.default else f"--no-{opt.name}"
    return str(opt.default)


def legacy_bool_args(args: Sequence[str], specs: Sequence[OptionSpec]) -> list[str]:
    """``--csv-bom off`` / ``--csv-bom=on`` → ``--no-csv-bom`` / ``--csv-bom`` for boolean plugin
    options (on/off, true/false, yes/no, 1/0)."""
    names = {f"--{opt.name}" for opt in specs if opt.type is bool}
    if not names:
        return list(args)
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out += args[i:]
            break
        flag, eq, value = arg.partition("=")
        if flag in names:
            # The old spelling took the next word as the value: it still does (so `--csv-bom off
            # news` keeps meaning what it meant), and a word that is no on/off is an error.
            if not eq and i + 1 < len(args) and not args[i + 1].startswith("-"):
                value, eq = args[i + 1], "="
                i += 1
            if eq:
                word = value.lower()
                if word in TRUE_WORDS:
                    arg = flag
                elif word in FALSE_WORDS:
                    arg = "--no-" + flag[2:]
                else:
                    raise UsageError(f"{flag} is a flag: use {flag} or --no-{flag[2:]} (not {value!r})")
        out.append(arg)
        i += 1
    return out


def wait_lock_parameter() -> inspect.Parameter:
    """``--wait-lock SECONDS``: every command that writes OUT takes its lock the same way."""
    return inspect.Parameter("wait_lock", inspect.Parameter.KEYWORD_ONLY, annotation=float, default=typer.Option(
        0.0, "--wait-lock", metavar="SECONDS", min=0,
        help="If another tgx process is writing OUT, wait up to SECONDS for it (default: fail at once)."))


def report_parameters(*, quiet_help: str = "No progress display and no summary.",
                      json_help: str | None = "Print a machine-readable result on stdout.") -> list[inspect.Parameter]:
    """``--quiet``, ``--json`` (unless ``json_help`` is None) and ``-v``: how a command reports."""
    P = inspect.Parameter
    params = [P("quiet", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, "--quiet", "-q",
                                                                                  help=quiet_help))]
    if json_help is not None:
        params.append(P("json_output", P.KEYWORD_ONLY, annotation=bool, default=typer.Option(
            False, "--json", help=json_help)))
    params.append(P("verbose", P.KEYWORD_ONLY, annotation=int, default=verbose_option()))
    return params


def verbose_option() -> Any:
    """``-v/--verbose`` for commands that print progress, as the root accepts it (main's prescan
    reads it from either place, so it works before config and plugins load)."""
    return typer.Option(0, "--verbose", "-v", count=True,
                        help="More detail; -v also shows tracebacks of internal errors.")


def tidy_help(command: Any) -> Any:
    """Flags (booleans, counters, ``--help``) show no metavar in help — typer would print
    ``<bool>``/``<int>`` there. Applied to the whole tree typer built; returns ``command``."""
    for param in getattr(command, "params", ()):
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    original = command.get_help_option

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = types.MethodType(get_help_option, command)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
    return command


__all__ = ["legacy_bool_args", "metavar_of", "option_parameter", "plugin_option_specs", "py_name", "split_formats",
           "tidy_help", "verbose_option"]
