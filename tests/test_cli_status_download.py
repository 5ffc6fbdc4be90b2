"""`grokvid status` and `grokvid download`: a job id is never lost, a clip can always be fetched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxConfig, SandboxServer

FOX = "a red fox trotting through fresh snow"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def submit(*extra: str) -> str:
    code, stdout, stderr = invoke("generate", "--no-wait", "-d", "1", *extra)
    assert code == 0, stderr
    return stdout.strip()


def test_status_lists_recent_jobs_newest_first(env: Path) -> None:
    first = submit("first prompt")
    second = submit("second prompt")
    code, stdout, stderr = invoke("status", "--no-refresh")
    assert code == 0, stderr
    rows = [line.split("\t") for line in stdout.strip().splitlines()]
    assert [row[0] for row in rows] == [second, first]
    assert rows[0][1].startswith("pending")
    code, stdout, _ = invoke("status", "--limit", "1", "--no-refresh")
    assert len(stdout.strip().splitlines()) == 1


def test_status_refreshes_and_filters_by_state(env: Path) -> None:
    job = submit(FOX)
    code, stdout, _ = invoke("download", job, "--wait")
    assert code == 0
    other = submit("a [sandbox:render=60] slow one")
    code, stdout, _ = invoke("status", "--json", "--state", "downloaded")
    views = [json.loads(line) for line in stdout.splitlines()]
    assert [v["id"] for v in views] == [job]
    assert views[0]["path"] and Path(views[0]["path"]).exists()
    code, stdout, _ = invoke("status", "--json", other)
    view = json.loads(stdout)
    assert view["state"] == "pending" and view["prompt"] == "a [sandbox:render=60] slow one"
    assert view["params"]["duration"] == 1 and view["error"] is None


def test_status_by_request_id_or_prefix(env: Path, server: SandboxServer) -> None:
    job = submit(FOX)
    request_id = server.app.jobs()[0].request_id
    for ident in (job, request_id, job[:7], request_id[:8]):
        code, stdout, stderr = invoke("status", "--json", ident)
        assert code == 0, stderr
        assert json.loads(stdout)["id"] == job


def test_status_of_a_failed_job_exits_6_and_shows_why(env: Path) -> None:
    job = submit("[sandbox:fail] doomed")
    code, stdout, stderr = invoke("download", job, "--wait")
    assert code == 6
    code, stdout, stderr = invoke("status", job)
    assert code == 6
    assert "failed" in stdout and "error:" in stdout


def test_unknown_job_id_is_a_usage_error(env: Path) -> None:
    code, stdout, stderr = invoke("status", "gv-nope")
    assert code == 2 and "No job 'gv-nope'" in stderr and "grokvid status" in stderr
    code, stdout, stderr = invoke("download", "gv-nope")
    assert code == 2 and stdout == ""


def test_download_without_wait_on_a_rendering_job_says_how(env: Path) -> None:
    job = submit("[sandbox:render=60] a long one")
    code, stdout, stderr = invoke("download", job)
    assert code == 5
    assert f"grokvid download {job} --wait" in stderr


def test_download_to_another_directory_and_force(env: Path) -> None:
    job = submit(FOX)
    code, stdout, _ = invoke("download", job, "--wait")
    first = Path(stdout.strip())
    code, stdout, stderr = invoke("download", job, "--output-dir", "copies")
    assert code == 0, stderr
    copy = Path(stdout.strip())
    assert copy.parent.name == "copies" and copy.name == first.name
    assert copy.read_bytes() == first.read_bytes()
    assert copy.with_suffix(".json").exists()
    # The ledger now points at the latest copy.
    code, stdout, stderr = invoke("download", job)
    assert code == 0 and Path(stdout.strip()) == copy.absolute()
    assert "downloading" not in stderr, "a clip still matching its sha256 is not fetched again"
    copy.write_bytes(b"damaged")
    code, stdout, stderr = invoke("download", job)
    assert code == 0 and Path(stdout.strip()) == copy.absolute(), stderr
    assert "changed since it was downloaded" in stderr
    assert copy.read_bytes() == first.read_bytes(), "a damaged clip is downloaded again"
    code, stdout, stderr = invoke("download", job, "--force")
    assert code == 0, stderr
    assert copy.read_bytes() == first.read_bytes()


def test_empty_ledger_hint(env: Path) -> None:
    code, stdout, stderr = invoke("status")
    assert code == 0 and stdout == ""
    assert "no jobs yet" in stderr


def test_rejected_job_status_exits_4(env: Path) -> None:
    code, stdout, stderr = (
        CliRunner()
        .invoke(app, ["generate", "--json", "-m", "grok-imagine-video-9", "-d", "1", FOX])
        .exit_code,
        None,
        None,
    )
    assert code == 4
    job = json.loads(invoke("status", "--json", "--no-refresh")[1])["id"]
    code, stdout, stderr = invoke("status", job)
    assert code == 4 and "rejected" in stdout
    code, stdout, stderr = invoke("download", job)
    assert code == 4 and "was rejected" in stderr


def test_a_missing_sidecar_is_rewritten_and_a_foreign_file_is_not_adopted(env: Path) -> None:
    job = submit(FOX)
    clip = Path(invoke("download", job, "--wait")[1].strip())
    sidecar = clip.with_suffix(".json")
    first = json.loads(sidecar.read_text())
    sidecar.unlink()
    code, stdout, stderr = invoke("download", job)
    assert code == 0, stderr
    assert json.loads(sidecar.read_text())["file"] == first["file"]
    sidecar.unlink()
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom not the clip")
    code, stdout, stderr = invoke("download", job)
    assert code == 0, stderr
    assert "changed since it was downloaded" in stderr
    assert json.loads(sidecar.read_text())["file"]["sha256"] == first["file"]["sha256"]
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == first["file"]["sha256"]


def test_an_unknown_request_id_is_not_offered_a_resume(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch, clip_cache: Path
) -> None:
    job = submit(FOX)
    with SandboxServer(SandboxConfig(render_seconds=0.1, clip_cache_dir=clip_cache)) as other:
        monkeypatch.setenv("GROKVID_BASE_URL", other.base_url)
        from grokvid.api.ledger import Ledger

        Ledger().update(job, base_url=other.base_url)
        code, stdout, stderr = invoke("download", job, "--wait")
    assert code == 6
    assert f"Job {job}" in stderr and "expired" in stderr and "404" in stderr
    assert "grokvid download" not in stderr
    assert json.loads(invoke("status", "--json", "--no-refresh", job)[1])["state"] == "expired"


@pytest.mark.parametrize("ident", ["gv", "gv-", "gv-a"])
def test_too_short_ids_say_so(env: Path, ident: str) -> None:
    code, stdout, stderr = invoke("status", ident)
    assert code == 2 and "too short" in stderr


def test_a_builtin_sandbox_clip_cannot_be_fetched_again_and_says_so_at_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GROKVID_BASE_URL")
    monkeypatch.setenv("GROKVID_SANDBOX_RENDER_SECONDS", "0.2")
    code, stdout, stderr = invoke("generate", "--sandbox", "--json", "-d", "1", FOX)
    assert code == 0, stderr
    view = json.loads(stdout)
    Path(view["path"]).unlink()
    code, stdout, stderr = invoke("status", view["id"])
    assert "(missing:" in stdout
    code, stdout, stderr = invoke("download", view["id"])
    assert code == 6
    assert "built-in sandbox" in stderr and "Generate it again" in stderr


def test_a_request_id_the_ledger_never_recorded_can_still_be_downloaded(
    env: Path, server: SandboxServer
) -> None:
    """The recovery command grokvid prints when neither the ledger nor its journal could take
    a request id: `grokvid download REQUEST_ID --wait` records the job and fetches it."""
    import httpx

    answer = httpx.post(
        f"{server.base_url}/v1/videos/generations",
        json={"model": "grok-imagine-video", "prompt": FOX, "duration": 1},
        headers={"Authorization": "Bearer xai-test-key-0000"},
    )
    request_id = answer.json()["request_id"]
    code, stdout, stderr = invoke("download", request_id, "--wait")
    assert code == 0, stderr
    clip = Path(stdout.strip())
    assert clip.is_absolute() and clip.is_file()
    assert f"request {request_id} was not in the ledger" in stderr
    view = json.loads(invoke("status", "--json", "--no-refresh", request_id)[1])
    assert (view["state"], view["request_id"]) == ("downloaded", request_id)
    posts = [e for e in server.app.request_log if e.method == "POST"]
    assert len(posts) == 1, "picking a job up never POSTs"
