"""Output names: a `--name` template rendered per clip into a path under the output directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grokvid.api.batch.templates import Template, TemplateError
from grokvid.api.jobs import slugify

DEFAULT_NAME = "{slug}-{short}"
EXTENSION = ".mp4"
MAX_COMPONENT_BYTES = 200  # file systems stop at 255; leave room for ".mp4" and temp suffixes
SHORT_LEN = 8


def name_values(
    *,
    index: int,
    item_id: str | None,
    prompt: str,
    fingerprint: str,
    variant: int,
    model: str,
    duration: int,
    resolution: str,
    aspect_ratio: str,
    variables: Mapping[str, Any],
) -> dict[str, object]:
    """Every value a name template can use; matrix variables first so built-ins win a clash."""
    values: dict[str, object] = dict(variables)
    values.update(
        index=index,
        slug=slugify(prompt),  # drops [sandbox:…] notes, as generate's names do
        short=fingerprint[:SHORT_LEN],
        variant=variant,
        model=model,
        duration=duration,
        resolution=resolution,
        aspect=aspect_ratio.replace(":", "x"),
    )
    if item_id is not None:
        values["id"] = item_id
    return values


def render_path(
    template: Template,
    values: Mapping[str, object],
    output_dir: Path,
    resolved: dict[Path, Path] | None = None,
) -> Path:
    """The clip's file under `output_dir`; TemplateError says why a name is refused.

    `resolved` caches resolved folders across the clips of one plan (a folder is resolved
    once, not once per clip).
    """
    cache = resolved if resolved is not None else {}
    if "id" in template.names and "id" not in values:
        raise TemplateError(
            f"The name {template.text!r} uses {{id}} but this item has no id: give it one, "
            "or take {id} out of the name."
        )
    name = template.render(values)
    check_name(name, template.text)
    if not name.lower().endswith(EXTENSION):
        name += EXTENSION
    path = output_dir / name
    # A symlinked folder inside the output directory could still lead out of it.
    root = _resolve(output_dir, cache)
    if not _resolve(path.parent, cache).is_relative_to(root):
        raise TemplateError(
            f"The name {name!r} leads out of the output directory {output_dir} through a "
            "symbolic link: choose a name that stays inside it."
        )
    return path


def _resolve(folder: Path, cache: dict[Path, Path]) -> Path:
    if folder not in cache:
        cache[folder] = folder.resolve()
    return cache[folder]


def check_name(name: str, template: str) -> None:
    """Refuse names that are empty, absolute, climb with '..' or hold odd characters."""
    shown = f"The name {name!r}" if name == template else f"The name {name!r} (from {template!r})"
    if not name.strip():
        raise TemplateError(f"{shown} is empty: put some text or {{slug}} in the name.")
    if name.startswith(("/", "~")) or (len(name) > 1 and name[1] == ":"):
        raise TemplateError(
            f"{shown} is absolute: names are relative to the output directory; choose the "
            "directory itself with the output directory setting."
        )
    if "\\" in name or any(ord(ch) < 32 for ch in name):
        raise TemplateError(
            f"{shown} contains a backslash or a control character: use '/' for folders and "
            "{var|slug} for values that may hold odd characters."
        )
    for part in name.split("/"):
        if part == "..":
            raise TemplateError(
                f"{shown} would leave the output folder: drop the '..'; names stay inside "
                "the output directory."
            )
        if part in ("", "."):
            raise TemplateError(
                f"{shown} has an empty or '.' folder: write folders as 'a/b', each part named."
            )
        if len(part.encode()) > MAX_COMPONENT_BYTES:
            raise TemplateError(
                f"{shown} has a part longer than {MAX_COMPONENT_BYTES} bytes: shorten it "
                "(|slug keeps values to 40 characters)."
            )
