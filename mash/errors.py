"""Errors a person can cause, each caught once at the edge and shown as one clear line."""

from __future__ import annotations


class MashError(Exception):
    """Base of every error the CLI turns into one line and exit code 2."""


class HubUnavailable(MashError):
    """Redis could not be reached or started."""


class FileError(MashError):
    """A file a person wrote is wrong: names the file, the line and the field."""

    def __init__(self, file: str, line: int | None, field: str, why: str) -> None:
        self.file, self.line, self.field, self.why = file, line, field, why
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {field}: {why}" if field else f"{where}: {why}")


class ScenarioError(FileError):
    """A scenario file (or a JSONL file of events) is wrong."""


class ConfigError(FileError):
    """A configuration file (thresholds, timescales, scoring) is wrong."""
