"""Settings: the config file, environment variables and flags, resolved in that order of strength.

    flags  >  environment  >  config file  >  built-in defaults

The config file is TOML at `paths.config_file()` (`$GROKVID_HOME/config.toml` when set). It is
read and written with tomlkit, so the user's comments and layout survive `grokvid config set`.
The key lives in `[xai]`; the generation defaults sit at the top level::

    model = "grok-imagine-video"
    duration = 8

    [xai]
    api_key = "xai-..."

Every key is described once, in `KEYS`, by its full dotted name; parsing, validation, messages
and `config list` all read that table. A provider's key and base URL live in its own table
(`[xai]`) and in `Settings.providers[name]`, so a second provider's `fal.api_key` can never land in
xAI's slot. The API key is a `SecretStr` everywhere and never appears in a message.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomlkit
import tomlkit.items
from pydantic import BaseModel, Field, SecretStr
from tomlkit.exceptions import ParseError

from grokvid.api import models, paths
from grokvid.api.errors import AuthError, ConfigError, ValidationError

DEFAULT_BASE_URL = models.API_BASE_URL

Kind = Literal["secret", "url", "str", "int", "choice", "path", "bool", "rate", "usd"]
Source = Literal["flag", "env", "config", "default"]

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class KeySpec:
    """One setting: its dotted name in the file, its Settings field, its env var and its rule."""

    name: str
    kind: Kind
    env: str
    help: str
    default: object | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    where: str = ""  # of a secret: where the user gets one ("console.x.ai")

    @property
    def field(self) -> str:
        """The key in `Settings.sources`: the full dotted name, unique across providers."""
        return self.name

    @property
    def provider(self) -> str | None:
        """ "xai" for `xai.api_key`; None for a generation default such as `model`."""
        head, dot, _ = self.name.partition(".")
        return head if dot else None

    @property
    def attr(self) -> str:
        """The attribute inside its table: "api_key" for `xai.api_key`, "model" for `model`."""
        return self.name.rpartition(".")[2]

    @property
    def path(self) -> tuple[str, ...]:
        """Where the key sits in the TOML document: ("xai", "api_key") or ("model",)."""
        return tuple(self.name.split("."))

    @property
    def allowed(self) -> str:
        """The rule in words, for messages and help: "use one of 480p, 720p, 1080p"."""
        match self.kind:
            case "secret":
                return f"use the key from {self.where or 'your provider'} (non-empty, no spaces)"
            case "url":
                return "use an https:// URL (http:// only for 127.0.0.1, ::1 or localhost)"
            case "int":
                return (
                    f"use a whole number of seconds from {models.MIN_DURATION} "
                    f"to {models.MAX_DURATION}"
                )
            case "choice":
                return f"use one of {', '.join(self.choices)}"
            case "bool":
                return "use true/false, yes/no, on/off or 1/0"
            case "rate":
                return "use a number of submits per second above 0, e.g. 1 or 0.5"
            case "usd":
                return "use an amount in USD, 0 or more, e.g. 5 or 2.50"
            case "path":
                return "use a directory path (~ is expanded)"
        return "use a non-empty text"


@dataclass(frozen=True)
class ProviderKeys:
    """What config needs to know of a provider: its table, env vars and default base URL.

    A provider registry hands one of these per provider to `provider_key_specs`; until it lands,
    `PROVIDER_KEYS` below lists the providers by hand.
    """

    name: str  # the TOML table and the Settings.providers key: "xai"
    title: str  # for help texts: "xAI"
    key_env: str  # "XAI_API_KEY"
    base_url_env: str  # "GROKVID_BASE_URL"
    default_base_url: str
    key_from: str  # where a user gets a key: "console.x.ai"


def provider_key_specs(info: ProviderKeys) -> tuple[KeySpec, KeySpec]:
    """The `NAME.api_key` and `NAME.base_url` settings of one provider."""
    return (
        KeySpec(
            f"{info.name}.api_key", "secret", info.key_env,
            f"Your {info.title} API key from {info.key_from} (stored 0600).",
            secret=True, where=info.key_from,
        ),
        KeySpec(
            f"{info.name}.base_url", "url", info.base_url_env,
            "API base URL; http:// only for a loopback host.", info.default_base_url,
        ),
    )  # fmt: skip


PROVIDER_KEYS: dict[str, ProviderKeys] = {
    "xai": ProviderKeys(
        "xai", "xAI", "XAI_API_KEY", "GROKVID_BASE_URL", DEFAULT_BASE_URL, "console.x.ai"
    ),
}

KEYS: dict[str, KeySpec] = {
    spec.name: spec
    for spec in (
        *(spec for info in PROVIDER_KEYS.values() for spec in provider_key_specs(info)),
        KeySpec(
            "model", "str", "GROKVID_MODEL",
            "Default model (unknown names are sent anyway, with a warning).", models.DEFAULT_MODEL,
        ),
        KeySpec(
            "duration", "int", "GROKVID_DURATION",
            f"Default clip length, {models.MIN_DURATION}-{models.MAX_DURATION} seconds.",
            models.DEFAULT_DURATION,
        ),
        KeySpec(
            "resolution", "choice", "GROKVID_RESOLUTION", "Default resolution.",
            models.DEFAULT_RESOLUTION, models.RESOLUTIONS,
        ),
        KeySpec(
            "aspect_ratio", "choice", "GROKVID_ASPECT_RATIO", "Default aspect ratio.",
            models.DEFAULT_ASPECT_RATIO, models.ASPECT_RATIOS,
        ),
        KeySpec(
            "output_dir", "path", "GROKVID_OUTPUT_DIR",
            "Where clips are saved (default: the current directory).",
        ),
        KeySpec(
            "generate_audio", "bool", "GROKVID_GENERATE_AUDIO",
            "Generate a soundtrack (false gives silent clips).", True,
        ),
        KeySpec(
            "preview", "bool", "GROKVID_PREVIEW",
            "Make a poster, contact sheet and WebP preview beside every clip.", False,
        ),
        KeySpec(
            "rate", "rate", "GROKVID_RATE",
            "Submits per second, shared by every grokvid process using the same key.", 1.0,
        ),
        KeySpec(
            "daily_max_cost", "usd", "GROKVID_DAILY_MAX_COST",
            "Refuse a submit that would take the last 24 hours' spending past this (USD).",
        ),
    )
}  # fmt: skip

# The names 0.1 callers pass for xAI's keys (`load_settings({"base_url": ...})`,
# `ValidationError(field="base_url")`): before there were several providers, they meant xai's.
_ALIASES = {"api_key": "xai.api_key", "base_url": "xai.base_url"}


def _spec_named(name: str) -> KeySpec | None:
    return KEYS.get(_ALIASES.get(name, name))


class ProviderSettings(BaseModel):
    """One provider's resolved key and base URL."""

    api_key: SecretStr | None = None
    base_url: str


