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
            # Flags (--csv-bom/--no-csv-bom); "--csv-bom off" and tgx.toml's "off"/false still work.
            OptionSpec("csv-formula-guard", "Prefix ' to text cells starting with = + - @ TAB or CR, so "
                       "spreadsheets do not run them as formulas", default=True, type=bool),
            OptionSpec("csv-bom", "Start the file with a UTF-8 byte-order mark (Excel needs it to "
                       "read UTF-8)", default=True, type=bool),
        ),
    )
