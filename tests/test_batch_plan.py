"""The planner: settings layers, variants, names, problems, fingerprints, resume and shards."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from grokvid.api.batch import (
    BaseFields,
    BatchProblems,
    ClipFields,
    ClipState,
    Plan,
    PlanOptions,
    Shard,
    Template,
    TemplateError,
    parse_shard,
    plan_batch,
    read_batch,
)
from grokvid.api.batch.resume import file_sha256
from grokvid.api.errors import ValidationError
from grokvid.api.models import ImageInput, VideoRequest, check_request, estimate_cost_usd

BASE = BaseFields("grok-imagine-video", 8, "480p", "16:9", True)


def check(clip: ClipFields) -> list[str]:
    """generate's own rules, as the lead's new check will apply them."""
    image = None if clip.image is None else ImageInput(url="data:image/png;base64,AA==")
    try:
        check_request(
            VideoRequest(
                model=clip.model,
                prompt=clip.prompt,
                duration=clip.duration,
                aspect_ratio=clip.aspect_ratio,
                resolution=clip.resolution,
                generate_audio=clip.audio,
                image=image,
            )
        )
    except ValidationError as exc:
        return [exc.message]
    return []


def estimate(clip: ClipFields) -> float | None:
    return estimate_cost_usd(clip.model, clip.resolution, clip.duration)


@dataclass
class Record:
    state: str
    request_id: str | None = None
    output_path: str | None = None
    sha256: str | None = None


def plan(
    tmp_path: Path,
    file: str,
    text: str,
    ledger: dict[str, Sequence[Record]] | None = None,
    **options: object,
) -> Plan:
    path = tmp_path / file
    path.write_text(text)
    opts = PlanOptions(
        output_dir=Path(str(options.pop("output_dir", tmp_path / "out"))),
        provider="xai",
        base_url=str(options.pop("base_url", "https://api.x.ai")),
        **options,  # type: ignore[arg-type]
    )
    records = ledger or {}
    return plan_batch(
        read_batch(str(path)),
        BASE,
        opts,
        check=check,
        lookup=lambda fp: records.get(fp, []),
        estimate=estimate,
    )


def problems(tmp_path: Path, file: str, text: str, **options: object) -> list[str]:
    with pytest.raises(BatchProblems) as caught:
        plan(tmp_path, file, text, **options)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def test_precedence_builtins_defaults_flags_item(tmp_path: Path) -> None:
    result = plan(
        tmp_path,
        "shots.yaml",
        """
defaults: {duration: 6, resolution: 720p, model: grok-imagine-video-1.5}
items:
  - prompt: uses every layer
  - prompt: item wins
    duration: 4
    resolution: 1080p
""",
        flags={"duration": 5, "aspect_ratio": "9:16", "audio": False},
    )
    first, second = (clip.fields for clip in result.clips)
    assert (first.model, first.duration, first.resolution) == ("grok-imagine-video-1.5", 5, "720p")
    assert (first.aspect_ratio, first.audio) == ("9:16", False)
    assert (second.duration, second.resolution) == (4, "1080p")


def test_item_prompt_beats_a_default_prompt_file(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("a prompt from a file\n")
    result = plan(
        tmp_path,
        "shots.yaml",
        "defaults: {prompt_file: long.txt}\nitems:\n  - {id: a}\n  - {id: b, prompt: own words}\n",
    )
    assert [c.fields.prompt for c in result.clips] == ["a prompt from a file", "own words"]


def test_variants_make_distinct_clips_and_names(tmp_path: Path) -> None:
    result = plan(tmp_path, "clips.jsonl", '{"prompt": "a red fox", "variants": 3}\n')
    assert [c.variant for c in result.clips] == [1, 2, 3]
    assert len({c.fingerprint for c in result.clips}) == 3
    names = [c.path.name for c in result.clips]
    assert all(n.startswith("a-red-fox-") and n.endswith(".mp4") for n in names)
    assert len(set(names)) == 3


def test_matrix_templates_fill_prompt_and_subfolder_names(tmp_path: Path) -> None:
    result = plan(
        tmp_path,
        "shots.yaml",
        """
matrix:
  animal: [Snow Otter, fox]
  duration: [4, 6]
