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


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so staging folders are removed; a second SIGTERM is
    ignored, so it cannot interrupt that clean-up."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(header: list[str], rows: list[list[str]], left_columns: int = 1) -> list[str]:
    """Aligned text columns: the first ``left_columns`` left, the rest (numbers) right."""
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def cell(text: str, i: int) -> str:
        fill = " " * (widths[i] - _width(text))
        return text + fill if i < left_columns else fill + text

    return ["  ".join(cell(c, i) for i, c in enumerate(r)) for r in [header, *rows]]
