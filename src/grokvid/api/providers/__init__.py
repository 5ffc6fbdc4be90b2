"""Video platforms as plug-ins: `base` is the contract, `registry` finds them by name."""

from grokvid.api.providers.base import Handle, Progress, ProviderClient, ProviderInfo
from grokvid.api.providers.registry import get, names, register

__all__ = ["Handle", "Progress", "ProviderClient", "ProviderInfo", "get", "names", "register"]