prompt: "A {animal} for {duration} seconds"
name: "{animal|slug}/{index:03d}-{aspect}-{duration}s"
""",
    )
    out = tmp_path / "out"
    assert [(c.fields.prompt, c.fields.duration, c.path) for c in result.clips] == [
        ("A Snow Otter for 4 seconds", 4, out / "snow-otter/001-16x9-4s.mp4"),
        ("A Snow Otter for 6 seconds", 6, out / "snow-otter/002-16x9-6s.mp4"),
        ("A fox for 4 seconds", 4, out / "fox/003-16x9-4s.mp4"),
        ("A fox for 6 seconds", 6, out / "fox/004-16x9-6s.mp4"),
    ]


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "taken.mp4").write_bytes(b"x")
    text = (
        "prompt,duration,name,colour\n"  # unknown column
        "a fox,20,fox\n"  # duration out of range
        "an otter,6,same\n"
        "a heron,6,same\n"  # collides with line 3
        "a cat,6,../escape\n"
        "a dog,6,taken\n"
        "an owl,6,/abs\n"
    )
    found = problems(tmp_path, "clips.csv", text)
    path = tmp_path / "clips.csv"
    assert found[0].startswith(f"{path}:1: header: unknown field 'colour'")
    rest = "\n".join(found[1:])
    assert f"{path}:4: aims at {out / 'same.mp4'}, as does {path}:3" in rest
    assert f"{path}:5: The name '../escape' would leave the output folder" in rest
    assert f"{path}:6: {out / 'taken.mp4'} already exists" in rest
    assert f"{path}:7: The name '/abs' is absolute" in rest
    assert f"{path}:2: Duration 20 is out of range" in rest
    assert len(found) == 6


def test_force_allows_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "taken.mp4").write_bytes(b"x")
    result = plan(tmp_path, "c.jsonl", '{"prompt": "a dog", "name": "taken"}\n', force=True)
    assert result.clips[0].path == tmp_path / "out" / "taken.mp4"


def test_one_bad_flag_is_one_problem_blamed_on_the_flag(tmp_path: Path) -> None:
    found = problems(tmp_path, "p.txt", "a fox\nan otter\na heron\n", flags={"duration": 30})
    assert found == [
        "--duration: Duration 30 is out of range: use a whole number of seconds from 1 to 15."
    ]


def test_duplicate_requests_and_ids_are_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "c.jsonl",
        '{"prompt": "a fox"}\n{"prompt": "a fox"}\n{"prompt": "x", "id": "k"}\n'
        '{"prompt": "y", "id": "k"}\n',
    )
    path = tmp_path / "c.jsonl"
    assert found == [
        f"{path}:2: the same request as {path}:1 (same prompt and settings): remove one, or "
        "give each its own id",
        f"{path}:4: the id 'k' is also used at {path}:3: ids must be unique",
    ]
    # The same prompt twice is fine once each has its own id.
    result = plan(tmp_path, "d.jsonl", '{"prompt": "a fox", "id": 1}\n{"prompt": "a fox", "id": 2}')
    assert len(result.clips) == 2


def test_name_using_id_needs_every_item_to_have_one(tmp_path: Path) -> None:
    found = problems(
        tmp_path, "c.jsonl", '{"prompt": "a", "id": "x"}\n{"prompt": "b"}\n', name="{id}"
    )
    assert found == [
        f"{tmp_path / 'c.jsonl'}:2: The name '{{id}}' uses {{id}} but this item has no id: give "
        "it one, or take {id} out of the name."
    ]


def test_a_symlinked_folder_cannot_lead_out_of_the_output_dir(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")
    found = problems(tmp_path, "c.jsonl", '{"prompt": "a", "name": "link/a"}\n')
    assert len(found) == 1 and "through a symbolic link" in found[0]


def test_prompt_file_and_image_are_relative_to_the_batch_file(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("a fox from a file\n")
    (tmp_path / "fox.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    result = plan(tmp_path, "c.jsonl", '{"prompt_file": "words.txt", "image": "fox.png"}\n')
    clip = result.clips[0]
    assert clip.fields.prompt == "a fox from a file"
    assert clip.fields.image == str(tmp_path / "fox.png")
    assert clip.body["image"] == {
        "file": clip.fields.image,
        "sha256": file_sha256(tmp_path / "fox.png"),
    }
    found = problems(
        tmp_path, "d.jsonl", '{"prompt": "x", "image": "gone.png"}\n{"prompt_file": "no.txt"}\n'
    )
    assert "image: cannot read" in found[0] and "gone.png" in found[0]
    assert "prompt_file: cannot read" in found[1] and "no.txt" in found[1]


def test_fingerprint_is_stable_and_covers_the_request(tmp_path: Path) -> None:
    def fp(text: str, **options: object) -> str:
        return plan(tmp_path, "c.jsonl", text, **options).clips[0].fingerprint

    line = '{"prompt": "a fox", "duration": 6}\n'
    first = fp(line)
    assert fp(line) == first
    assert fp('{"prompt": "a fox", "duration": 6, "name": "other"}\n') == first  # name is not
    assert fp('{"prompt": "a fox", "duration": 5}\n') != first
    assert fp('{"prompt": "a fox", "duration": 6, "id": "a"}\n') != first
    assert fp(line, base_url="http://127.0.0.1:8000") != first
    (tmp_path / "a.png").write_bytes(b"one")
    with_image = fp('{"prompt": "a fox", "duration": 6, "image": "a.png"}\n')
    (tmp_path / "a.png").write_bytes(b"two")
    assert fp('{"prompt": "a fox", "duration": 6, "image": "a.png"}\n') != with_image


def test_resume_states_from_the_ledger(tmp_path: Path) -> None:
    text = "".join(f'{{"prompt": "clip {n}", "name": "c{n}"}}\n' for n in range(7))
    fps = [c.fingerprint for c in plan(tmp_path, "c.jsonl", text).clips]
    out = tmp_path / "out"
    out.mkdir()
    (out / "c0.mp4").write_bytes(b"video zero")
    ledger = {
        fps[0]: [Record("downloaded", "r0", str(out / "c0.mp4"), file_sha256(out / "c0.mp4"))],
        fps[1]: [Record("downloaded", "r1", str(out / "c1.mp4"), "0" * 64)],  # file gone
        fps[2]: [Record("failed", "r2"), Record("pending", "r2b")],  # a retry in flight
        fps[3]: [Record("submit-unknown")],
        fps[4]: [Record("moderated", "r4")],
        fps[5]: [Record("not-sent")],
    }
    states = [c.state for c in plan(tmp_path, "c.jsonl", text, ledger).clips]
    assert states == [
        ClipState.DONE,
        ClipState.IN_FLIGHT,
        ClipState.IN_FLIGHT,
        ClipState.UNKNOWN,
        ClipState.FAILED,
        ClipState.SUBMIT,
        ClipState.SUBMIT,
    ]
    retried = plan(tmp_path, "c.jsonl", text, ledger, retry_failed=True, retry_unknown=True)
    assert [c.state for c in retried.clips][3:5] == [ClipState.SUBMIT, ClipState.SUBMIT]
    summary = plan(tmp_path, "c.jsonl", text, ledger).summary_line(0.5)
    assert summary == (
        "7 items, 7 clips: 1 done, 2 in flight, 1 failed, 1 unknown, 2 to submit; "
        "estimated $0.80; submitting takes about 4 s at 0.5/s"
    )


def test_a_downloaded_file_that_changed_is_not_overwritten_without_force(tmp_path: Path) -> None:
    text = '{"prompt": "a fox", "name": "fox"}\n'
    fp = plan(tmp_path, "c.jsonl", text).clips[0].fingerprint
    target = tmp_path / "out" / "fox.mp4"
    target.parent.mkdir()
    target.write_bytes(b"edited by the user")
    ledger = {fp: [Record("downloaded", "r", str(target), "0" * 64)]}
    found = problems(tmp_path, "c.jsonl", text, ledger=ledger)
    assert len(found) == 1 and "is not the clip downloaded earlier" in found[0]
    forced = plan(tmp_path, "c.jsonl", text, ledger, force=True)
    assert forced.clips[0].state == ClipState.IN_FLIGHT


def test_shards_are_disjoint_and_cover_the_whole(tmp_path: Path) -> None:
    text = "".join(f"prompt number {n}\n" for n in range(40))
    whole = {c.fingerprint for c in plan(tmp_path, "p.txt", text).clips}
    parts = [
        {c.fingerprint for c in plan(tmp_path, "p.txt", text, shard=Shard(i, 3)).clips}
        for i in (1, 2, 3)
    ]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole) == 40
    assert all(parts)
    sharded = plan(tmp_path, "p.txt", text, shard=Shard(2, 3))
    assert sharded.total_clips == 40 and "this shard:" in sharded.summary_line(1.0)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_shard(text)
    assert (
        caught.value.field == "shard"
        and "I/N" in caught.value.message
        or "1 to N" in str(caught.value)
    )


def test_dry_run_line_has_everything_a_script_needs(tmp_path: Path) -> None:
    result = plan(tmp_path, "c.jsonl", '{"prompt": "a fox", "id": "f", "duration": 6}\n')
    line = json.loads(result.clips[0].dry_run_line())
    assert line["index"] == 1 and line["item_id"] == "f" and line["state"] == "submit"
    assert len(line["fingerprint"]) == 64
    assert line["path"] == str(tmp_path / "out" / f"a-fox-{line['fingerprint'][:8]}.mp4")
    assert line["body"] == {
        "model": "grok-imagine-video",
        "prompt": "a fox",
        "duration": 6,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "generate_audio": True,
    }
    assert line["estimated_cost_usd"] == 0.3


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{a.b}", "only plain names"),
        ("{a[0]}", "only plain names"),
        ("{0}", "only plain names"),
        ("{}", "only plain names"),
        ("{a!r}", "conversion"),
        ("{a|upper}", "the only filter is |slug"),
        ("{a:{b}}", "nests a field"),
        ("{a", "not a valid template"),
    ],
)
def test_templates_refuse_anything_but_plain_names(text: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words):
        Template.parse(text)


def test_templates_render_specs_and_slugs() -> None:
    template = Template.parse("{index:03d}-{animal|slug}-{{literal}}")
    assert template.render({"index": 7, "animal": "Snow Otter!"}) == "007-snow-otter-{literal}"
    with pytest.raises(TemplateError, match="uses {mood}, which is not defined: use one of a"):
        Template.parse("{mood}").render({"a": 1})
    with pytest.raises(TemplateError, match="cannot format"):
        Template.parse("{a:03d}").render({"a": "text"})


def test_the_planner_loads_no_terminal_libraries() -> None:
    code = (
        "import sys, grokvid.api.batch, grokvid.api.ratelimit, grokvid.api.budget\n"
        "print(sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
