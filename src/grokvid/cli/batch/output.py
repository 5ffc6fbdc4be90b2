"""Where a batch's results go: stdout lines, the `--results` JSON Lines, `--summary`, the
gallery and the matrix grid."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from grokvid.api import errors
from grokvid.api.batch import BatchSource, PlannedClip
from grokvid.api.ledger import JobRecord, Ledger


def check_writable(path: Path | None, option: str) -> None:
    """A results, summary or gallery file that could not be written is found before spending."""
    if path is None:
        return
    folder = path.expanduser().absolute().parent
    if path.is_dir():
        raise errors.ValidationError(f"{option} {path} is a directory: name a file.", option)
    if not folder.is_dir():
        raise errors.ValidationError(
            f"{option} {path}: the folder {folder} does not exist: create it first.", option
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise errors.ValidationError(
            f"{option} {path} cannot be written: choose a place you can write to.", option
        )


class ResultsFile:
    """`--results FILE`: one JSON line per clip, appended and flushed as each clip ends, so a
    run that is killed leaves a valid prefix."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def __enter__(self) -> ResultsFile:
        if self.path is not None:
            self._handle = self.path.expanduser().open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, line: dict[str, Any]) -> None:
        if self._handle is None:
            return
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path = path.expanduser()
    temp = path.with_name(f".{path.name}.part")
    temp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    temp.replace(path)


def write_gallery(ledger: Ledger, ids: Sequence[str], out: Path, title: str) -> Path:
    from grokvid.api.gallery import cards_from_jobs
    from grokvid.api.gallery import write_gallery as write_page

    found: list[JobRecord] = [job for i in ids if (job := ledger.get(i)) is not None]
    return write_page(cards_from_jobs(found), out.expanduser(), title=title)


def matrix_axes(source: BatchSource) -> list[tuple[str, list[str]]]:
    """The matrix's axes in declaration order, each with its values in order of appearance."""
    axes: dict[str, list[str]] = {}
    for item in source.items:
        for name, value in item.variables.items():
            values = axes.setdefault(name, [])
            shown = _shown(value)
            if shown not in values:
                values.append(shown)
    return list(axes.items())


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_grid(
    source: BatchSource,
    outcomes: Sequence[tuple[PlannedClip, JobRecord | None, object]],
    out: Path,
) -> Path | None:
    """`<summary>.grid.jpg`: posters whose columns and rows are the first two matrix axes
    (first variant of each cell). None when the batch has no matrix."""
    from grokvid.api.jobs import ClipResult
    from grokvid.api.previews import preview_paths
    from grokvid.api.previews.grid import make_matrix_grid

    axes = matrix_axes(source)
    if not axes:
        return None
    x_name, xs = axes[0]
    y_name, ys = axes[1] if len(axes) > 1 else ("", [""])
    cells: dict[tuple[str, str], Path | None] = {}
    notes: dict[tuple[str, str], str] = {}
    for clip, job, outcome in outcomes:
        variables = source.items[clip.index - 1].variables
        if x_name not in variables or clip.variant != 1:
            continue
        key = (_shown(variables[x_name]), _shown(variables[y_name]) if y_name else "")
        if key in cells and cells[key] is not None:
            continue
        poster = None
        if isinstance(outcome, ClipResult):
            candidate = preview_paths(outcome.path)["poster"]
            poster = candidate if candidate.exists() else None
            notes[key] = "no poster"
        else:
            notes[key] = job.state if job is not None else "not made"
        cells[key] = poster
    make_matrix_grid(cells, x_axis=(x_name, xs), y_axis=(y_name, ys), out=out, notes=notes)
    return out


def grid_path(summary: Path | None, gallery: Path | None) -> Path | None:
    """Beside the summary (`run.json` -> `run.grid.jpg`), else beside the gallery."""
    base = summary or gallery
    if base is None:
        return None
    base = base.expanduser()
    return base.with_name(f"{base.stem}.grid.jpg")
