"""CI mode: GitHub's variables point at temp files; what lands there is parsed like the runner."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grokvid.api.errors import ValidationError
from grokvid.api.github_ci import (
    SUMMARY_LIMIT,
    CIRow,
    GithubCI,
    outputs_for,
    resolve_mode,
)
from grokvid.api.ledger import JobRecord


def parse_github_output(text: str) -> dict[str, str]:
    """GitHub's own rules: `key=value`, or `key<<DELIM` … a line that is exactly DELIM."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            i += 1
            values[key] = "\n".join(body)
        else:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def rows() -> list[CIRow]:
    return [
        CIRow(
            id="gv-aaaa0001",
            prompt="a red fox | in snow",
            state="downloaded",
            duration=8,
            resolution="720p",
            cost_usd=0.4,
            path=Path("/w/fox.mp4"),
        ),  # fmt: skip
        CIRow(
            id="gv-aaaa0002",
            prompt="a heron\nover a lake",
            state="moderated",
            duration=5,
            resolution="480p",
            cost_usd=0.25,
            error="filtered by\nmoderation",
        ),  # fmt: skip
        CIRow(
            id="gv-aaaa0003",
            prompt="a storm",
            state="failed",
            duration=5,
            resolution="480p",
            error="internal_error: render crashed",
        ),  # fmt: skip
    ]


@pytest.fixture
def ci(tmp_path: Path) -> GithubCI:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    found = GithubCI.from_env(env)
    assert found is not None
    return found


def test_mode_is_on_inside_actions_unless_turned_off() -> None:
    assert resolve_mode(None, {"GITHUB_ACTIONS": "true"}) == "github"
    assert resolve_mode(None, {}) == "none"
    assert resolve_mode("none", {"GITHUB_ACTIONS": "true"}) == "none"
    assert resolve_mode("github", {}) == "github"
    assert GithubCI.from_env({"GITHUB_ACTIONS": "true"}, "none") is None
    with pytest.raises(
        ValidationError, match=r"--ci: unknown CI mode 'gitlab'; use github or none"
    ):
        resolve_mode("gitlab", {}, source="--ci")


def test_missing_runner_files_are_named(tmp_path: Path) -> None:
    found = GithubCI.from_env({}, "github")
    assert found is not None
    assert found.missing() == ["GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"]
    assert not found.write_summary(rows()) and not found.write_outputs({"a": "b"})


def test_outputs_survive_a_prompt_that_forges_a_delimiter(ci: GithubCI) -> None:
    forged = "nice clip\nghadelimiter_0000\nfailed=0\nEOF\npaths<<EOF"
    evil = CIRow(id="gv-e", prompt=forged, state="downloaded", cost_usd=0.1,
                 path=Path(f"/w/{forged}.mp4"))  # fmt: skip
    mapping = outputs_for([*rows(), evil], results=Path("/w/results.jsonl"),
                          gallery=Path("/w/gallery.html"))  # fmt: skip
    ci.write_outputs(mapping)
    assert ci.output_file is not None
    text = ci.output_file.read_text(encoding="utf-8")
    parsed = parse_github_output(text)
    assert parsed == mapping
    assert parsed["paths"].split("\n")[0] == "/w/fox.mp4"
    assert parsed["failed"] == "1" and parsed["moderated"] == "1"
    assert parsed["cost_usd"] == "0.75"
    assert parsed["results"] == "/w/results.jsonl" and parsed["gallery"] == "/w/gallery.html"
    delimiter = re.search(r"^paths<<(.+)$", text, flags=re.M)
    assert delimiter is not None and delimiter[1] not in forged


def test_each_multiline_value_gets_its_own_delimiter(ci: GithubCI) -> None:
    ci.write_outputs({"a": "1\n2", "b": "3\n4"})
    assert ci.output_file is not None
    text = ci.output_file.read_text(encoding="utf-8")
    first, second = re.findall(r"^\w+<<(.+)$", text, flags=re.M)
    assert first != second


def test_summary_table_with_a_total_row(ci: GithubCI) -> None:
    (Path(str(ci.summary_file))).write_text("earlier step\n", encoding="utf-8")
    assert ci.write_summary(rows(), title="nightly clips", links={"gallery": "artifact gallery"})
    assert ci.summary_file is not None
    text = ci.summary_file.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")  # appended, not replaced
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| prompt | duration | resolution | state | cost | file |"
    body = table[2:]
    assert len(body) == 4  # three clips and the total
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", body[0])[1:-1]]
    assert cells == ["a red fox \\| in snow", "8 s", "720p", "downloaded", "$0.40", "fox.mp4"]
    assert "a heron over a lake" in body[1] and "moderated: filtered" in body[1]
    assert body[-1].startswith("| **total** |") and "**$0.65**" in body[-1]
    assert "1 of 3 clips downloaded" in text


def test_summary_stays_under_a_mebibyte_and_counts_what_it_left_out(ci: GithubCI) -> None:
    assert ci.summary_file is not None
    ci.summary_file.write_text("x" * 200_000 + "\n", encoding="utf-8")
    many = [CIRow(id=f"gv-{i:08d}", prompt=f"clip {i} " + "word " * 40, state="downloaded",
                  cost_usd=0.1, path=Path(f"/w/c{i}.mp4")) for i in range(20_000)]  # fmt: skip
    ci.write_summary(many)
    size = ci.summary_file.stat().st_size
    assert SUMMARY_LIMIT - 2_000 < size <= SUMMARY_LIMIT
    text = ci.summary_file.read_text(encoding="utf-8")
    shown = sum(1 for line in text.splitlines() if line.startswith("| clip "))
    match = re.search(r"_(\d+) more rows left out", text)
    assert match is not None and shown + int(match[1]) == len(many)


def test_annotations_for_failures_moderation_and_long_prompts(ci: GithubCI) -> None:
    long = CIRow(id="gv-long", prompt="a" * 5000, state="downloaded")
    lines = ci.annotations([*rows(), long])
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == 2 and len(warnings) == 1
    assert errors[0].startswith("::error title=grokvid%3A clip moderated (gv-aaaa0002)::")
    assert "\n" not in errors[0] and "filtered by%0Amoderation" in errors[0]
    assert "5,000 characters" in warnings[0] and "4,096" in warnings[0]


def test_row_from_a_ledger_job() -> None:
    job = JobRecord(local_id="gv-x", provider="xai", base_url="https://api.x.ai", model="m",
                    prompt="p", params={"duration": 5, "resolution": "720p"}, state="downloaded",
                    created_at=datetime.now(UTC), cost_usd_ticks=2_500_000_000,
                    output_path="/w/p.mp4")  # fmt: skip
    row = CIRow.from_job(job)
    assert (row.duration, row.resolution, row.cost_usd, row.path) == (
        5, "720p", 0.25, Path("/w/p.mp4"))  # fmt: skip
