"""`{var}` templates for prompts and output names.

A template is parsed once and rendered per clip. Only plain names are allowed: `{animal}`,
`{animal|slug}` (a file-safe form) and format specs such as `{index:03d}`. Attribute and index
access (`{a.b}`, `{a[0]}`), conversions (`{a!r}`) and nested specs (`{a:{b}}`) are refused: a
batch file is data, and `str.format` on data can reach object internals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter

from grokvid.api.errors import ValidationError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FILTERS = ("slug",)


class TemplateError(ValidationError):
    """A template that cannot be parsed or rendered; the message names the fix."""


def slug(value: object, max_len: int = 40) -> str:
    """A file-name-safe form: ASCII lowercase words joined by '-', cut at a word boundary."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > max_len:
            break
        out = candidate
    if not out and words:  # a single word longer than max_len: cut it rather than lose it
        out = words[0][:max_len]
    return out or "clip"


@dataclass(frozen=True)
class _Field:
    name: str
    filter: str | None
    spec: str


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and fields, rendered with `render(values)`."""

    text: str
    parts: tuple[str | _Field, ...]
    what: str = "template"

    @property
    def names(self) -> frozenset[str]:
        """The variable names the template uses."""
        return frozenset(p.name for p in self.parts if isinstance(p, _Field))

    @classmethod
    def parse(cls, text: str, *, what: str = "template") -> Template:
        """Parse `text`, raising TemplateError (naming `what`) for anything but plain names."""
        parts: list[str | _Field] = []
        try:
            parsed = list(Formatter().parse(text))
        except ValueError as exc:  # unbalanced braces
            raise TemplateError(
                f"The {what} {text!r} is not a valid template ({exc}): write a literal brace "
                "as {{ or }}."
            ) from None
        for literal, field, spec, conversion in parsed:
            if literal:
                parts.append(literal)
            if field is None:
                continue
            parts.append(_parse_field(text, what, field, spec or "", conversion))
        return cls(text, tuple(parts), what)

    def render(self, values: Mapping[str, object]) -> str:
        """The text with every field filled in; TemplateError names an unknown variable."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if part.name not in values:
                known = ", ".join(sorted(values)) or "none"
                raise TemplateError(
                    f"The {self.what} {self.text!r} uses {{{part.name}}}, which is not defined: "
                    f"use one of {known}."
                )
            value = values[part.name]
            if part.filter == "slug":
                value = slug(value)
            try:
                out.append(format(value, part.spec))
            except (ValueError, TypeError) as exc:
                raise TemplateError(
                    f"The {self.what} {self.text!r} cannot format {{{part.name}}}={value!r} with "
                    f"':{part.spec}' ({exc}): use a spec that suits the value, e.g. "
                    "{index:03d} for numbers."
                ) from None
        return "".join(out)


def _parse_field(text: str, what: str, field: str, spec: str, conversion: str | None) -> _Field:
    name, _, filter_name = field.partition("|")
    name, filter_name = name.strip(), filter_name.strip()
    if not _NAME.fullmatch(name):
        shown = f"{{{field}}}" if field else "{}"
        raise TemplateError(
            f"The {what} {text!r} has the field {shown}: only plain names such as {{animal}} "
            "or {animal|slug} are allowed (no positions, attributes or indexes)."
        )
    if "|" in field and filter_name not in FILTERS:
        raise TemplateError(
            f"The {what} {text!r} uses the filter |{filter_name} on {{{name}}}: the only "
            "filter is |slug."
        )
    if conversion is not None:
        raise TemplateError(
            f"The {what} {text!r} uses a conversion (!{conversion}) on {{{name}}}: drop it; "
            "values are inserted as text."
        )
    if "{" in spec or "}" in spec:
        raise TemplateError(
            f"The {what} {text!r} nests a field inside the format of {{{name}}}: use a fixed "
            "spec such as :03d."
        )
    return _Field(name, filter_name or None, spec)
