"""The fields a batch item may set, and how raw values from a file become typed ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Field -> kind. Order is the order problems and documentation list them in.
FIELDS: dict[str, str] = {
    "prompt": "text",
    "prompt_file": "text",
    "id": "id",
    "model": "text",
    "duration": "int",
    "resolution": "text",
    "aspect_ratio": "text",
    "image": "text",
    "audio": "bool",
    "variants": "int",
    "name": "text",
}
MAX_VARIANTS = 4
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def unknown_fields(raw: Mapping[str, object]) -> list[str]:
    """One message per key that is not an item field, naming the ones that are."""
    return [f"unknown field {key!r}: use {', '.join(FIELDS)}" for key in raw if key not in FIELDS]


def coerce_fields(raw: Mapping[str, object]) -> tuple[dict[str, Any], list[str]]:
    """Typed field values and a message per bad one.

    Text from CSV and TXT arrives as strings, so whole numbers and booleans written as text are
    accepted; an empty value or null means "not set here" and lets a lower layer decide.
    """
    values: dict[str, Any] = {}
    problems = unknown_fields(raw)
    for key, value in raw.items():
        kind = FIELDS.get(key)
        if kind is None or value is None or (isinstance(value, str) and value == ""):
            continue
        try:
            values[key] = _coerce(kind, value)
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
    variants = values.get("variants")
    if variants is not None and not 1 <= variants <= MAX_VARIANTS:
        problems.append(f"variants: {variants} is out of range: use 1 to {MAX_VARIANTS}")
        del values["variants"]
    return values, problems


def _coerce(kind: str, value: object) -> object:
    match kind:
        case "text":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not text: quote it")
            return value
        case "id":
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"{value!r} is not a text or whole-number id")
            text = str(value).strip()
            if not text:
                raise ValueError("the id is blank: give a non-empty id or leave it out")
            return text
        case "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value.strip())
            raise ValueError(f"{value!r} is not a whole number")
        case "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError(f"{value!r} is not true or false (also yes/no, on/off, 1/0)")
    raise AssertionError(kind)
