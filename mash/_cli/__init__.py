"""The `mash` command line, one module per group of commands.

`common` holds what they share; importing the groups registers their commands on the app.
"""

from __future__ import annotations

import signal
import sys

import typer

from mash._cli import dev, hub, run
from mash._cli.common import app, err

__all__ = ["app", "dev", "hub", "main", "run"]

# `--help` lists commands as they were registered; this is the order a newcomer reads them in.
ORDER = (
    "replay",
    "scenarios",
    "generate",
    "compare",
    "exercise",
    "room",
    "worker",
    "publish",
    "report",
    "child",
    "status",
    "clocks",
    "missing",
    "tail",
    "schemas",
    "bench",
)
app.registered_commands.sort(
    key=lambda c: ORDER.index(c.name or c.callback.__name__)  # type: ignore[union-attr]
)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _family(name: str) -> type[Exception]:
    """click's exception classes, reached from typer's public `BadParameter`: they are click's
    own before typer 0.26 and typer's vendored copy since, whose module is private."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


UsageError = _family("UsageError")  # a bad option value, a missing argument, a typo'd flag
ClickException = _family("ClickException")


def main() -> None:
    # The entry point (`mash._entry`, the only caller) has taken SIGINT back from whatever the
    # parent left (ignored, blocked) before these imports; SIGTERM unwinds the same way, so
    # both go through the hub's cleanup, stopping the embedded Redis.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = app(standalone_mode=False, prog_name="mash")
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `mash`: the help is the answer
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        # typer would print a five-line box; every other mistake is one line, so this is too.
        message = " ".join(exc.format_message().split()).replace("Value error, ", "")  # type: ignore[attr-defined]
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "mash"
        message = f"{message.rstrip('.')} ({where} --help)"
        err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
        sys.exit(2)
    except ClickException as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
