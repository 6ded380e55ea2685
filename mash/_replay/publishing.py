"""`mash publish`: JSONL or a scenario into a hub's streams, paced in event time if asked."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from mash._config.settings import Settings
from mash._config.yamlfile import describe, dotted
from mash._runtime.hub import Hub
from mash._scenarios.generated import has_header, open_generated
from mash._scenarios.scenario import load_scenario
from mash.errors import ScenarioError
from mash.schemas.events import Envelope, parse_event


def read_jsonl(name: str, lines: Iterable[bytes]) -> Iterator[Envelope]:
    """Events of a JSONL file, each line checked; every mistake names the file and line.

    Lines are decoded here rather than by a text stream, so a binary or wrongly encoded file
    is an error at the line that holds the bad byte, not a traceback from deep in the reader.
    """
    number = 0
    try:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                why = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}): is it the file you meant?"
                raise ScenarioError(name, number, "", why) from exc
            if not line.strip():
                continue
            try:
                event = parse_event(line)
            except ValidationError as exc:
                loc, message = describe(exc)
                loc = loc[1:] if loc and isinstance(loc[0], str) and "." in loc[0] else loc
                raise ScenarioError(name, number, dotted(loc), message) from exc
            yield event
    except OSError as exc:
        raise ScenarioError(name, number + 1, "", f"cannot read on ({exc.strerror})") from exc


def _generated(path: Path) -> Iterator[Envelope]:
    with open_generated(path) as (_header, events):
        yield from events


def events_of(source: str) -> Iterator[Envelope]:
    if source == "-":
        return read_jsonl("<stdin>", sys.stdin.buffer)
    path = Path(source)
    if has_header(path):
        return _generated(path)
    if path.suffix in {".yaml", ".yml"}:
        return iter(load_scenario(path).events)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ScenarioError(source, None, "", f"cannot read ({exc.strerror})") from exc
    return read_jsonl(source, handle)


async def publish_source(source: str, settings: Settings, speed: float) -> int:
    events = events_of(source)
    count = 0
    async with Hub(settings, []) as hub:
        if speed <= 0:
            return await hub.publish(events)
        previous = None
        for event in events:
            if previous is not None:
                gap = (event.occurred_at - previous).total_seconds() / speed
                if gap > 0:
                    await asyncio.sleep(gap)
            previous = event.occurred_at
            count += await hub.publish([event])
    return count
