"""structlog set-up: console lines for people, JSON lines for workers.

Privacy rule enforced here rather than hoped for: fields that can identify a child or carry
free text are dropped from every line at INFO or above.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE = frozenset({"child_id", "children", "narrative", "payload", "dob"})


def drop_sensitive(
    _logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if method != "debug":
        for key in SENSITIVE & event_dict.keys():
            del event_dict[key]
    return event_dict


def configure(level: str = "WARNING", *, json: bool = False) -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            drop_sensitive,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # faststream logs through the standard library; keep it at the same level and stream.
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s", force=True)
    # faststream sets the level of the logger we give the broker to its own choice, so its
    # lifecycle chatter ("callback for Task-7 is being executed") would pass at any setting;
    # a filter keeps the last word with --log-level.
    broker_logger = logging.getLogger(BROKER_LOGGER)
    for old in [f for f in broker_logger.filters if isinstance(f, _AtLeast)]:
        broker_logger.removeFilter(old)
    broker_logger.addFilter(_AtLeast(max(numeric, logging.WARNING)))


BROKER_LOGGER = "faststream.mash"


class _AtLeast(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level
