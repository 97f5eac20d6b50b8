"""``landsim import-sleuth``: a SLEUTH scenario file and its GIFs → a landsim scenario."""

from __future__ import annotations

from pathlib import Path

import click

from landsim.cli._common import _user_errors


@click.command("import-sleuth")
@click.argument("scenario_file", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path))
@_user_errors
def import_sleuth(scenario_file: Path, output: Path) -> None:
    """Import SCENARIO_FILE (being written)."""
    raise click.UsageError("import-sleuth is not available yet")
