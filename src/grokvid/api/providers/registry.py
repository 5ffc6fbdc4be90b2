"""The providers grokvid knows, by name: data plus a factory for a client.

Adding a platform is one module that calls `register` (and its sandbox front and tests);
nothing else in the library names a provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grokvid.api.errors import ConfigError
from grokvid.api.providers.base import Connection, ProviderClient, ProviderInfo

if TYPE_CHECKING:
    from grokvid.api.specs import Spec

ClientFactory = Callable[[Connection], ProviderClient]
Estimate = Callable[["Spec"], float | None]


def _unpriced(spec: Spec) -> float | None:
    return None


@dataclass(frozen=True)
class Registered:
    info: ProviderInfo
    create: ClientFactory
    estimate: Estimate = _unpriced  # USD for one clip, from the provider's price table


_REGISTRY: dict[str, Registered] = {}


def register(info: ProviderInfo, create: ClientFactory, estimate: Estimate = _unpriced) -> None:
    _REGISTRY[info.name] = Registered(info, create, estimate)


def _load_builtin() -> None:
    if "xai" not in _REGISTRY:
        from grokvid.api.providers import xai  # noqa: F401  (registers itself)


def get(name: str) -> Registered:
    """The provider called `name`; ConfigError listing the known ones otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"Unknown provider {name!r}: use one of {known}.") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)
