"""``landsim compare``: several runs side by side (being written)."""

from __future__ import annotations

from pathlib import Path

import click

from landsim.cli._common import _user_errors


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@_user_errors
def compare(runs: tuple[Path, ...]) -> None:
    """Compare RUNS (placeholder until the comparison lands)."""
    raise click.UsageError("compare is not available yet")