def _default_providers() -> dict[str, ProviderSettings]:
    return {
        name: ProviderSettings(base_url=info.default_base_url)
        for name, info in PROVIDER_KEYS.items()
    }


class Settings(BaseModel):
    """Resolved settings. `sources[key]` says where each value came from ("flag", "env",
    "config" or "default"), keyed by the dotted name (`xai.api_key`, `duration`)."""

    providers: dict[str, ProviderSettings] = Field(default_factory=_default_providers)
    model: str = models.DEFAULT_MODEL
    duration: int = models.DEFAULT_DURATION
    resolution: str = models.DEFAULT_RESOLUTION
    aspect_ratio: str = models.DEFAULT_ASPECT_RATIO
    output_dir: Path | None = None  # already ~-expanded
    generate_audio: bool = True
    preview: bool = False
    rate: float = 1.0
    daily_max_cost: float | None = None
    sources: dict[str, str] = {}
    config_path: Path | None = None  # the file "config" sources refer to

    def provider(self, name: str) -> ProviderSettings:
        """The named provider's settings; ConfigError listing the known ones if unknown."""
        found = self.providers.get(name)
        if found is None:
            raise ConfigError(
                f"Unknown provider {name!r}: use one of {', '.join(sorted(self.providers))}."
            )
        return found

    def get_key(self, provider: str) -> SecretStr:
        """The provider's key; AuthError saying how to set it (both ways) when there is none."""
        key = self.provider(provider).api_key
        if key is None:
            spec = KEYS[f"{provider}.api_key"]
            raise AuthError(
                f"No API key for {provider}: run `grokvid config set {spec.name}` "
                f"or set {spec.env}."
            )
        return key

    # xAI's key and URL by their 0.1 names, so callers written for one provider keep working.
    @property
    def api_key(self) -> SecretStr | None:
        return self.provider("xai").api_key

    @property
    def base_url(self) -> str:
        return self.provider("xai").base_url

    def require_api_key(self) -> str:
        """xAI's key in clear, for the Authorization header (see get_key)."""
        return self.get_key("xai").get_secret_value()

    def value(self, key: str) -> object:
        """The resolved value of a dotted key (`xai.base_url`, `duration`)."""
        spec = spec_for(_ALIASES.get(key, key))
        if spec.provider is not None:
            return getattr(self.provider(spec.provider), spec.attr)
        return getattr(self, spec.attr)

    def origin(self, field: str) -> str:
        """Where the value of `field` came from, in words for an error message.

        "--resolution" (a flag), "GROKVID_RESOLUTION (environment)", "resolution in
        /home/me/.config/grokvid/config.toml", or "the default resolution". `field` is a dotted
        key or a ValidationError field; a field that is not a setting is returned as it is.
        A flag is named by the convention every command follows: `--` and the key's last part.
        """
        spec = _spec_named(field)
        if spec is None:
            return field
        match self.sources.get(spec.name, "default"):
            case "flag":
                return "--" + spec.attr.replace("_", "-")
            case "env":
                return f"{spec.env} (environment)"
            case "config":
                where = self.config_path if self.config_path is not None else paths.config_file()
                return f"{spec.name} in {where}"
        return f"the default {spec.name}"


