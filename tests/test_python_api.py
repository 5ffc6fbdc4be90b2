"""The public Python API: `grokvid.Client` and `grokvid.AsyncClient` against the sandbox."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import grokvid
from grokvid.cli.main import app
from grokvid.sandbox import SandboxServer

FOX = "a red fox trotting through fresh snow"


def test_generate_returns_a_verified_clip_in_the_shared_ledger(
    env: Path, server: SandboxServer
) -> None:
    with grokvid.Client() as client:
        clip = client.generate(FOX, duration=1)
    assert isinstance(clip, grokvid.Clip)
    assert clip.path.is_absolute() and clip.path.is_file()
    assert clip.path.parent == env
    assert json.loads(clip.metadata_path.read_text())["local_id"] == clip.job.local_id
    assert clip.job.state is grokvid.JobState.DOWNLOADED
    assert clip.job.request_id and clip.job.cost_usd is not None and clip.job.cost_usd > 0
    # The CLI sees jobs made from Python: one ledger.
    result = CliRunner().invoke(app, ["status", "--json", "--no-refresh", clip.job.local_id])
    assert json.loads(result.stdout)["state"] == "downloaded"


def test_no_wait_returns_the_job_and_download_fetches_it_later(
    env: Path, server: SandboxServer
) -> None:
    client = grokvid.Client()
    job = client.generate(FOX, duration=1, wait=False)
    assert isinstance(job, grokvid.Job) and job.state is grokvid.JobState.PENDING
    assert client.status(job.local_id).local_id == job.local_id
    clip = client.download(job.local_id, wait=True, timeout=60)
    assert clip.path.is_file() and clip.job.local_id == job.local_id
    again = client.download(job.local_id)
    assert again.reused and again.path == clip.path, "a verified clip on disk is not re-fetched"


def test_overrides_take_precedence_over_the_environment(
    server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROKVID_BASE_URL", "https://api.x.ai")
    client = grokvid.Client(api_key="xai-from-python", base_url=server.base_url)
    clip = client.generate(FOX, duration=1, output=tmp_path / "fox.mp4")
    assert clip.path == (tmp_path / "fox.mp4").absolute()
    posts = [e for e in server.app.request_log if e.method == "POST"]
    assert len(posts) == 1


def test_errors_are_grokvid_errors_and_nothing_is_sent_for_bad_input(
    env: Path, server: SandboxServer
) -> None:
    client = grokvid.Client()
    with pytest.raises(grokvid.ValidationError, match="1 to 15"):
        client.generate(FOX, duration=40)
    with pytest.raises(grokvid.GrokvidError):
        client.status("gv-nosuchjob")
    assert not [e for e in server.app.request_log if e.method == "POST"]


def test_a_missing_key_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(grokvid.AuthError, match="api_key="):
        grokvid.Client().generate(FOX)


def test_a_failed_job_raises_job_failed_with_its_state(env: Path, server: SandboxServer) -> None:
    with pytest.raises(grokvid.JobFailed) as info:
        grokvid.Client().generate(f"{FOX} [sandbox:moderate]", duration=1)
    assert info.value.state == "moderated"


def test_async_client_runs_clips_concurrently(env: Path, server: SandboxServer) -> None:
    async def main() -> list[grokvid.Clip]:
        async with grokvid.AsyncClient() as client:
            return list(
                await asyncio.gather(
                    client.generate(f"{FOX} one", duration=1),
                    client.generate(f"{FOX} two", duration=1),
                )
            )

    clips = asyncio.run(main())
    assert len({clip.path for clip in clips}) == 2 and all(c.path.is_file() for c in clips)


def test_the_blocking_client_refuses_to_run_inside_an_event_loop(env: Path) -> None:
    async def main() -> None:
        grokvid.Client().status("gv-abcd")

    with pytest.raises(RuntimeError, match="AsyncClient"):
        asyncio.run(main())


def test_the_public_surface_is_curated_and_loads_lazily() -> None:
    code = (
        "import sys, grokvid;"
        "assert 'grokvid.api.client' not in sys.modules;"
        "grokvid.Client;"
        "assert 'typer' not in sys.modules and 'rich' not in sys.modules;"
        "print(' '.join(sorted(grokvid.__all__)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = set(out.stdout.split())
    assert {"Client", "AsyncClient", "Clip", "Job", "GrokvidError", "JobState"} <= names
    for name in names - {"__version__"}:
        assert issubclass(getattr(grokvid, name), object)
    with pytest.raises(AttributeError):
        grokvid.Runner  # noqa: B018  (private: not exported)


def test_the_python_api_keeps_the_daily_cost_cap(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cap over the last 24 h holds for Python as for the CLI (real-service host, faked)."""
    from grokvid.api import budget

    monkeypatch.setenv("GROKVID_DAILY_MAX_COST", "0.01")
    monkeypatch.setenv("GROKVID_BASE_URL", "https://api.x.ai")
    with pytest.raises(budget.BudgetExceeded, match="daily_max_cost"):
        grokvid.Client().generate(FOX, duration=1)
    (job,) = grokvid.Client()._async._ledger.list(limit=None)  # noqa: SLF001
    assert job.state == "created", "refused before the POST: nothing was sent"


def test_a_served_sandbox_is_capped_by_its_own_prices_and_spending(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So a script can test its cap against the sandbox; real spending is counted apart."""
    from grokvid.api import budget

    monkeypatch.setenv("GROKVID_DAILY_MAX_COST", "0.06")
    assert grokvid.Client().generate(FOX, duration=1).path.is_file()  # $0.05 of $0.06
    with pytest.raises(budget.BudgetExceeded, match="daily_max_cost"):
        grokvid.Client().generate(f"{FOX} again", duration=1)
    assert len([e for e in server.app.request_log if e.method == "POST"]) == 1
