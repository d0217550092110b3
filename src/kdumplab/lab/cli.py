"""`kdumplab lab ...` commands."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Boot real Debian kernels under QEMU and record what they reserve."""
