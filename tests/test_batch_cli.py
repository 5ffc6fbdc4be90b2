"""`grokvid batch` end to end (CliRunner) against the sandbox: what a user sees and what is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxServer

SUBMIT = "/v1/videos/generations"


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def posts(server: SandboxServer) -> int:
    return sum(1 for e in server.app.request_log if e.method == "POST" and e.path == SUBMIT)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_lines_in_every_format_are_all_reported_with_their_place_and_nothing_is_sent(
    env: Path, server: SandboxServer
) -> None:
    write(env / "a.jsonl", '{"prompt": "a fox"}\n{"prompt": "an owl", "duration": 99}\n{oops\n')
    write(env / "b.csv", "prompt,resolution\na fox,480p\nan owl,4k\n")
    write(env / "c.txt", "# shots\na fox\n\n" + "x" * 10_001 + "\n")
    write(
        env / "d.yaml",
        "items:\n  - prompt: a fox\n  - prompt: an owl\n    colour: red\n",
    )
    expected = {
        "a.jsonl": ["a.jsonl:2: duration 99 is out of range", "a.jsonl:3:"],
        "b.csv": ["b.csv:3: resolution '4k' is not offered"],
        "c.txt": ["c.txt:4: the prompt is 10,001 characters"],
        "d.yaml": ["d.yaml: items[1]: unknown field 'colour'"],
    }
    for name, wanted in expected.items():
        code, stdout, stderr = invoke("batch", name, "-d", "1", "--rate", "50")
        assert code == 2, (name, stderr)
        assert stdout == ""
        for text in wanted:
            assert f"grokvid: error: {text}" in stderr, (name, stderr)
        assert "nothing was sent" in stderr
    assert posts(server) == 0
    assert not list(env.glob("*.mp4"))


def test_dry_run_prints_the_plan_and_sends_nothing(env: Path, server: SandboxServer) -> None:
    write(env / "shots.jsonl", '{"prompt": "a fox", "id": "fox"}\n{"prompt": "an owl"}\n')
    code, stdout, stderr = invoke("batch", "shots.jsonl", "--dry-run", "-n", "2", "-d", "3")
    assert code == 0, stderr
    plan = lines(stdout)
    assert [(p["index"], p["variant"], p["item_id"]) for p in plan] == [
        (1, 1, "fox"),
        (1, 2, "fox"),
        (2, 1, None),
        (2, 2, None),
    ]
    assert {p["state"] for p in plan} == {"submit"}
    assert all(p["body"]["duration"] == 3 for p in plan)  # type: ignore[index]
    assert len({p["fingerprint"] for p in plan}) == 4
    assert "2 items, 4 clips" in stderr and "4 to submit" in stderr
    assert server.app.request_log == []


def test_a_batch_saves_every_clip_and_a_rerun_reuses_them_without_a_post(
    env: Path, server: SandboxServer
) -> None:
    write(env / "shots.txt", "# two shots\na fox in snow\n\nan owl at night\n")
    args = ("batch", "shots.txt", "-d", "1", "--rate", "50", "--output-dir", "clips")
    code, stdout, stderr = invoke(*args, "--results", "results.jsonl", "--summary", "run.json")
    assert code == 0, stderr
    saved = [Path(p) for p in stdout.split()]
    assert len(saved) == 2 and all(p.is_file() and p.parent == env / "clips" for p in saved)
    assert posts(server) == 2
    results = lines((env / "results.jsonl").read_text())
    assert sorted(r["index"] for r in results) == [1, 2]
    assert {r["reused"] for r in results} == {False}
    summary = json.loads((env / "run.json").read_text())
    assert summary["schema"] == "grokvid.batch-summary/1"
    assert summary["states"] == {"saved": 2} and summary["submits"] == 2
    assert summary["cost"]["estimated_usd"] == pytest.approx(0.10)
    assert summary["cost"]["actual_usd"] == pytest.approx(0.10)

    code, stdout, stderr = invoke(*args, "--json", "--results", "results.jsonl")
    assert code == 0, stderr
    again = lines(stdout)
    assert {r["reused"] for r in again} == {True}
    assert sorted(Path(str(r["path"])) for r in again) == sorted(saved)
    assert "2 done" in stderr and "0 to submit" in stderr
    assert posts(server) == 2, "nothing is sent twice"
    assert len(lines((env / "results.jsonl").read_text())) == 4, "appended, one per clip"


def test_a_deleted_clip_is_fetched_again_without_a_new_post(
    env: Path, server: SandboxServer
) -> None:
    write(env / "one.txt", "a heron over a lake\n")
    code, stdout, _ = invoke("batch", "one.txt", "-d", "1", "--rate", "50")
    assert code == 0
    clip = Path(stdout.strip())
    clip.unlink()
    code, stdout, stderr = invoke("batch", "one.txt", "-d", "1", "--rate", "50")
    assert code == 0, stderr
    assert Path(stdout.strip()) == clip and clip.is_file()
    assert "1 in flight" in stderr
    assert posts(server) == 1


def test_failed_clips_are_not_sent_again_unless_asked(env: Path, server: SandboxServer) -> None:
    write(env / "f.jsonl", '{"prompt": "a fox"}\n{"prompt": "a broken shot [sandbox:fail]"}\n')
    args = ("batch", "f.jsonl", "-d", "1", "--rate", "50")
    code, stdout, stderr = invoke(*args)
    assert code == 6, stderr
    assert len(stdout.split()) == 1, "the good clip is still saved and printed"
    assert "f.jsonl:2:" in stderr and posts(server) == 2

    code, _, stderr = invoke(*args)
    assert code == 6
    assert "--retry-failed" in stderr and posts(server) == 2

    code, _, stderr = invoke(*args, "--retry-failed")
    assert code == 6  # it fails again, but it was sent again
    assert posts(server) == 3


def test_precedence_config_env_defaults_flags_item(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("config", "set", "duration", "3")[0] == 0
    assert invoke("config", "set", "aspect_ratio", "1:1")[0] == 0
    assert invoke("config", "set", "resolution", "720p")[0] == 0
    monkeypatch.setenv("GROKVID_ASPECT_RATIO", "9:16")  # env beats config
    write(
        env / "p.yaml",
        "defaults: {duration: 4, resolution: 480p}\n"
        "items:\n  - prompt: a\n  - {prompt: b, duration: 6}\n",
    )
    code, stdout, stderr = invoke("batch", "p.yaml", "--dry-run")
    assert code == 0, stderr
    bodies = [p["body"] for p in lines(stdout)]
    assert [(b["duration"], b["resolution"], b["aspect_ratio"]) for b in bodies] == [  # type: ignore[index]
        (4, "480p", "9:16"),  # defaults beat config; env beats config
        (6, "480p", "9:16"),  # the item beats everything
    ]
    code, stdout, _ = invoke("batch", "p.yaml", "--dry-run", "-d", "5", "-a", "4:3")
    bodies = [p["body"] for p in lines(stdout)]
    assert [(b["duration"], b["aspect_ratio"]) for b in bodies] == [(5, "4:3"), (6, "4:3")]  # type: ignore[index]


def test_shards_are_disjoint_and_cover_the_batch(env: Path) -> None:
    write(env / "many.txt", "".join(f"shot number {i}\n" for i in range(30)))
    code, stdout, _ = invoke("batch", "many.txt", "--dry-run")
    everything = {p["fingerprint"] for p in lines(stdout)}
    parts = []
    for i in (1, 2, 3):
        code, stdout, stderr = invoke("batch", "many.txt", "--dry-run", "--shard", f"{i}/3")
        assert code == 0, stderr
        parts.append({p["fingerprint"] for p in lines(stdout)})
    assert set().union(*parts) == everything and len(everything) == 30
    assert sum(len(p) for p in parts) == 30, "no clip is in two shards"
    code, _, stderr = invoke("batch", "many.txt", "--dry-run", "--shard", "4/3")
    assert code == 2 and "--shard" in stderr


def test_a_plan_over_the_cap_is_refused_before_anything_is_sent(
    env: Path, server: SandboxServer
) -> None:
    write(env / "c.txt", "a fox\nan owl\na heron\n")
    code, stdout, stderr = invoke("batch", "c.txt", "-d", "1", "--max-cost", "0.12")
    assert code == 2
    assert "$0.15, over the cap of $0.12" in stderr
    assert stdout == "" and posts(server) == 0


def test_spending_elsewhere_stops_the_run_at_the_daily_cap_with_exit_7(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another command spends while the batch runs: the cap stops submitting, exit 7, and
    the clips not sent are submitted by the next run."""
    from grokvid.api import runner

    spent = iter([0.0, 0.0])  # the plan check and the first submit see nothing spent
    monkeypatch.setattr(runner, "spent_since", lambda ledger, when, **kw: next(spent, 1.0))
    monkeypatch.setenv("GROKVID_DAILY_MAX_COST", "1.00")
    write(env / "c.txt", "a fox\nan owl\na heron\n")
    args = ("batch", "c.txt", "-d", "1", "--rate", "50", "-j", "1")
    code, stdout, stderr = invoke(*args)
    assert code == 7, stderr
    assert len(stdout.split()) == 1 and posts(server) == 1
    assert "daily_max_cost" in stderr

    monkeypatch.setattr(runner, "spent_since", lambda ledger, when, **kw: 0.0)
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    assert posts(server) == 3, "the two clips the cap held back, and nothing else"


