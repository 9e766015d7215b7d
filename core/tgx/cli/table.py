"""The listing commands' one table style (``tgx chats``, ``topics``, ``plugins``, ``formats``).

Every cell is shown as plain text: titles, plugin notes and descriptions come from Telegram or
from plugins, so no rich markup is read in them and control / bidi-override characters are
stripped (:func:`tgx.console.printable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from rich.table import Table
from rich.text import Text

from tgx import console

Justify = Literal["left", "right"]

__all__ = ["print_table"]


def print_table(columns: Sequence[str | tuple[str, Justify]], rows: Iterable[Sequence[object]]) -> None:
    """Print ``rows`` under ``columns`` (a name, or ``(name, "right")`` for numbers) on stdout;
    ``None`` cells are empty."""
    table = Table(box=None, pad_edge=False)
    for column in columns:
        if isinstance(column, str):
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column[0], justify=column[1], overflow="fold")
    for row in rows:
        table.add_row(*(Text(console.printable("" if cell is None else str(cell))) for cell in row))
    console.stdout().print(table)