class _BadValue(Exception):
    """A value broke its key's rule; `reason` says what to use instead (never the value)."""

    def __init__(self, reason: str) -> None:
        reason = reason.rstrip(".")
        super().__init__(reason)
        self.reason = reason


def check_base_url(url: str) -> str:
    """Validate and normalise an API base URL (trailing "/" removed).

    Plain http is refused for anything but a loopback host, so a key can never travel in clear
    over a network.
    """
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValidationError(f"Base URL {url!r} is not a valid URL: {exc}.", "base_url") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in {"http", "https"} or not host:
        raise ValidationError(
            f"Base URL {url!r} is not an http(s) URL: use https://host "
            "(or http://127.0.0.1:PORT for a local server).",
            "base_url",
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Base URL must not contain a user name or password: put the key in xai.api_key.",
            "base_url",
        )
    if parts.query or parts.fragment:
        raise ValidationError(
            f"Base URL {url!r} must not have a query or fragment: use e.g. https://api.x.ai.",
            "base_url",
        )
    if scheme == "http" and not is_loopback(host):
        raise ValidationError(
            f"Refusing plain http:// for a remote host ({host}): use https://, "
            "or http only for 127.0.0.1/localhost.",
            "base_url",
        )
    return url


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: the only hosts plain http:// may go to."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_secret(value: str) -> str:
    """`xai-****abcd`: at most the first and last 4 characters, or `****` for a short value."""
    if len(value) < 12:
        return "****"
    return f"{value[:4]}****{value[-4:]}"


def _coerce(spec: KeySpec, value: object) -> object:
    """Parse a raw string (argv, env) or check a TOML value; raise _BadValue with the rule."""
    if isinstance(value, str):
        value = value.strip()
    match spec.kind:
        case "secret":
            if not isinstance(value, str) or not value:
                raise _BadValue(f"the key is empty or not text; {spec.allowed}")
            if not value.isascii() or any(ch.isspace() or not ch.isprintable() for ch in value):
                raise _BadValue(
                    f"the key contains spaces, control or non-ASCII characters; {spec.allowed}"
                )
            return value
        case "url":
            if not isinstance(value, str):
                raise _BadValue(spec.allowed)
            try:
                return check_base_url(value)
            except ValidationError as exc:
                raise _BadValue(exc.message) from None
        case "int":
            number: int | None = None
            if isinstance(value, int) and not isinstance(value, bool):
                number = value
            elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value):
                number = int(value)
            if number is None or not models.MIN_DURATION <= number <= models.MAX_DURATION:
                raise _BadValue(spec.allowed)
            return number
        case "choice":
            if not isinstance(value, str) or value not in spec.choices:
                raise _BadValue(spec.allowed)
            return value
        case "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise _BadValue(spec.allowed)
        case "rate" | "usd":
            return _number(spec, value)
        case _:  # str, path
            if not isinstance(value, str) or not value:
                raise _BadValue(spec.allowed)
            return value


