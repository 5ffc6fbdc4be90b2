"""Matrix expansion with GitHub Actions semantics.

1. The variables' lists give a cartesian product in declaration order (the first variable
   changes slowest).
2. `exclude` drops every combination that matches all of one entry's keys (a partial match).
3. `include`, processed after `exclude`, adds an entry's keys to every *original* combination
   it matches without overwriting an original value (values added by an earlier include may be
   overwritten); an entry that matches none becomes a new combination of its own. Combinations
   made by include are never extended by later entries.
4. With no variables at all, every include entry is a combination.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

MAX_COMBINATIONS = 256


class MatrixError(ValueError):
    """The matrix is malformed; `where` is e.g. "matrix.exclude[1]"."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def expand(matrix: Mapping[str, Any], *, limit: int = MAX_COMBINATIONS) -> list[dict[str, Any]]:
    """The combinations of `matrix`, each a dict of variable -> value, in job order."""
    if not isinstance(matrix, Mapping):
        raise MatrixError("matrix", "the matrix must be a mapping of variable names to lists")
    include = _entries(matrix, "include")
    exclude = _entries(matrix, "exclude")
    variables: dict[str, list[Any]] = {}
    for name, values in matrix.items():
        if name in ("include", "exclude"):
            continue
        if not isinstance(name, str) or not name:
            raise MatrixError("matrix", f"the variable name {name!r} is not text")
        if not isinstance(values, list) or not values:
            raise MatrixError(
                f"matrix.{name}", "a matrix variable needs a non-empty list, e.g. [a, b]"
            )
        variables[name] = values
    for index, entry in enumerate(exclude):
        for key in entry:
            if key not in variables:
                raise MatrixError(
                    f"matrix.exclude[{index}]",
                    f"{key!r} is not a matrix variable: use {', '.join(variables) or 'none'}",
                )
    size = 1
    for values in variables.values():
        size *= len(values)
    if variables and size > limit * 64:  # refuse before building millions of dicts
        raise MatrixError("matrix", _too_many(size, limit))
    original: list[dict[str, Any]] = []
    if variables:
        for combo in itertools.product(*variables.values()):
            row = dict(zip(variables, combo, strict=True))
            if not any(_matches(row, entry) for entry in exclude):
                original.append(row)
    added: list[dict[str, Any]] = []
    for entry in include:
        matched = False
        for row in original:
            if all(_same(row[key], value) for key, value in entry.items() if key in variables):
                row.update({k: v for k, v in entry.items() if k not in variables})
                matched = True
        if not matched:
            added.append(dict(entry))
    result = original + added
    if len(result) > limit:
        raise MatrixError("matrix", _too_many(len(result), limit))
    return result


def _too_many(count: int, limit: int) -> str:
    return (
        f"the matrix makes {count:,} combinations; the limit is {limit}: use fewer values or "
        "exclude some, or split it into several manifests"
    )


def _entries(matrix: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    raw = matrix.get(key, [])
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise MatrixError(f"matrix.{key}", f"{key} must be a list of mappings")
    entries: list[dict[str, Any]] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not entry:
            raise MatrixError(
                f"matrix.{key}[{index}]", "each entry must be a non-empty mapping, e.g. {a: 1}"
            )
        entries.append(dict(entry))
    return entries


def _matches(row: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    return all(key in row and _same(row[key], value) for key, value in entry.items())


def _same(a: object, b: object) -> bool:
    # YAML gives true and 1 different types; Python's True == 1 must not merge them.
    return type(a) is type(b) and a == b


def describe(combination: Mapping[str, Any]) -> str:
    """A combination as the user wrote it: `{animal: otter, duration: 6}`."""
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in combination.items()) + "}"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
