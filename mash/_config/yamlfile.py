"""YAML that remembers line numbers, so a typo is reported as `file:line: field: why`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mash.errors import FileError
from mash.schemas.events import range_message


class LinedDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class LinedList(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LinedDict:
    loader.flatten_mapping(node)
    result = LinedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            msg = f"duplicate key {key!r}"
            raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
        try:
            result[key] = loader.construct_object(value_node, deep=True)
        except _BadScalar as exc:
            exc.path.insert(0, key)
            raise
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LinedList:
    result = LinedList()
    for index, child in enumerate(node.value):
        try:
            result.append(loader.construct_object(child, deep=True))
        except _BadScalar as exc:
            exc.path.insert(0, index)
            raise
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


class _BadScalar(yaml.constructor.ConstructorError):
    """A scalar YAML recognises but cannot build (`2014-02-30`: a date with no such day);
    the mappings and lists it sits in add their keys on the way out, naming the field."""

    def __init__(self, why: str, mark: yaml.Mark) -> None:
        super().__init__(None, None, why, mark)
        self.path: list[int | str] = []


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """PyYAML turns anything shaped like a date into one, and an impossible one (30 February,
    25 o'clock, month 13) raises a bare ValueError with no line; this gives it its line."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        why = f"{node.value!r} is not a real date or time ({exc})"
        raise _BadScalar(why, node.start_mark) from exc


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


class YamlError(Exception):
    def __init__(self, line: int | None, why: str, field: str = "") -> None:
        self.line, self.why, self.field = line, why, field
        super().__init__(why)


def read_text(path: Path) -> str:
    """A file a person wrote, as text; raises `YamlError` with the line of the first byte
    that is not UTF-8 (a binary file, or one saved in another encoding), or `OSError`."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        why = f"not UTF-8 text (byte 0x{data[exc.start]:02x}): is it the file you meant?"
        raise YamlError(line, why) from exc


def load(path: Path) -> Any:
    """Parse a YAML file; raises `YamlError` (with a line) or `OSError`."""
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _BadScalar as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise YamlError(line, exc.problem or "", dotted(exc.path)) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlError(line, f"not valid YAML: {exc.problem or exc.context}") from exc


M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], what: str, error: type[FileError]) -> tuple[M, Any]:
    """Read a YAML file into `model`; every mistake is `error(file, line, field, why)`.

    Returns the parsed data too, whose line numbers later checks can point at.
    """
    shown = str(path)
    try:
        data = load(path)
    except OSError as exc:
        raise error(shown, None, "", f"cannot read {what} ({exc.strerror})") from exc
    except YamlError as exc:
        raise error(shown, exc.line, exc.field, exc.why) from exc
    if not isinstance(data, dict):
        raise error(shown, None, "", f"a {what} is a mapping at the top level")
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        loc, message = describe(exc)
        raise error(shown, line_of(data, loc), dotted(loc), message) from exc


def line_of(data: Any, loc: Sequence[int | str]) -> int | None:
    """The line of the deepest node of `data` that `loc` reaches."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, LinedDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LinedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def describe(exc: ValidationError) -> tuple[tuple[int | str, ...], str]:
    """The location and a one-line message of the first error pydantic found."""
    errors = exc.errors(include_url=False)
    # A misspelt key shows up twice: as an unknown field and as the field now missing.
    # The misspelling is the one worth reporting.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    message = range_message(first) or first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    elif first["type"] == "missing":
        message = "required field is missing"
    if "input" in first and first["type"] in {"enum", "literal_error"}:
        message = f"{first['input']!r}: {message}"
    more = len(errors) - 1
    return loc, message + (f" (+{more} more)" if more else "")


def dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
