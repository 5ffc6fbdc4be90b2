"""Shared fixtures: every test gets its own GROKVID_HOME and no real key or grokvid settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from grokvid.sandbox import SandboxServer


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


@pytest.fixture
def clip_cache(sandbox_clip_cache: Path) -> Path:
    return sandbox_clip_cache


@pytest.fixture
def server(sandbox_clip_cache: Path) -> Iterator[SandboxServer]:
    """A sandbox on a free loopback port, rendering in 0.3 s."""
    from grokvid.sandbox import SandboxConfig, SandboxServer

    config = SandboxConfig(render_seconds=0.3, clip_cache_dir=sandbox_clip_cache)
    with SandboxServer(config, port=0) as srv:
        yield srv


@pytest.fixture
def env(server: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A user with a key, pointed at the sandbox, working in an empty directory."""
    monkeypatch.setenv("GROKVID_BASE_URL", server.base_url)
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
