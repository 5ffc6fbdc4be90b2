"""Turning located items into checked, named, fingerprinted clips (used by plan_batch)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grokvid.api.batch.clip import (
    URL_PREFIXES,
    BaseFields,
    Check,
    ClipFields,
    Estimate,
    PlanOptions,
    fingerprint,
    request_body,
)
from grokvid.api.batch.fields import coerce_fields
from grokvid.api.batch.formats import DEFAULTS, TOP, BatchSource, SourceItem
from grokvid.api.batch.naming import DEFAULT_NAME, name_values, render_path
from grokvid.api.batch.problems import Problem
from grokvid.api.batch.templates import Template, TemplateError

# The batch command's flag for each field, so a bad flag value is blamed on the flag.
FLAG_OPTIONS = {
    "model": "--model",
    "duration": "--duration",
    "resolution": "--resolution",
    "aspect_ratio": "--aspect-ratio",
    "audio": "--no-audio",
    "variants": "--variants",
    "name": "--name",
}
# The order fields are probed in: the model first (what is offered depends on it), the image
# before the prompt (with an image, an empty prompt is fine).
PROBED = ("model", "image", "prompt", "duration", "resolution", "aspect_ratio", "audio")
PROBE_PROMPT = "a test shot"


@dataclass(frozen=True)
class Blame:
    """Where a value came from: the item, a manifest key, `defaults:`, a flag."""

    location: str
    position: tuple[int, int]


@dataclass
class Resolved:
    """An item's merged fields, and for each field where its value was written."""

    fields: ClipFields
    name: str
    blame: dict[str, Blame]
    ok: bool  # False: a problem was found already; check the rest but build no clip


@dataclass(frozen=True)
class BuiltClip:
    index: int
    variant: int
    location: str
    fields: ClipFields
    fingerprint: str
    path: Path
    body: dict[str, Any]
    estimated_cost_usd: float | None


def merge_layers(
    layers: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any], str | None, str | None]:
    """Fields merged lowest-first, plus the winning prompt and prompt_file.

    prompt and prompt_file are one slot: the highest layer that sets either decides, so an
    item's prompt beats a default prompt_file.
    """
    merged: dict[str, Any] = {}
    prompt: str | None = None
    prompt_file: str | None = None
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if k not in ("prompt", "prompt_file")})
        if "prompt" in layer or "prompt_file" in layer:
            prompt, prompt_file = layer.get("prompt"), layer.get("prompt_file")
    return merged, prompt, prompt_file


