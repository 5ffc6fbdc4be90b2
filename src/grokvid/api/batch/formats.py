"""Batch files: JSON Lines, CSV, plain text and YAML manifests, read into located items.

Readers never stop at the first bad line: each problem is collected with its place
("clips.csv:7", "shots.yaml: items[2]") so the user can fix them all in one go.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from grokvid.api.batch import matrix as matrix_mod
from grokvid.api.batch.fields import FIELDS, unknown_fields
from grokvid.api.batch.problems import BatchInputError, Problem

FORMATS: tuple[str, ...] = ("jsonl", "csv", "txt", "yaml")
EXTENSIONS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".txt": "txt",
    ".yaml": "yaml",
    ".yml": "yaml",
}
STDIN = "-"
MANIFEST_KEYS = ("defaults", "matrix", "prompt", "name", "items")
# A manifest's sections in the order problems are listed (top-level keys, defaults, matrix,
# items), as (section, index) positions.
TOP, DEFAULTS, MATRIX, ITEMS = 1, 2, 3, 4


@dataclass(frozen=True)
class SourceItem:
    """One item as written in the file, before defaults and checks.

    `fields` are raw (uncoerced) item fields; `variables` are the matrix variables of a
    combination (empty elsewhere); `templated` says the prompt is a `{var}` template (YAML).
    """

    location: str
    fields: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)
    templated: bool = False
    position: tuple[int, int] = (0, 0)  # for listing problems in file order
    # field -> where its value was written when not at `location` (a manifest's prompt:)
    origins: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchSource:
    """A read batch file: its items, the manifest's defaults, and every problem found."""

    name: str  # as shown in problems: the path as given, or "<stdin>"
    base_dir: Path  # prompt_file and image paths are relative to this
    format: str
    items: list[SourceItem]
    defaults: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def detect_format(path: str, fmt: str | None, text: str | None = None) -> str:
    """The format to read `path` with: `fmt` if given, else from the extension (or content)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise BatchInputError(
                f"Unknown batch format {fmt!r}: use one of {', '.join(FORMATS)}.", "format"
            )
        return fmt
    if path == STDIN:
        if text is not None and _looks_like_jsonl(text):
            return "jsonl"
        raise BatchInputError(
            "Cannot tell the format of standard input: give the format "
            f"({', '.join(FORMATS)}); only JSON Lines is recognised on its own.",
            "format",
        )
    suffix = Path(path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    shown = f"extension {suffix!r}" if suffix else "no extension"
    raise BatchInputError(
        f"Cannot tell the format of {path} ({shown}): name it .jsonl, .csv, .txt, .yaml or "
        f".yml, or give the format ({', '.join(FORMATS)}).",
        "format",
    )


def _looks_like_jsonl(text: str) -> bool:
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except ValueError:
                return False
    return False


def read_batch(path: str, fmt: str | None = None, *, stdin: BinaryIO | None = None) -> BatchSource:
    """Read a batch file (`-` reads `stdin`, by default the process's standard input).

    Raises BatchInputError when the file as a whole is unusable; per-item problems are in
    the result's `problems`.
    """
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        data, name, base = stream.read(), "<stdin>", Path.cwd()
    else:
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BatchInputError(
                f"Cannot read the batch file {path}: {reason}. Check the path.", "file"
            ) from None
        name, base = path, Path(path).expanduser().parent
    text, problem = _decode(name, data)
    kind = detect_format(path, fmt, text)
    source = BatchSource(name, base, kind, [])
    if problem is not None:
        source.problems.append(problem)
        return source
    {"jsonl": _read_jsonl, "csv": _read_csv, "txt": _read_txt, "yaml": _read_yaml}[kind](
        source, text
    )
    return source


def _decode(name: str, data: bytes) -> tuple[str, Problem | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", Problem(
            f"{name}:{line}",
            f"not UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8",
        )


def _read_jsonl(source: BatchSource, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source.name}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            source.problems.append(
                Problem(where, f"not valid JSON ({exc.msg} at column {exc.colno})", (number, 0))
            )
            continue
        if not isinstance(value, dict):
            source.problems.append(
                Problem(
                    where,
                    'each line must be a JSON object, e.g. {"prompt": "..."}',
                    (number, 0),
                )
            )
            continue
        source.items.append(SourceItem(where, value, position=(number, 0)))


def _read_csv(source: BatchSource, text: str) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    start = 1
    try:
        for row in reader:
            where = f"{source.name}:{start}"
            position = (start, 0)
            start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                _check_header(source, where, header)
                continue
            if len(row) > len(header):
                source.problems.append(
                    Problem(
                        where,
                        f"{len(row)} cells but the header names {len(header)} columns: "
                        "quote cells that contain commas",
                        position,
                    )
                )
                continue
            cells = {key: value for key, value in zip(header, row, strict=False) if key}
            source.items.append(SourceItem(where, cells, position=position))
    except csv.Error as exc:
        source.problems.append(
            Problem(
                f"{source.name}:{reader.line_num}",
                f"broken CSV quoting ({exc})",
                (reader.line_num, 0),
            )
        )
    if header is None:
        source.problems.append(
            Problem(f"{source.name}:1", "no header row: start with e.g. prompt,duration")
        )


def _check_header(source: BatchSource, where: str, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            source.problems.append(Problem(where, f"the column {name!r} appears twice", (1, 0)))
        seen.add(name)
    if not any(header):
        source.problems.append(Problem(where, "the header row is empty", (1, 0)))
    for message in unknown_fields({name: None for name in header if name}):
        source.problems.append(Problem(where, f"header: {message}", (1, 0)))


def _read_txt(source: BatchSource, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        prompt = line.strip()
        if prompt and not prompt.startswith("#"):
            source.items.append(
                SourceItem(f"{source.name}:{number}", {"prompt": prompt}, position=(number, 0))
            )


def _read_yaml(source: BatchSource, text: str) -> None:
    import yaml

    from grokvid.api.batch.yamlload import ManifestLoader

    try:
        doc = yaml.load(text, Loader=ManifestLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        source.problems.append(
            Problem(f"{source.name}:{line}", f"not valid YAML: {reason}", (line, 0))
        )
        return
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        source.problems.append(
            Problem(
                source.name, f"a manifest is a mapping with {', '.join(MANIFEST_KEYS)}", (TOP, 0)
            )
        )
        return
    for key in doc:
        if key not in MANIFEST_KEYS:
            source.problems.append(
                Problem(
                    source.name,
                    f"unknown top-level key {key!r}: use {', '.join(MANIFEST_KEYS)} "
                    "(item fields go under defaults: or items:)",
                    (TOP, 0),
                )
            )
    _read_defaults(source, doc.get("defaults"))
    templates = {key: doc[key] for key in ("prompt", "name") if doc.get(key) is not None}
    _read_matrix(source, doc.get("matrix"), templates)
    _read_items(source, doc.get("items"))
    if not source.items and not source.problems:
        source.problems.append(
            Problem(source.name, "the manifest makes no clips: add a matrix: or items:", (TOP, 0))
        )


def _read_defaults(source: BatchSource, defaults: object) -> None:
    if defaults is None:
        return
    where = f"{source.name}: defaults"
    if not isinstance(defaults, Mapping):
        source.problems.append(
            Problem(where, "defaults must be a mapping of item fields", (DEFAULTS, 0))
        )
        return
    for message in unknown_fields(defaults):
        source.problems.append(Problem(where, message, (DEFAULTS, 0)))
    source.defaults = {k: v for k, v in defaults.items() if k in FIELDS}


def _read_matrix(source: BatchSource, matrix: object, templates: dict[str, Any]) -> None:
    # A top-level prompt: or name: is written once: its problems are blamed there, once.
    origins = {key: f"{source.name}: {key}" for key in templates}
    if matrix is None:
        if "prompt" in templates:  # a manifest with one templated prompt is one item
            source.items.append(
                SourceItem(f"{source.name}: prompt", templates, {}, True, (MATRIX, 0), origins)
            )
        return
    try:
        combinations = matrix_mod.expand(matrix)  # type: ignore[arg-type]
    except matrix_mod.MatrixError as exc:
        source.problems.append(Problem(f"{source.name}: {exc.where}", exc.message, (MATRIX, 0)))
        return
    for number, combo in enumerate(combinations):
        where = f"{source.name}: matrix {matrix_mod.describe(combo)}"
        fields = dict(templates)
        fields.update({key: value for key, value in combo.items() if key in FIELDS})
        own = {k: v for k, v in origins.items() if k not in combo}
        source.items.append(SourceItem(where, fields, combo, True, (MATRIX, number), own))


def _read_items(source: BatchSource, items: object) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        source.problems.append(Problem(f"{source.name}: items", "items must be a list", (ITEMS, 0)))
        return
    for index, entry in enumerate(items):
        where = f"{source.name}: items[{index}]"
        if isinstance(entry, str):  # a bare string is a prompt, as in a .txt file
            entry = {"prompt": entry}
        if not isinstance(entry, Mapping):
            source.problems.append(
                Problem(where, "an item is a mapping of fields or a prompt", (ITEMS, index))
            )
            continue
        source.items.append(SourceItem(where, dict(entry), {}, True, (ITEMS, index)))
