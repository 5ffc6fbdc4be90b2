"""Shared fixtures: every test gets its own GROKVID_HOME and no real key or grokvid settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def grokvid_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point GROKVID_HOME at a fresh directory and clear XAI_API_KEY and every GROKVID_* var."""
    for name in list(os.environ):
        if name == "XAI_API_KEY" or name.startswith("GROKVID_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "grokvid-home"
    monkeypatch.setenv("GROKVID_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def sandbox_clip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip cache for the whole run, so each distinct clip is rendered once."""
    return tmp_path_factory.mktemp("sandbox-clips")