def winning_layers(layers: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Field -> the index of the layer whose value `merge_layers` keeps."""
    winner: dict[str, int] = {}
    for number, layer in enumerate(layers):
        for key in layer:
            if key in ("prompt", "prompt_file"):
                winner["prompt"] = number
            else:
                winner[key] = number
    return winner


class ClipBuilder:
    """Collects problems instead of raising, so one run reports everything."""

    def __init__(
        self,
        source: BatchSource,
        base: BaseFields,
        options: PlanOptions,
        *,
        check: Check,
        estimate: Estimate,
    ) -> None:
        self.source = source
        self.options = options
        self.check = check
        self.estimate = estimate
        self.problems: list[Problem] = []
        self.item_count = len(source.items)
        self._base: dict[str, Any] = {
            "model": base.model,
            "duration": base.duration,
            "resolution": base.resolution,
            "aspect_ratio": base.aspect_ratio,
            "audio": base.audio,
            "variants": 1,
        }
        defaults, messages = coerce_fields(source.defaults)
        self.problems += [Problem(f"{source.name}: defaults", m, (DEFAULTS, 0)) for m in messages]
        self._defaults = defaults
        self._flags = {k: v for k, v in options.flags.items() if v is not None}
        self._checked: dict[ClipFields, list[str]] = {}
        self._templates: dict[str, Template | TemplateError] = {}
        self._files: dict[Path, str | OSError] = {}
        self._hashes: dict[Path, str | OSError] = {}
        self._folders: dict[Path, Path] = {}

    def build(self) -> list[BuiltClip]:
        clips: list[BuiltClip] = []
        by_fingerprint: dict[str, BuiltClip] = {}
        by_path: dict[str, BuiltClip] = {}
        ids: dict[str, str] = {}
        for index, item in enumerate(self.source.items, start=1):
            resolved = self._item_fields(item)
            if resolved is None:
                continue
            bad = self._diagnose(resolved)
            fields, name = resolved.fields, resolved.name
            if bad or not resolved.ok:  # the name may be wrong too: say so in this run
                fp = fingerprint(fields, provider=self.options.provider, base_url="")
                self._clip(index, item, fields, fp, name, resolved.blame["name"])
                continue
            if fields.item_id is not None:
                if fields.item_id in ids:
                    self._problem(
                        item,
                        f"the id {fields.item_id!r} is also used at {ids[fields.item_id]}: "
                        "ids must be unique",
                    )
                    continue
                ids[fields.item_id] = item.location
            for variant in range(1, fields.variants + 1):
                clip_fields = _with_variant(fields, variant)
                fp = fingerprint(
                    clip_fields, provider=self.options.provider, base_url=self.options.base_url
                )
                twin = by_fingerprint.get(fp)
                if twin is not None:
                    self._problem(
                        item,
                        f"the same request as {twin.location} (same prompt and settings): "
                        "remove one, or give each its own id",
                    )
                    continue
                clip = self._clip(index, item, clip_fields, fp, name, resolved.blame["name"])
                if clip is None:
                    continue
                by_fingerprint[fp] = clip
                key = str(clip.path).casefold()
                other = by_path.get(key)
                if other is not None:
                    same = str(other.path) == str(clip.path)
                    how = "" if same else " (the names differ only in case)"
                    self._problem(
                        item,
                        f"aims at {clip.path}, as does {other.location}{how}: put {{short}}, "
                        "{index} or {variant} in the name",
                    )
                    continue
                by_path[key] = clip
                clips.append(clip)
        return clips

    def _problem(self, item: SourceItem, message: str) -> None:
        self.problems.append(Problem(item.location, message, item.position))

    def _blame(self, blame: Blame, message: str) -> None:
        self.problems.append(Problem(blame.location, message, blame.position))

    def _blames(self, item: SourceItem, own: Mapping[str, Any]) -> dict[str, Blame]:
        winner = winning_layers([self._base, self._defaults, self._flags, own])
        if "name" not in winner and self.options.name is not None:
            winner["name"] = 2  # --name sits between defaults and the item, as the flags do
        here = Blame(item.location, item.position)
        out: dict[str, Blame] = {"item": here}
        for key in (*PROBED, "variants", "name"):
            layer = winner.get(key)
            if layer == 3:
                origin = item.origins.get(key)
                out[key] = here if origin is None else Blame(origin, (TOP, 0))
            elif layer == 2:
                out[key] = Blame(FLAG_OPTIONS[key], (0, 0))
            elif layer == 1:
                out[key] = Blame(f"{self.source.name}: defaults.{key}", (DEFAULTS, 0))
            else:
                out[key] = here  # built-ins, config or environment: generate's own message
        return out

    def _name_problem(self, blame: Blame, message: str) -> None:
        if blame.location == FLAG_OPTIONS["name"] and message.startswith("The name "):
            message = f"{blame.location} {message.removeprefix('The name ')}"
        self._blame(blame, message)

    def _check(self, fields: ClipFields) -> list[str]:
        key = replace(fields, variant=1)
        if key not in self._checked:
            self._checked[key] = self.check(key)
        return self._checked[key]

    def _diagnose(self, resolved: Resolved) -> bool:
        """Every field's problem, each blamed on where its value came from. True: bad.

        The checks stop at a request's first problem, so each field is tried alone on a
        request known to pass, built from the settings underneath (fields found good are
        kept, so a resolution is judged with the item's own model).
        """
        fields = resolved.fields
        full = self._check(fields)
        if not full:
            return False
        good = ClipFields(
            prompt=PROBE_PROMPT,
            model=self._base["model"],
            duration=self._base["duration"],
            resolution=self._base["resolution"],
            aspect_ratio=self._base["aspect_ratio"],
            audio=self._base["audio"],
        )
        found: list[tuple[Blame, str]] = []
        if not self._check(good):  # else the settings themselves are bad: no clean baseline
            for key in PROBED:
                change: dict[str, Any] = {key: getattr(fields, key)}
                if key == "image":
                    change["image_sha256"] = fields.image_sha256
                if all(getattr(good, k) == v for k, v in change.items()):
                    continue
                probe = replace(good, **change)
                messages = self._check(probe)
                if messages:
                    found.append((resolved.blame[key], messages[0]))
                else:
                    good = probe
        if not found:  # only the combination is refused: the item is where it is made
            here = resolved.blame["item"]
            found = [(here, message) for message in full]
        for blame, message in found:
            self._blame(blame, message)
        return True

    def _item_fields(self, item: SourceItem) -> Resolved | None:
        own, messages = coerce_fields(item.fields)
        for message in messages:
            self._problem(item, message)
        ok = not messages
        if "prompt" in own and "prompt_file" in own:
            self._problem(item, "give prompt or prompt_file, not both")
            ok = False
            del own["prompt_file"]
        merged, prompt, prompt_file = merge_layers([self._base, self._defaults, self._flags, own])
        blame = self._blames(item, own)
        if prompt_file is not None:
            prompt = self._read_prompt_file(item, prompt_file, blame["prompt"])
            if prompt is None:
                ok = False
        prompt = prompt or ""
        if item.templated and prompt:
            values = {**item.variables, **merged}
            values.pop("name", None)
            values.pop("prompt_file", None)
            rendered = self._render(prompt, values, "prompt", blame["prompt"])
            if rendered is None:
                ok = False
                rendered = PROBE_PROMPT  # still check every other field
            prompt = rendered
        image, image_sha = None, None
        if merged.get("image") is not None:
            found = self._image(str(merged["image"]), blame["image"])
            if found is None:
                ok = False
            else:
                image, image_sha = found
        name = merged.get("name") or self.options.name or DEFAULT_NAME
        fields = ClipFields(
            prompt=prompt,
            model=merged["model"],
            duration=merged["duration"],
            resolution=merged["resolution"],
            aspect_ratio=merged["aspect_ratio"],
            audio=merged["audio"],
            image=image,
            image_sha256=image_sha,
            variant=1,
            variants=merged["variants"],
            item_id=merged.get("id"),
        )
        return Resolved(fields, name, blame, ok)

    def _clip(
        self, index: int, item: SourceItem, fields: ClipFields, fp: str, name: str, blame: Blame
    ) -> BuiltClip | None:
        template = self._template(name, "name")
        if isinstance(template, TemplateError):
            self._name_problem(blame, template.message)
            return None
        if "id" in template.names and fields.item_id is None:  # this item's problem
            self._problem(
                item,
                f"The name {template.text!r} uses {{id}} but this item has no id: give it one, "
                "or take {id} out of the name.",
            )
            return None
        values = name_values(
            index=index,
            item_id=fields.item_id,
            prompt=fields.prompt,
            fingerprint=fp,
            variant=fields.variant,
            model=fields.model,
            duration=fields.duration,
            resolution=fields.resolution,
            aspect_ratio=fields.aspect_ratio,
            variables=item.variables,
        )
        try:
            path = render_path(template, values, self.options.output_dir, self._folders)
        except TemplateError as exc:
            self._name_problem(blame, exc.message)
            return None
        return BuiltClip(
            index,
            fields.variant,
            item.location,
            fields,
            fp,
            path,
            request_body(fields),
            self.estimate(fields),
        )

    def _template(self, text: str, what: str) -> Template | TemplateError:
        key = f"{what}\0{text}"
        if key not in self._templates:
            try:
                self._templates[key] = Template.parse(text, what=what)
            except TemplateError as exc:
                self._templates[key] = exc
        return self._templates[key]

    def _render(
        self, text: str, values: Mapping[str, object], what: str, blame: Blame
    ) -> str | None:
        template = self._template(text, what)
        try:
            if isinstance(template, TemplateError):
                raise template
            return template.render(values)
        except TemplateError as exc:
            self._blame(blame, exc.message)
            return None

    def _resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.source.base_dir / path

    def _read_prompt_file(self, item: SourceItem, raw: str, blame: Blame) -> str | None:
        path = self._resolve(raw)
        if path not in self._files:
            try:
                self._files[path] = path.read_text(encoding="utf-8-sig").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                self._files[path] = exc if isinstance(exc, OSError) else OSError(str(exc))
        text = self._files[path]
        if isinstance(text, OSError):
            reason = text.strerror or str(text)
            self._blame(blame, f"prompt_file: cannot read {path}: {reason}")
            return None
        return text

    def _image(self, raw: str, blame: Blame) -> tuple[str, str] | None:
        if raw.startswith(URL_PREFIXES):
            return raw, hashlib.sha256(raw.encode()).hexdigest()
        path = self._resolve(raw)
        if path not in self._hashes:
            try:
                self._hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                self._hashes[path] = exc
        digest = self._hashes[path]
        if isinstance(digest, OSError):
            self._blame(
                blame,
                f"image: cannot read {path}: {digest.strerror or digest}. Give a PNG, JPEG or "
                "WebP file (relative to the batch file) or an https:// URL",
            )
            return None
        return str(path.absolute()), digest


def _with_variant(fields: ClipFields, variant: int) -> ClipFields:
    return replace(fields, variant=variant)
