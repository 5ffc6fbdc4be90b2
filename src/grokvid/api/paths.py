"""Where grokvid keeps its files. Resolved at call time, never at import.

`GROKVID_HOME` relocates everything: the config file to `$GROKVID_HOME/config.toml` and the
data (ledger, sandbox clip cache) to `$GROKVID_HOME/data/`. Otherwise platformdirs decides.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "grokvid"


def _home() -> Path | None:
    value = os.environ.get("GROKVID_HOME", "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def cache_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return platformdirs.user_cache_path(APP_NAME)


def config_file() -> Path:
    return config_dir() / "config.toml"


def ledger_file() -> Path:
    return data_dir() / "ledger.sqlite3"
