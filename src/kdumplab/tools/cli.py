"""Click commands for the people-facing tools (check, explain, recommend, compare, report)."""

from __future__ import annotations

import click


def register_tools(main: click.Group) -> None:
    """Attach the tool commands to the main group."""
