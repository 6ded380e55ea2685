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
    """Logging for a mash process (the CLI, a worker): structlog, the standard library's root
    and the broker's logger, all at `level`."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    _structlog(numeric, json=json)
    # faststream logs through the standard library; keep it at the same level and stream.
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s", force=True)
    _quiet_broker(numeric)


def configure_library() -> None:
    """Logging for mash inside someone else's process (the pytest plugin, `MashHub`): nothing
    below WARNING from mash or its broker, and their logging left as they set it.

    Unconfigured structlog prints every level, debug included, and faststream announces each
    read loop's life at INFO: a four-shard hub in a test used to fill the console. structlog
    is configured only if the process has not done so itself.
    """
    if not structlog.is_configured():
        _structlog(logging.WARNING, json=False)
    _quiet_broker(logging.WARNING)


def _structlog(numeric: int, *, json: bool) -> None:
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


def _quiet_broker(numeric: int) -> None:
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
        return _shorten_outage(record) and record.levelno >= self.level


_OUTAGE_EVERY = 5.0  # seconds between two outage lines from the read loops
_last_outage = [0.0]


def _shorten_outage(record: logging.LogRecord) -> bool:
    """faststream's read loop logs a lost Redis connection with a full traceback, from every
    loop at every retry; an outage is news, not a bug, so it becomes one warning line every
    few seconds. False drops the record."""
    exc = record.exc_info[1] if record.exc_info else None
    if exc is None:
        return True
    from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: PLC0415
    from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: PLC0415

    if not isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError):
        return True
    if record.created - _last_outage[0] < _OUTAGE_EVERY:
        return False
    _last_outage[0] = record.created
    why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    record.msg, record.args = f"Redis unreachable, reading again shortly: {why}", ()
    record.exc_info, record.exc_text = None, None
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True
