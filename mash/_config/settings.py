"""Settings from `MASH_*` environment variables, overridable by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_THRESHOLDS = Path(__file__).parent.parent / "thresholds" / "default.yaml"
DEFAULT_TIMESCALES = Path(__file__).parent.parent / "timescales" / "default.yaml"
DEFAULT_TEAM = Path(__file__).parent.parent / "teams" / "default.yaml"
DEFAULT_SCORING = Path(__file__).parent.parent / "cse" / "scoring.yaml"
DEFAULT_LEA = "372"  # DfE local authority number of the seeds' borough (Rotherham)


class Settings(BaseSettings):
    """One typed object for everything a hub needs to know (arq's `WorkerSettings` idea)."""

    model_config = SettingsConfigDict(env_prefix="MASH_", extra="ignore")

    redis_url: SecretStr | None = Field(
        default=None, description="Redis to use; none starts a private embedded server."
    )
    namespace: str = Field(default="mash", pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_ms: int = Field(default=100, ge=1, le=60_000)
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Deliveries, or tries of a raising rule, before dead-lettering.",
    )
    shards: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Shards per input stream; the namespace keeps the first count it is given.",
    )
    lease_ms: int = Field(
        default=10_000, ge=100, description="How long a dead worker's shards stay held."
    )
    max_entry_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger entries are dead-lettered unread."
    )
    consumer_name: str | None = Field(default=None, description="Defaults to host-pid.")
    clock: Literal["event", "wall"] | None = Field(
        default=None,
        description="event: watermarks come on the clock stream (a replay, `mash publish`); "
        "wall: workers tick from the wall clock. A namespace keeps the first it is given.",
    )
    dedupe_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Event time behind a child's latest event in which a duplicate is "
        "recognised; an older event for that child is dead-lettered as too_late.",
    )
    retention: int = Field(
        default=0,
        ge=0,
        description="Entries each stream keeps as a run goes (0: all), never trimming one "
        "a consumer group has not acked; a scenario replay keeps all (its checks read them).",
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Niceness added (POSIX) to the worker processes a replay or a bench starts (0: "
        "none): their bulk work yields the CPU to an interactive command, a report asked for "
        "from another shell, and to the publishing process and Redis they wait on.",
    )
    thresholds: Path = DEFAULT_THRESHOLDS
    timescales: Path = DEFAULT_TIMESCALES
    scoring: Path = DEFAULT_SCORING
    team: Path | None = Field(
        default=None,
        description="A team file: contacts wait for its practitioners (none: each is decided "
        "the instant it arrives, as by a team that never runs out of hands).",
    )
    screening: Literal["auto", "manual"] = Field(
        default="auto", description="manual: decisions come from outside (a trainee, a scenario)."
    )
    log_level: str = "WARNING"
    log_json: bool = False


def redact_url(url: str) -> str:
    """A URL safe to print: user names and passwords are replaced, never shown."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
