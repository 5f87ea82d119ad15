"""Human tables (rich) and --json output for the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

# Piped output keeps whole rows on one line instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """One line on stderr, never wrapped to the terminal width."""
    sys.stderr.write(message.replace("\n", " ") + "\n")


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    table = Table(title=title, title_justify="left", min_width=min(len(title) + 4, 140))
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return str(value)