def test_the_built_in_sandbox_names_a_bad_rate_limit_variable(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROKVID_SANDBOX_RATE_LIMIT", "fast")
    write(env / "one.txt", "a fox\n")
    code, _, stderr = invoke("batch", "one.txt", "--sandbox", "-d", "1")
    assert code == 2
    assert "GROKVID_SANDBOX_RATE_LIMIT='fast'" in stderr and "unset it" in stderr


def test_a_rate_limited_sandbox_slows_the_batch_but_fails_nothing(
    env: Path, monkeypatch: pytest.MonkeyPatch, clip_cache: Path
) -> None:
    from grokvid.sandbox import SandboxConfig

    config = SandboxConfig(render_seconds=0.2, rate_limit=4, clip_cache_dir=clip_cache)
    with SandboxServer(config, port=0) as limited:
        monkeypatch.setenv("GROKVID_BASE_URL", limited.base_url)
        write(env / "r.txt", "".join(f"shot {i}\n" for i in range(6)))
        code, stdout, stderr = invoke(
            "batch", "r.txt", "-d", "1", "--rate", "50", "--summary", "s.json"
        )
        accepted = sum(1 for e in limited.app.request_log if e.method == "POST" and e.status == 200)
    assert code == 0, stderr
    assert len(stdout.split()) == 6
    summary = json.loads((env / "s.json").read_text())
    assert summary["rate_limited_429s"] >= 1, "the sandbox's limit was reached"
    assert summary["states"] == {"saved": 6}
    assert accepted == 6, "a 429 is retried, never sent twice once accepted"


def test_names_make_subfolders_and_may_not_leave_the_output_dir(env: Path) -> None:
    write(
        env / "m.yaml",
        "matrix: {animal: [fox, owl]}\nprompt: 'a {animal}'\nname: '{animal}/{index:03d}'\n",
    )
    code, stdout, stderr = invoke("batch", "m.yaml", "--dry-run", "--output-dir", "out")
    assert code == 0, stderr
    assert [Path(str(p["path"])) for p in lines(stdout)] == [
        env / "out" / "fox" / "001.mp4",
        env / "out" / "owl" / "002.mp4",
    ]
    write(env / "t.txt", "a fox\n")
    code, _, stderr = invoke("batch", "t.txt", "--dry-run", "--name", "../{slug}")
    assert code == 2 and "output directory" in stderr


def test_generate_reuse_prints_the_saved_clip_without_a_post(
    env: Path, server: SandboxServer
) -> None:
    code, stdout, stderr = invoke("generate", "-d", "1", "a fox in the snow")
    assert code == 0, stderr
    first = stdout.strip()
    code, stdout, stderr = invoke("generate", "--reuse", "--json", "-d", "1", "a fox in the snow")
    assert code == 0, stderr
    assert json.loads(stdout)["path"] == first
    assert posts(server) == 1
    code, stdout, _ = invoke("generate", "--reuse", "-d", "2", "a fox in the snow")
    assert code == 0 and stdout.strip() != first and posts(server) == 2
