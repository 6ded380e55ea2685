"""The `mash` command line, one module per group of commands.

`common` holds what they share; importing the groups registers their commands on the app.
"""

from __future__ import annotations

import signal

from mash._cli import dev, hub, run
from mash._cli.common import app

__all__ = ["app", "dev", "hub", "main", "run"]

# `--help` lists commands as they were registered; this is the order a newcomer reads them in.
ORDER = (
    "replay",
    "scenarios",
    "generate",
    "exercise",
    "worker",
    "publish",
    "report",
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


def main() -> None:
    # Own the signals whatever the parent left us (a background job inherits SIGINT ignored):
    # Ctrl-C and SIGTERM both unwind through the hub's cleanup, stopping the embedded Redis.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    app()
