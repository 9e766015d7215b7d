"""The ``csv`` format: ``<chat>/messages.csv``, one row per message (RFC 4180).

Fixed, documented columns; UTF-8 with a byte-order mark by default so spreadsheets detect the
encoding; cells that a spreadsheet would run as a formula get a leading ``'``. See
docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, OptionSpec, RenderContext


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (not to list formats or build `tgx --help`)."""
    from .writer import CsvWriter

    return CsvWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="csv",
        factory=_writer,
        description="messages.csv: one row per message, for spreadsheets and data tools",
        options=(
            # on/off choices rather than type=bool: "--csv-bom off" reads the same on the command
            # line and in tgx.toml (where true/false work as well)
            OptionSpec("csv-formula-guard", "prefix ' to text cells starting with = + - @ TAB or CR, so "
                       "spreadsheets do not run them as formulas", default="on", choices=("on", "off")),
            OptionSpec("csv-bom", "start the file with a UTF-8 byte-order mark (Excel needs it to "
                       "read UTF-8)", default="on", choices=("on", "off")),
        ),
    )
