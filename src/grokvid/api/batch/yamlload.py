"""PyYAML's SafeLoader, minus YAML 1.1's base-60 numbers.

YAML 1.1 reads an unquoted `16:9` as the integer 969 (sexagesimal), which would turn every
aspect ratio in a manifest into nonsense; here any such scalar stays the text it was written as.
Everything else is SafeLoader: no Python objects can be built from a manifest.
"""

from __future__ import annotations

import yaml


class ManifestLoader(yaml.SafeLoader):
    pass


def _int_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if isinstance(value, str) and ":" in value:
        return value
    return loader.construct_yaml_int(node)  # type: ignore[arg-type]


def _float_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if isinstance(value, str) and ":" in value:
        return value
    return loader.construct_yaml_float(node)  # type: ignore[arg-type]


ManifestLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)
ManifestLoader.add_constructor("tag:yaml.org,2002:float", _float_or_text)
