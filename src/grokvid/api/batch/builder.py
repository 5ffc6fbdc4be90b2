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
from grokvid.api.batch.formats import BatchSource, SourceItem
from grokvid.api.batch.naming import DEFAULT_NAME, name_values, render_path
from grokvid.api.batch.problems import Problem
from grokvid.api.batch.templates import Template, TemplateError


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
        self.problems += [Problem(f"{source.name}: defaults", m) for m in messages]
        self._defaults = defaults
        self._flags = {k: v for k, v in options.flags.items() if v is not None}
        self._templates: dict[str, Template | TemplateError] = {}
        self._files: dict[Path, str | OSError] = {}
        self._hashes: dict[Path, str | OSError] = {}
        self._check_messages: dict[str, list[str]] = {}
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
            fields, name = resolved
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
                clip = self._clip(index, item, clip_fields, fp, name)
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
        self._flush_check_messages()
        return clips

    def _problem(self, item: SourceItem, message: str) -> None:
        self.problems.append(Problem(item.location, message))

    def _item_fields(self, item: SourceItem) -> tuple[ClipFields, str] | None:
        own, messages = coerce_fields(item.fields)
        for message in messages:
            self._problem(item, message)
        if messages:
            return None
        if "prompt" in own and "prompt_file" in own:
            self._problem(item, "give prompt or prompt_file, not both")
            return None
        merged, prompt, prompt_file = merge_layers([self._base, self._defaults, self._flags, own])
        if prompt_file is not None:
            prompt = self._read_prompt_file(item, prompt_file)
            if prompt is None:
                return None
        prompt = prompt or ""
        if item.templated and prompt:
            values = {**item.variables, **merged}
            values.pop("name", None)
            values.pop("prompt_file", None)
            rendered = self._render(item, prompt, values, "prompt")
            if rendered is None:
                return None
            prompt = rendered
        image, image_sha = None, None
        if merged.get("image") is not None:
            resolved = self._image(item, str(merged["image"]))
            if resolved is None:
                return None
            image, image_sha = resolved
        name = merged.get("name") or self.options.name or DEFAULT_NAME
        return ClipFields(
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
        ), name

    def _clip(
        self, index: int, item: SourceItem, fields: ClipFields, fp: str, name: str
    ) -> BuiltClip | None:
        messages = self.check(fields)
        for message in messages:
            self._check_messages.setdefault(message, []).append(item.location)
        if messages:
            return None
        template = self._template(name, "name")
        if isinstance(template, TemplateError):
            self._problem(item, template.message)
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
            self._problem(item, exc.message)
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

    def _flush_check_messages(self) -> None:
        # One bad setting shared by 500 items is one problem with a count, not 500 lines.
        for message, locations in self._check_messages.items():
            unique = list(dict.fromkeys(locations))
            more = f" (and {len(unique) - 1} more)" if len(unique) > 1 else ""
            self.problems.append(Problem(unique[0], f"{message}{more}"))

    def _template(self, text: str, what: str) -> Template | TemplateError:
        key = f"{what}\0{text}"
        if key not in self._templates:
            try:
                self._templates[key] = Template.parse(text, what=what)
            except TemplateError as exc:
                self._templates[key] = exc
        return self._templates[key]

    def _render(
        self, item: SourceItem, text: str, values: Mapping[str, object], what: str
    ) -> str | None:
        template = self._template(text, what)
        try:
            if isinstance(template, TemplateError):
                raise template
            return template.render(values)
        except TemplateError as exc:
            self._problem(item, exc.message)
            return None

    def _resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.source.base_dir / path

    def _read_prompt_file(self, item: SourceItem, raw: str) -> str | None:
        path = self._resolve(raw)
        if path not in self._files:
            try:
                self._files[path] = path.read_text(encoding="utf-8-sig").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                self._files[path] = exc if isinstance(exc, OSError) else OSError(str(exc))
        text = self._files[path]
        if isinstance(text, OSError):
            reason = text.strerror or str(text)
            self._problem(item, f"prompt_file: cannot read {path}: {reason}")
            return None
        return text

    def _image(self, item: SourceItem, raw: str) -> tuple[str, str] | None:
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
            self._problem(
                item,
                f"image: cannot read {path}: {digest.strerror or digest}. Give a PNG, JPEG or "
                "WebP file (relative to the batch file) or an https:// URL",
            )
            return None
        return str(path.absolute()), digest


def _with_variant(fields: ClipFields, variant: int) -> ClipFields:
    return replace(fields, variant=variant)
