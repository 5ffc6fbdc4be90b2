"""--preview and --ci on generate and download: the pictures beside the clip, their paths in the
sidecar and the JSON, and GitHub's summary and outputs written at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxServer

FOX = "a red fox trotting through fresh snow"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_generate_preview_makes_the_three_pictures_and_records_them(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke("generate", "--json", "--preview", "-d", "1", FOX)
    assert code == 0, stderr
    view = json.loads(stdout)
    pictures = view["previews"]
    assert set(pictures) == {"poster", "sheet", "animation"}
    with Image.open(pictures["poster"]) as poster:
        assert poster.size == (848, 480), "the poster is the clip's own size"
    with Image.open(pictures["animation"]) as animation:
        assert animation.format == "WEBP" and animation.n_frames > 1
    sidecar = json.loads(Path(view["metadata_path"]).read_text())
    assert set(sidecar["previews"]) >= {"poster", "sheet", "animation"}


def test_config_preview_true_is_the_default_and_no_preview_overrides_it(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROKVID_PREVIEW", "true")
    code, stdout, stderr = invoke("generate", "--no-preview", "-d", "1", FOX)
    assert code == 0, stderr
    clip = Path(stdout.strip())
    assert not list(clip.parent.glob("*.poster.jpg"))
    code, stdout, stderr = invoke("generate", "-d", "1", f"{FOX} again")
    assert code == 0, stderr
    clip = Path(stdout.strip())
    assert clip.with_name(f"{clip.stem}.poster.jpg").is_file(), "config preview = true applies"


def test_download_preview_makes_pictures_for_a_clip_already_on_disk(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, _ = invoke("generate", "--json", "-d", "1", FOX)
    view = json.loads(stdout)
    assert view["previews"] is None
    code, stdout, stderr = invoke("download", "--json", "--preview", view["id"])
    assert code == 0, stderr
    again = json.loads(stdout)
    assert again["reused"] is True and set(again["previews"]) == {"poster", "sheet", "animation"}


def test_ci_github_writes_the_summary_outputs_and_annotations(
    env: Path, server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, stdout, stderr = invoke("generate", "-d", "1", FOX)
    assert code == 0, stderr
    clip = stdout.strip()
    assert FOX in summary.read_text() and "| " in summary.read_text()
    text = outputs.read_text()
    assert "cost_usd=" in text and "failed=0" in text and clip in text
    code, _, stderr = invoke("generate", "-d", "1", f"{FOX} [sandbox:moderate]")
    assert code == 6
    assert "::error title=" in stderr
    assert "moderated=1" in outputs.read_text()


def test_ci_none_writes_nothing_even_inside_github_actions(
    env: Path, server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _, stderr = invoke("generate", "--ci", "none", "-d", "1", FOX)
    assert code == 0, stderr
    assert not summary.exists()


def test_a_bad_ci_mode_is_a_usage_error_before_anything_is_sent(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke("generate", "--ci", "gitlab", "-d", "1", FOX)
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "--ci" in stderr and "github or none" in stderr
    assert not [e for e in server.app.request_log if e.method == "POST"]
