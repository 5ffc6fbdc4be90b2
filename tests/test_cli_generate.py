"""`grokvid generate` end to end against the sandbox: stdout, stderr and files on disk."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxConfig, SandboxServer

KEY = "xai-test-SECRET-zq81kk2"
FOX = "a red fox trotting through fresh snow"


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def posts(server: SandboxServer) -> int:
    return sum(1 for _, method, path, _ in server.app.request_log if method == "POST")


def test_generate_saves_a_clip_and_its_metadata(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "-d", "2", FOX)
    assert code == 0, stderr
    path = Path(stdout.strip())
    assert path.parent == env and path.name.startswith("a-red-fox-trotting-through-fresh-snow-")
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["schema"] == "grokvid.clip/1"
    assert meta["prompt"] == FOX
    assert meta["request"]["duration"] == 2 and meta["request"]["resolution"] == "480p"
    assert meta["file"] == {
        "name": path.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert meta["video"]["measured_by"] == "pyav"
    assert (meta["video"]["width"], meta["video"]["height"]) == (848, 480)
    assert meta["video"]["fps"] == 24
    assert abs(meta["video"]["duration"] - 2) <= 1 / 24 + 0.05
    assert meta["video"]["has_audio"] is True
    assert meta["cost"]["estimated_usd"] == pytest.approx(0.10)
    assert meta["cost"]["actual_usd"] == pytest.approx(0.10)
    assert meta["request_id"] and meta["local_id"].startswith("gv-")
    assert not list(env.glob("*.part"))
    assert "\x1b[" not in stderr, "piped stderr carries no colour or animation"
    assert "submitted" in stderr and "saved" in stderr


def test_json_output_is_one_object_per_clip(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "--json", "-n", "2", "-d", "1", FOX)
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 2
    clips = [json.loads(line) for line in lines]
    assert {c["state"] for c in clips} == {"downloaded"}
    assert len({c["path"] for c in clips}) == 2
    assert all(Path(c["path"]).exists() and Path(c["metadata_path"]).exists() for c in clips)
    assert posts(server) == 2, "each variant is its own paid request"


def test_no_wait_prints_the_job_id_and_download_fetches_it_later(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke("generate", "--no-wait", "-d", "1", FOX)
    assert code == 0, stderr
    job_id = stdout.strip()
    assert job_id.startswith("gv-")
    assert not list(env.glob("*.mp4"))
    code, stdout, stderr = invoke("download", job_id, "--wait")
    assert code == 0, stderr
    path = Path(stdout.strip())
    assert path.exists() and path.with_suffix(".json").exists()
    # A second download just prints the path again, without fetching.
    before = len(server.app.request_log)
    code, again, _ = invoke("download", job_id)
    assert code == 0 and again == stdout
    assert len(server.app.request_log) == before


def test_dry_run_sends_nothing(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "--dry-run", "-n", "3", "-r", "720p", FOX)
    assert code == 0, stderr
    plan = json.loads(stdout)
    assert plan["body"]["prompt"] == FOX and plan["body"]["resolution"] == "720p"
    assert plan["requests"] == 3
    assert plan["estimated_cost_usd"] == pytest.approx(3 * 8 * 0.07)
    assert server.app.request_log == []
    assert invoke("status", "--json")[1] == ""


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["-d", "16", FOX], "--duration"),
        (["-d", "0", FOX], "--duration"),
        (["-a", "5:4", FOX], "--aspect-ratio"),
        (["-r", "1080p", FOX], "1080p"),
        (["-r", "4k", FOX], "--resolution"),
        (["   "], "empty"),
        (["x" * 10_001], "10,000"),
        (["-n", "5", FOX], "--variants"),
        (["-n", "2", "-o", "a.mp4", FOX], "--output"),
        (["--base-url", "http://example.com", FOX], "https"),
        (["--prompt-file", "missing.txt"], "--prompt-file"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    env: Path, server: SandboxServer, args: list[str], names: str
) -> None:
    code, stdout, stderr = invoke("generate", *args)
    assert code == 2
    assert stdout == ""
    assert names in stderr
    assert posts(server) == 0


def test_prompt_sources(env: Path, server: SandboxServer) -> None:
    (env / "prompt.txt").write_text("a heron\nlifting off a misty lake\n", encoding="utf-8")
    code, stdout, _ = invoke("generate", "--dry-run", "--prompt-file", "prompt.txt")
    assert code == 0 and json.loads(stdout)["body"]["prompt"].startswith("a heron\nlifting")
    code, stdout, _ = invoke("generate", "--dry-run", "--prompt-file", "-", input="from stdin")
    assert code == 0 and json.loads(stdout)["body"]["prompt"] == "from stdin"
    code, stdout, _ = invoke("generate", "--dry-run", input="piped prompt\n")
    assert code == 0 and json.loads(stdout)["body"]["prompt"] == "piped prompt"
    code, _, stderr = invoke("generate", "--dry-run", "--prompt-file", "prompt.txt", "arg")
    assert code == 2 and "not both" in stderr


def test_long_prompt_warns_but_goes(env: Path) -> None:
    code, stdout, stderr = invoke("generate", "--dry-run", "x " * 2100)
    assert code == 0 and stdout
    assert "warning" in stderr and "4,096" in stderr


def test_unknown_model_warns_and_lets_the_service_decide(env: Path, server: SandboxServer) -> None:
    code, _, stderr = invoke("generate", "-m", "grok-imagine-video-9", "-d", "1", FOX)
    assert "not one grokvid knows" in stderr
    assert code == 4, "the sandbox, like the service, rejects an unknown model"
    assert "HTTP 4" in stderr


def test_existing_file_is_kept_without_force(env: Path, server: SandboxServer) -> None:
    (env / "fox.mp4").write_bytes(b"my precious clip")
    code, stdout, stderr = invoke("generate", "-o", "fox.mp4", "-d", "1", FOX)
    assert code == 2 and "--force" in stderr
    assert (env / "fox.mp4").read_bytes() == b"my precious clip"
    assert posts(server) == 0
    code, stdout, stderr = invoke("generate", "-o", "fox.mp4", "--force", "-d", "1", FOX)
    assert code == 0, stderr
    assert (env / "fox.mp4").read_bytes()[4:8] == b"ftyp"
    assert (env / "fox.json").exists()


def test_no_key_is_an_auth_error_naming_both_fixes(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    code, stdout, stderr = invoke("generate", FOX)
    assert code == 3
    assert "grokvid config set xai.api_key" in stderr and "XAI_API_KEY" in stderr
    assert stderr.count("\n") == 1


def test_incorrect_key_is_an_auth_error_and_never_echoed(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-bad-0000000000000000SECRETTAIL")
    code, stdout, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 3
    assert "Incorrect API key" in stderr
    assert "SECRETTAIL" not in stdout + stderr


@pytest.mark.parametrize(
    ("word", "state"),
    [("[sandbox:moderate]", "moderated"), ("[sandbox:fail]", "failed")],
)
def test_failed_and_moderated_jobs_exit_6(
    env: Path, server: SandboxServer, word: str, state: str
) -> None:
    code, stdout, stderr = invoke("generate", "--json", "-d", "1", f"{FOX} {word}")
    assert code == 6
    (view,) = [json.loads(line) for line in stdout.splitlines()]
    assert view["state"] == state and view["error"]["message"]
    assert view["request_id"] in stderr
    assert not list(env.glob("*.mp4"))


def test_rate_limits_on_submit_are_retried(
    env: Path, clip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SandboxConfig(
        render_seconds=0.2, clip_cache_dir=clip_cache, faults=["429-retry-after=0.1", "429"]
    )
    with SandboxServer(config, port=0) as limited:
        monkeypatch.setenv("GROKVID_BASE_URL", limited.base_url)
        code, stdout, stderr = invoke("generate", "-d", "1", FOX)
        assert code == 0, stderr
        assert posts(limited) == 3
        assert len(limited.app.jobs()) == 1, "only the accepted POST created a job"


def test_a_503_after_the_job_was_created_is_never_paid_twice(
    env: Path, clip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SandboxConfig(render_seconds=0.2, clip_cache_dir=clip_cache, faults=["503-after"])
    with SandboxServer(config, port=0) as flaky:
        monkeypatch.setenv("GROKVID_BASE_URL", flaky.base_url)
        code, stdout, stderr = invoke("generate", "--json", "-d", "1", FOX)
        assert code == 5, stderr
        assert posts(flaky) == 1, "a 503 on submit is an unknown outcome: never re-sent"
        assert len(flaky.app.jobs()) == 1
        assert "503" in stderr and "submit-unknown" in stderr
        assert json.loads(stdout)["state"] == "submit-unknown"


def test_dropped_submit_is_recorded_as_unknown_and_not_resent(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke("generate", "--json", "-d", "1", f"{FOX} [sandbox:drop-after]")
    assert code == 5
    assert "submit-unknown" in stderr or "outcome" in stderr
    assert posts(server) == 1
    assert len(server.app.jobs()) == 1, "the sandbox did create the (billed) job"
    (view,) = [json.loads(line) for line in stdout.splitlines()]
    assert view["state"] == "submit-unknown"


def test_truncated_download_is_resumed(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "-d", "1", f"{FOX} [sandbox:truncate=1]")
    assert code == 0, stderr
    data = Path(stdout.strip()).read_bytes()
    meta = json.loads(Path(stdout.strip()).with_suffix(".json").read_text())
    assert meta["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    ranges = [p for _, m, p, s in server.app.request_log if p.startswith("/cdn/") and s == 206]
    assert ranges, "the second attempt asked for the rest with a Range request"


def test_expired_url_is_refreshed(env: Path, server: SandboxServer) -> None:
    code, stdout, stderr = invoke("generate", "-d", "1", f"{FOX} [sandbox:expire-url=1]")
    assert code == 0, stderr
    assert Path(stdout.strip()).exists()


def test_timeout_keeps_the_job_and_names_the_resume_command(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke(
        "generate", "--timeout", "1", "-d", "1", f"{FOX} [sandbox:render=30]"
    )
    assert code == 5
    assert "grokvid download gv-" in stderr
    code, stdout, _ = invoke("status", "--json")
    assert json.loads(stdout)["state"] == "pending"


def test_plain_http_remote_base_url_is_refused(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROKVID_BASE_URL", "http://api.example.com")
    code, _, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 2 and "https" in stderr


def test_the_key_never_reaches_output_metadata_ledger_or_debug_log(
    env: Path, server: SandboxServer, grokvid_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", KEY)
    code, stdout, stderr = invoke("--debug", "generate", "--json", "-d", "1", FOX)
    assert code == 0, stderr
    assert "grokvid debug:" in stderr and "POST" in stderr
    clip = Path(json.loads(stdout)["path"])
    everything = stdout + stderr + clip.with_suffix(".json").read_text()
    for db in grokvid_env.rglob("*.sqlite3*"):
        everything += db.read_bytes().decode("latin-1")
    assert KEY not in everything
    assert "Bearer ***" in stderr


def test_sandbox_flag_needs_no_key(
    env: Path, monkeypatch: pytest.MonkeyPatch, grokvid_env: Path
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    monkeypatch.delenv("GROKVID_BASE_URL")
    monkeypatch.setenv("GROKVID_SANDBOX_RENDER_SECONDS", "0.2")
    code, stdout, stderr = invoke("generate", "--sandbox", "-d", "1", FOX)
    assert code == 0, stderr
    assert Path(stdout.strip()).exists()
    rows = sqlite3.connect(grokvid_env / "data" / "ledger.sqlite3").execute(
        "select provider, state from jobs"
    )
    assert rows.fetchall() == [("sandbox", "downloaded")]


def test_a_users_json_beside_the_output_is_not_overwritten(
    env: Path, server: SandboxServer
) -> None:
    (env / "shot.json").write_text('{"my": "notes"}')
    code, _, stderr = invoke("generate", "-o", "shot.mp4", "-d", "1", FOX)
    assert code == 2 and "not a grokvid sidecar" in stderr
    assert (env / "shot.json").read_text() == '{"my": "notes"}'
    assert posts(server) == 0


@pytest.mark.parametrize("name", ["shot.json", "folder"])
def test_output_must_name_an_mp4_file(env: Path, server: SandboxServer, name: str) -> None:
    (env / "folder.mp4").mkdir()
    code, _, stderr = invoke("generate", "-o", name if name != "folder" else "folder.mp4", FOX)
    assert code == 2 and "--output" in stderr
    assert posts(server) == 0


def test_sandbox_with_no_wait_is_refused(env: Path) -> None:
    code, stdout, stderr = invoke("generate", "--sandbox", "--no-wait", FOX)
    assert code == 2 and "--no-wait" in stderr and "sandbox serve" in stderr
    assert stdout == ""


def test_poll_failure_after_paying_names_the_job_and_the_resume_command(
    env: Path, clip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grokvid.api import retry

    monkeypatch.setattr(retry, "default_backoff", lambda: retry.Backoff(0.001, 0.001))
    config = SandboxConfig(
        render_seconds=0.2, clip_cache_dir=clip_cache, faults=["submit:none", *["poll:502"] * 9]
    )
    with SandboxServer(config, port=0) as broken:
        monkeypatch.setenv("GROKVID_BASE_URL", broken.base_url)
        code, stdout, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 5
    assert "HTTP 502" in stderr
    assert "goes on at the service: grokvid download gv-" in stderr
    assert stderr.count("grokvid: error:") == 1


def test_jobs_sent_elsewhere_are_not_polled_with_todays_key(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, _ = invoke("generate", "--no-wait", "-d", "1", FOX)
    job = stdout.strip()
    monkeypatch.setenv("GROKVID_BASE_URL", "https://api.x.ai")
    before = len(server.app.request_log)
    code, stdout, stderr = invoke("download", job)
    assert code == 2
    assert f"GROKVID_BASE_URL={server.base_url}" in stderr
    code, stdout, stderr = invoke("status", job)
    assert code == 0 and "not refreshed" in stderr
    assert len(server.app.request_log) == before


def test_retries_are_announced_not_silent(
    env: Path, clip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SandboxConfig(render_seconds=0.2, clip_cache_dir=clip_cache, faults=["submit:429"])
    with SandboxServer(config, port=0) as busy:
        monkeypatch.setenv("GROKVID_BASE_URL", busy.base_url)
        code, _, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 0, stderr
    assert "HTTP 429 on submit" in stderr and "; retry 1/" in stderr


def test_a_sandbox_job_cut_short_ends_with_the_sandbox(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GROKVID_BASE_URL")
    monkeypatch.setenv("GROKVID_SANDBOX_RENDER_SECONDS", "30")
    code, _, stderr = invoke("generate", "--sandbox", "--timeout", "1", "-d", "1", FOX)
    assert code == 5
    assert "built-in sandbox" in stderr and "grokvid download" not in stderr
    view = json.loads(invoke("status", "--json")[1])
    assert view["state"] == "expired" and view["error"]["code"] == "sandbox_stopped"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_image_to_video_from_a_local_file(env: Path, server: SandboxServer) -> None:
    (env / "still.png").write_bytes(PNG)
    code, stdout, stderr = invoke("generate", "--image", "still.png", "-d", "1")
    assert code == 0, stderr
    clip = Path(stdout.strip())
    assert clip.name.startswith("still-")
    (job,) = server.app.jobs()
    sent = job.params["image"]["url"]
    assert sent.startswith("data:image/png;base64,") and len(sent) > 80
    meta = json.loads(clip.with_suffix(".json").read_text())
    assert meta["request"]["image"] == {
        "file": str(env / "still.png"),
        "type": "image/png",
        "bytes": len(PNG),
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }, "the sidecar describes the image instead of carrying its base64"


def test_image_url_is_sent_as_given_with_the_prompt(env: Path) -> None:
    url = "https://example.com/heron.jpg"
    code, stdout, _ = invoke("generate", "--dry-run", "--image", url, "the heron takes off")
    assert code == 0
    body = json.loads(stdout)["body"]
    assert body["image"] == {"url": url} and body["prompt"] == "the heron takes off"
    assert "image_url" not in body


@pytest.mark.parametrize(
    ("source", "says"),
    [("notes.txt", "not a PNG"), ("missing.png", "Cannot read"), ("http://x.test/a.png", "https")],
)
def test_bad_images_exit_2_before_sending(
    env: Path, server: SandboxServer, source: str, says: str
) -> None:
    (env / "notes.txt").write_text("hello")
    code, stdout, stderr = invoke("generate", "--image", source, FOX)
    assert code == 2 and says in stderr and "--image" in stderr
    assert posts(server) == 0


def test_max_cost_is_checked_even_for_the_sandbox_and_a_dry_run_warns(env: Path) -> None:
    code, stdout, stderr = invoke("generate", "--sandbox", "--max-cost", "-1", FOX)
    assert code == 2 and stdout == ""
    assert "--max-cost" in stderr and "0 or more" in stderr
    code, stdout, stderr = invoke("generate", "--dry-run", "--max-cost", "0.01", "-d", "5", FOX)
    assert code == 0 and json.loads(stdout)["estimated_cost_usd"] == 0.25
    assert "without --dry-run this would be refused" in stderr and "$0.25" in stderr