def _number(spec: KeySpec, value: object) -> float:
    """A finite number: a rate above 0, or an amount of 0 or more (never inf or nan)."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", value):
        number = float(value)
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise _BadValue(spec.allowed)
    if (spec.kind == "rate" and not 0 < number <= 1000) or number < 0:
        raise _BadValue(spec.allowed)
    return number


def _shown(spec: KeySpec, value: object) -> str:
    """A value as it may appear in a message: secrets never do."""
    return "(hidden)" if spec.secret else repr(value)


def spec_for(key: str) -> KeySpec:
    """The KeySpec for a dotted key; ConfigError listing the keys (and a close match) if unknown."""
    spec = KEYS.get(key)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(key, KEYS, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise ConfigError(f"Unknown config key {key!r}: use one of {', '.join(KEYS)}.{hint}")


class ConfigFile:
    """The TOML config file as a tomlkit document: edits keep the user's comments and order."""

    def __init__(self, path: Path, document: tomlkit.TOMLDocument) -> None:
        self.path = path
        self._doc = document

    @classmethod
    def load(cls, path: Path | None = None) -> ConfigFile:
        """Read the file (missing = empty). Corrupt TOML raises ConfigError naming file and line."""
        path = path if path is not None else paths.config_file()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, tomlkit.document())
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read the config file {path}: {exc}") from exc
        try:
            document = tomlkit.parse(text)
        except ParseError as exc:
            where = f" at line {exc.line} col {exc.col}"
            reason = str(exc).removesuffix(where)
            raise ConfigError(
                f"The config file {path} is not valid TOML: line {exc.line}, column {exc.col}: "
                f"{reason}. Fix it by hand, or delete it and run `grokvid config set` again."
            ) from None
        return cls(path, document)

    def _table(self, spec: KeySpec, *, create: bool = False) -> Any:
        """The container holding spec's key (the document or the [xai] table), or None."""
        container: Any = self._doc
        for part in spec.path[:-1]:
            child = container.get(part)
            if child is None and create:
                child = tomlkit.table()
                container[part] = child
            if child is None:
                return None
            if not isinstance(child, dict):
                raise ConfigError(
                    f"The config file {self.path} has {part} = … where a [{part}] table belongs: "
                    "fix it by hand."
                )
            container = child
        return container

    def raw(self, key: str) -> object | None:
        """The value stored for key, unchecked (plain Python), or None if absent."""
        spec = spec_for(key)
        table = self._table(spec)
        if table is None or spec.path[-1] not in table:
            return None
        value: object = table[spec.path[-1]]
        return value.unwrap() if isinstance(value, tomlkit.items.Item) else value

    def get(self, key: str) -> object | None:
        """The checked value stored for key, or None. A bad value raises ConfigError."""
        spec = spec_for(key)
        value = self.raw(key)
        if value is None:
            return None
        try:
            return _coerce(spec, value)
        except _BadValue as exc:
            raise ConfigError(
                f"The config file {self.path} has {key} = {_shown(spec, value)}, which is not "
                f"valid: {exc.reason}. Fix it with `grokvid config set {key} VALUE` "
                f"or `grokvid config unset {key}`."
            ) from None

    def set(self, key: str, raw: str) -> None:
        """Parse and check `raw` by the key's rule, then store it (call save() to write)."""
        spec = spec_for(key)
        try:
            value = _coerce(spec, raw)
        except _BadValue as exc:
            shown = "" if spec.secret else f" to {raw!r}"
            raise ConfigError(f"Cannot set {key}{shown} in {self.path}: {exc.reason}.") from None
        table = self._table(spec, create=True)
        table[spec.path[-1]] = value

    def unset(self, key: str) -> bool:
        """Remove key from the document; False if it was not there."""
        spec = spec_for(key)
        table = self._table(spec)
        name = spec.path[-1]
        if table is None or name not in table:
            return False
        del table[name]
        if len(spec.path) > 1 and len(table) == 0 and not _has_comments(table):
            del self._doc[spec.path[0]]
        return True

    def items(self) -> list[tuple[str, object]]:
        """(key, checked value) for every known key set in the file, in KEYS order."""
        found: list[tuple[str, object]] = []
        for key in KEYS:
            value = self.get(key)
            if value is not None:
                found.append((key, value))
        return found

    def unknown_keys(self) -> list[str]:
        """Dotted names in the file that grokvid does not know (typos, or a newer version's)."""
        unknown: list[str] = []

        def walk(table: Mapping[str, Any], prefix: str) -> None:
            for name, value in table.items():
                dotted = f"{prefix}{name}"
                if isinstance(value, dict) and any(k.startswith(dotted + ".") for k in KEYS):
                    walk(value, dotted + ".")
                elif dotted not in KEYS:
                    unknown.append(dotted)

        walk(self._doc, "")
        return unknown

    def warnings(self) -> list[str]:
        """Things worth telling the user: unknown keys, a key file others can read."""
        found = [
            f"{self.path}: unknown key {key!r} is ignored (known keys: {', '.join(KEYS)})."
            for key in self.unknown_keys()
        ]
        return found + key_file_warnings(self)

    def holds_a_key(self) -> bool:
        """Whether any provider's API key is stored in this file."""
        return any(self.raw(f"{name}.api_key") is not None for name in PROVIDER_KEYS)

    def save(self) -> None:
        """Write the file atomically, readable by the owner only (0600 from the first byte)."""
        text = tomlkit.dumps(self._doc)
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = directory / f".{self.path.name}.{secrets.token_hex(4)}.tmp"
        # Created 0600 from the first byte: the key is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the umask can only remove bits, but be explicit
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.chmod(self.path, 0o600)

    def __repr__(self) -> str:
        return f"ConfigFile({str(self.path)!r})"


