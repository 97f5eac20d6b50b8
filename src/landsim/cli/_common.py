"""What every command shares: logging set-up and one-line user errors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import click


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("landsim")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a LandsimError as one line and exit with its code; bugs keep tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from landsim.errors import LandsimError

        ctx = click.get_current_context()
        try:
            return func(*args, **kwargs)
        except LandsimError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; no output was left half-written", err=True)
            sys.exit(130)

    return wrapper
