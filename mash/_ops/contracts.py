"""The wire contract as files: one JSON Schema per event type and the hub's AsyncAPI document.

Generated from the pydantic models and the faststream app, never written by hand; a test
fails when the checked-in copies drift from what the code says.
"""

from __future__ import annotations

import json
from typing import Any

from mash._bootstrap import build_consumers
from mash._config.settings import Settings
from mash._runtime.hub import Hub
from mash.schemas.events import EVENT_ADAPTER, EVENT_TYPES


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Relative path -> file text, for everything `mash schemas` writes."""
    from mash.consumers.screening.thresholds import load_thresholds  # noqa: PLC0415

    files: dict[str, str] = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        schema["$id"] = f"https://mash.example/schemas/{event_type}.json"
        schema["x-stream"] = model.stream
        files[f"json/{event_type}.json"] = _dump(schema)
    union = EVENT_ADAPTER.json_schema()
    union["title"] = "Any mash event"
    files["json/event.json"] = _dump(union)
    settings = Settings(consumer_name="mash-worker")
    hub = Hub(settings, build_consumers(load_thresholds(settings.thresholds)))
    files["asyncapi.json"] = _dump(hub.asyncapi())
    return files