def key_file_warnings(target: Settings | ConfigFile | Path | None = None) -> list[str]:
    """One line if the config file holds an API key and others may read it, else nothing.

    `target` is the Settings a command resolved (their `config_path`), a loaded ConfigFile, a
    path, or None for the default file. Commands that read a key show these on stderr. A key in
    the file counts even when an env var overrides it: the file still exposes it.
    """
    if os.name != "posix":
        return []  # no owner/group/other mode bits to speak of
    file = target if isinstance(target, ConfigFile) else None
    if isinstance(target, Settings):
        path = target.config_path or paths.config_file()
    elif isinstance(target, ConfigFile):
        path = target.path
    else:
        path = target or paths.config_file()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return []
    if not mode & 0o077:
        return []
    try:
        holds = (file or ConfigFile.load(path)).holds_a_key()
    except ConfigError:
        return []  # a broken file is reported, with its line, by whoever reads the values
    if not holds:
        return []
    return [
        f"{path} holds an API key and is readable by others (mode {mode:o}): "
        f"run `chmod 600 {path}`."
    ]


def _has_comments(table: Any) -> bool:
    body = getattr(getattr(table, "value", None), "body", [])
    return any(isinstance(item, tomlkit.items.Comment) for _, item in body)


def load_settings(
    flags: Mapping[str, object | None] | None = None, *, config: ConfigFile | None = None
) -> Settings:
    """Resolve every setting: flags > environment > config file > built-in defaults.

    `flags` is keyed by Settings field name ("duration") or dotted key ("xai.base_url"); None
    values are ignored (the flag was not given). A bad flag raises ValidationError naming the
    field; a bad env var or file value raises ConfigError naming where it came from.
    `config` lets a caller pass a ConfigFile it already loaded.
    """
    given = _flags_by_key(flags or {})
    file = config if config is not None else ConfigFile.load()
    values: dict[str, object] = {}
    providers: dict[str, dict[str, object]] = {name: {} for name in PROVIDER_KEYS}
    sources: dict[str, str] = {}
    for spec in KEYS.values():
        value, source = _resolve(spec, given, file)
        sources[spec.name] = source
        if value is None:
            continue
        if spec.kind == "path":
            value = Path(str(value)).expanduser()
        elif spec.secret:
            value = SecretStr(str(value))
        if spec.provider is not None:
            providers[spec.provider][spec.attr] = value
        else:
            values[spec.attr] = value
    return Settings.model_validate(
        {**values, "providers": providers, "sources": sources, "config_path": file.path}
    )


def _flags_by_key(flags: Mapping[str, object | None]) -> dict[str, object]:
    given: dict[str, object] = {}
    for name, value in flags.items():
        spec = _spec_named(name)
        if spec is None:
            raise ValueError(f"load_settings: unknown setting {name!r}")
        if value is not None:
            given[spec.name] = value
    return given


def _resolve(spec: KeySpec, flags: Mapping[str, object], file: ConfigFile) -> tuple[object, Source]:
    if spec.name in flags:
        value = flags[spec.name]
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        try:
            return _coerce(spec, value), "flag"
        except _BadValue as exc:
            # exits.describe prefixes the option name: "--duration: 16 is not valid: use ..."
            if spec.kind == "url":
                message = f"{exc.reason}."
            elif spec.secret:
                message = f"The {spec.attr} given is not valid: {exc.reason}."
            else:
                message = f"{value!r} is not valid: {exc.reason}."
            # The 0.1 field names for xai's keys, which the CLI's option table knows.
            field = spec.attr if spec.provider == "xai" else spec.name
            raise ValidationError(message, field) from None
    env_value = os.environ.get(spec.env, "")
    if env_value.strip():
        try:
            return _coerce(spec, env_value), "env"
        except _BadValue as exc:
            shown = "" if spec.secret else f"={env_value!r}"
            raise ConfigError(
                f"The environment variable {spec.env}{shown} is not valid for {spec.name}: "
                f"{exc.reason}. Fix or unset it."
            ) from None
    stored = file.get(spec.name)
    if stored is not None:
        return stored, "config"
    return spec.default, "default"
