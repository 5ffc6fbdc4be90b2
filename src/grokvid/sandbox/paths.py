"""Where the sandbox caches its clips, resolved at call time (GROKVID_HOME, else platformdirs).

The client keeps its own copy of this rule; the sandbox deliberately shares no code with it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$GROKVID_HOME/cache` when GROKVID_HOME is set, else the user's cache dir for grokvid."""
    home = os.environ.get("GROKVID_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "cache"
    import platformdirs

    return platformdirs.user_cache_path("grokvid")


def clip_cache_dir() -> Path:
    return cache_dir() / "sandbox-clips"
