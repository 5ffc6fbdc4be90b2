"""What a new user's trial of `grokvid batch` found: ids, wording, names, order, messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from grokvid.cli.main import app
from grokvid.sandbox import SandboxServer


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_batch_id_is_shown_and_finds_the_batch_by_prefix(
    env: Path, server: SandboxServer
) -> None:
    write(env / "s.txt", "a kite over a beach [sandbox:render=1]\na fox in snow\n")
    args = ("batch", "s.txt", "-d", "1", "--rate", "50", "--summary", "run.json")
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    plan_line = next(line for line in stderr.splitlines() if "to submit" in line)
    found = re.search(r"batch (b-[0-9a-f]{10})", plan_line)
    assert found, plan_line
    batch_id = found[1]
    summary = json.loads((env / "run.json").read_text())
    assert summary["batch_id"] == batch_id
    assert f"batch {batch_id} finished" in stderr
    # The words say each thing once, and nothing about 429s that never came.
    assert re.search(r"2 of 2 clips saved$", stderr, re.MULTILINE), stderr
    assert "(2 saved)" not in stderr and "rate-limit answer" not in stderr
    # {slug} drops the sandbox's bracketed notes, as generate's names do.
    names = sorted(Path(p).name for p in stdout.split())
    assert names[0].startswith("a-fox-in-snow-") and names[1].startswith("a-kite-over-a-beach-")
    assert not any("sandbox" in n for n in names)

    code, stdout, stderr = invoke("status", "--json")
    assert code == 0, stderr
    assert {json.loads(line)["batch_id"] for line in stdout.splitlines()} == {batch_id}
    code, stdout, stderr = invoke("gallery", "--batch", batch_id[:6], "-o", "g.html")
    assert code == 0, stderr
    assert "gallery of 2 clip(s)" in stderr
    code, _, stderr = invoke("gallery", "--batch", "b-", "-o", "g.html")
    assert code == 2 and "at least 4 characters" in stderr

    code, stdout, stderr = invoke(*args)  # everything reused: no render figures of old runs
    assert code == 0, stderr
    assert "2 of 2 clips saved (2 reused)" in stderr
    assert "slowest render" not in stderr


def test_an_empty_text_file_is_a_warning(env: Path) -> None:
    write(env / "empty.txt", "# nothing yet\n\n")
    code, stdout, stderr = invoke("batch", "empty.txt", "--rate", "50")
    assert code == 0, stderr
    assert "warning: empty.txt has no items" in stderr


def test_one_run_lists_every_problem_in_file_order_blamed_where_the_value_was_written(
    env: Path,
) -> None:
    write(
        env / "bad.yaml",
        "defaults: {duration: 50}\n"
        "matrix:\n  animal: [fox, otter]\n  resolution: [480p, 1080p]\n"
        "prompt: 'a {animal} {missing}'\n",
    )
    code, stdout, stderr = invoke("batch", "bad.yaml", "--dry-run")
    assert code == 2 and stdout == ""
    errors = [line for line in stderr.splitlines() if line.startswith("grokvid: error:")]
    where = [
        re.sub(r"^grokvid: error: (bad\.yaml: (matrix \{[^}]*\}|[^:]*)).*", r"\1", e)
        for e in errors
    ]
    assert where == [
        "bad.yaml: prompt",
        "bad.yaml: defaults.duration",
        "bad.yaml: matrix {animal: fox, resolution: 1080p}",
        "bad.yaml: matrix {animal: otter, resolution: 1080p}",
    ], stderr
    assert "uses {missing}" in errors[0] and "duration 50 is out of range" in errors[1]
    assert "1080p" in errors[2] and "(and" not in stderr
    assert "4 problems in bad.yaml" in stderr

    write(
        env / "bad.jsonl",
        '{"prompt": "one"}\n{"prompt": "two", "duration": 99}\n{oops\n'
        '{"prompt": "four", "resolution": "4k", "aspect_ratio": "5:4"}\n'
        + '{"prompt": "more"}\n' * 2
        + '{"prompt": "", "variants": 9}\n'
        + "".join(f'{{"prompt": "shot {i}"}}\n' for i in range(8, 12))
        + '{"prompt": "twelve", "duration": 0}\n',
    )
    code, _, stderr = invoke("batch", "bad.jsonl", "--dry-run")
    assert code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("grokvid: error:")]
    where = [e.split(": ")[2] for e in errors]
    assert where == [f"bad.jsonl:{n}" for n in (2, 3, 4, 4, 6, 7, 7, 12)], stderr
    assert "resolution '4k'" in errors[2] and "aspect ratio '5:4'" in errors[3]
    assert "the same request as bad.jsonl:5" in errors[4]
    assert "variants" in errors[5] and "prompt is empty" in errors[6]
    assert "8 problems in bad.jsonl" in stderr


def test_a_bad_flag_or_name_template_is_one_problem_named_after_the_flag(env: Path) -> None:
    write(env / "p.txt", "a fox\nan owl\na heron\n")
    code, _, stderr = invoke("batch", "p.txt", "--dry-run", "-d", "50", "--name", "{nope}")
    assert code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("grokvid: error:")]
    assert len(errors) == 2, stderr
    assert errors[0].startswith("grokvid: error: --duration: duration 50 is out of range")
    code, _, stderr = invoke("batch", "p.txt", "--dry-run", "--name", "{nope}")
    errors = [line for line in stderr.splitlines() if line.startswith("grokvid: error:")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith("grokvid: error: --name '{nope}' uses {nope}")
    assert "1 problem in p.txt" in stderr
    code, _, stderr = invoke("batch", "p.txt", "--dry-run", "--name", "../../etc/x")
    assert code == 2
    assert "grokvid: error: --name '../../etc/x' would leave the output folder" in stderr


def test_bad_flags_are_named_and_a_dry_run_over_the_cap_says_the_run_would_be_refused(
    env: Path, server: SandboxServer
) -> None:
    write(env / "p.txt", "a fox\nan owl\n")
    code, _, stderr = invoke("batch", "p.txt", "--rate", "0")
    assert code == 2 and "error: --rate 0 is not usable" in stderr
    code, _, stderr = invoke("batch", "p.txt", "--format", "xml")
    assert code == 2 and "error: --format 'xml' is not a batch format" in stderr
    code, stdout, stderr = invoke("batch", "p.txt", "--dry-run", "-d", "1", "--max-cost", "0.01")
    assert code == 0 and len(stdout.splitlines()) == 2, "the plan is still printed"
    refused = [line for line in stderr.splitlines() if "would be refused" in line]
    assert len(refused) == 1 and "over --max-cost $0.01" in refused[0]
    code, _, stderr = invoke("batch", "p.txt", "--dry-run", "-d", "1", "--max-cost", "5")
    assert code == 0 and "refused" not in stderr
    assert posts_of(server) == 0


def posts_of(server: SandboxServer) -> int:
    return sum(1 for e in server.app.request_log if e.method == "POST")


def test_clips_are_submitted_in_file_order(env: Path, server: SandboxServer) -> None:
    from grokvid.api.ledger import Ledger

    shots = [f"shot number {i}" for i in range(1, 9)]
    write(env / "o.txt", "".join(f"{s}\n" for s in shots))
    code, _, stderr = invoke("batch", "o.txt", "-d", "1", "--rate", "4", "-j", "8")
    assert code == 0, stderr
    jobs = Ledger().list(limit=None)
    submitted = sorted(jobs, key=lambda job: job.submitted_at or job.created_at)
    assert [job.prompt for job in submitted] == shots


def test_a_clip_saved_elsewhere_is_put_in_the_new_output_dir_not_left_behind(
    env: Path, server: SandboxServer
) -> None:
    from grokvid.api.ledger import Ledger

    write(env / "s.txt", "a heron over a lake\n")
    code, stdout, stderr = invoke("batch", "s.txt", "-d", "1", "--rate", "50", "--output-dir", "a")
    assert code == 0, stderr
    first = Path(stdout.strip())
    args = ("batch", "s.txt", "-d", "1", "--rate", "50", "--output-dir", "here", "--json")
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    line = json.loads(stdout)
    moved = Path(line["path"])
    assert moved == env / "here" / first.name and line["reused"] is True
    assert moved.read_bytes() == first.read_bytes() and first.is_file()
    assert moved.with_suffix(".json").is_file(), "the sidecar comes along for the gallery"
    assert re.search(
        rf"(linked|copied) {re.escape(str(moved))} from {re.escape(str(first))}", stderr
    )
    assert sum(1 for e in server.app.request_log if e.method == "POST") == 1
    (job,) = Ledger().list(limit=None)
    assert job.output_path == str(moved)
    code, stdout, stderr = invoke(*args)  # now it is there: reused in place, nothing copied
    assert code == 0 and json.loads(stdout)["path"] == str(moved)
    assert "copied" not in stderr and "linked" not in stderr
