"""Batch files: every format gives items with the place they came from, and every problem."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from grokvid.api.batch import BatchInputError, read_batch


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_jsonl_skips_blank_lines_and_reports_bad_lines_by_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "clips.jsonl",
        '{"prompt": "a fox"}\n\n{"prompt": "an otter", "duration": 6}\n{broken\n[1, 2]\n',
    )
    source = read_batch(path)
    assert [(i.location, i.fields) for i in source.items] == [
        (f"{path}:1", {"prompt": "a fox"}),
        (f"{path}:3", {"prompt": "an otter", "duration": 6}),
    ]
    assert [str(p) for p in source.problems] == [
        f"{path}:4: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f'{path}:5: each line must be a JSON object, e.g. {{"prompt": "..."}}',
    ]


def test_csv_quoting_bom_and_multiline_cells_keep_line_numbers(tmp_path: Path) -> None:
    text = '\ufeffprompt,duration,id\n"a fox, running",6,fox\n"two\nlines",,two\n\nan otter,8,\n'
    path = write(tmp_path, "clips.csv", text)
    source = read_batch(path)
    assert source.problems == []
    assert [(i.location, i.fields) for i in source.items] == [
        (f"{path}:2", {"prompt": "a fox, running", "duration": "6", "id": "fox"}),
        (f"{path}:3", {"prompt": "two\nlines", "duration": "", "id": "two"}),
        (f"{path}:6", {"prompt": "an otter", "duration": "8", "id": ""}),
    ]


def test_csv_unknown_column_and_overlong_row_are_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "clips.csv", "prompt,length\na fox,6\nan otter,6,extra\n")
    problems = [str(p) for p in read_batch(path).problems]
    assert problems[0].startswith(f"{path}:1: header: unknown field 'length': use prompt,")
    assert problems[1] == (
        f"{path}:3: 3 cells but the header names 2 columns: quote cells that contain commas"
    )


def test_txt_is_one_prompt_per_line_without_comments(tmp_path: Path) -> None:
    path = write(tmp_path, "prompts.txt", "# my shots\na fox\r\n\n  an otter  \n#skip\n")
    source = read_batch(path)
    assert [(i.location, i.fields) for i in source.items] == [
        (f"{path}:2", {"prompt": "a fox"}),
        (f"{path}:4", {"prompt": "an otter"}),
    ]


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "prompts.txt", b"a fox\ncaf\xe9\n")
    assert [str(p) for p in read_batch(path).problems] == [
        f"{path}:2: not UTF-8 (byte 0xe9): save the file as UTF-8"
    ]


def test_yaml_manifest_matrix_items_and_unquoted_aspect_ratios(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shots.yaml",
        """
defaults:
  duration: 6
matrix:
  animal: [otter, fox]
  aspect_ratio: [16:9, 9:16]
  exclude:
    - {animal: fox, aspect_ratio: 9:16}
prompt: "A {animal} at dusk"
name: "{animal}-{aspect}"
items:
  - prompt: a lone heron
    aspect_ratio: 1:1
  - just a prompt
""",
    )
    source = read_batch(path)
    assert source.problems == []
    assert source.defaults == {"duration": 6}
    assert [i.location for i in source.items] == [
        f"{path}: matrix {{animal: otter, aspect_ratio: 16:9}}",
        f"{path}: matrix {{animal: otter, aspect_ratio: 9:16}}",
        f"{path}: matrix {{animal: fox, aspect_ratio: 16:9}}",
        f"{path}: items[0]",
        f"{path}: items[1]",
    ]
    first = source.items[0]
    assert first.fields == {
        "prompt": "A {animal} at dusk",
        "name": "{animal}-{aspect}",
        "aspect_ratio": "16:9",
    }
    assert first.variables == {"animal": "otter", "aspect_ratio": "16:9"}
    assert source.items[3].fields == {"prompt": "a lone heron", "aspect_ratio": "1:1"}
    assert source.items[4].fields == {"prompt": "just a prompt"}


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "shots.yaml", "matrix:\n  animal: [otter, fox\nprompt: x\n")
    problems = [str(p) for p in read_batch(path).problems]
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: not valid YAML:")


def test_yaml_refuses_python_objects(tmp_path: Path) -> None:
    path = write(tmp_path, "shots.yaml", "items:\n  - !!python/object/apply:os.system [echo hi]\n")
    problems = [str(p) for p in read_batch(path).problems]
    assert len(problems) == 1 and "not valid YAML" in problems[0]


def test_yaml_unknown_keys_and_fields_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shots.yaml",
        "defaults: {length: 6}\nmatrix: {a: [1, 2], a_list: []}\nsteps: []\n",
    )
    problems = [str(p) for p in read_batch(path).problems]
    assert problems[0].startswith(f"{path}: unknown top-level key 'steps'")
    assert problems[1].startswith(f"{path}: defaults: unknown field 'length'")
    assert (
        problems[2]
        == f"{path}: matrix.a_list: a matrix variable needs a non-empty list, e.g. [a, b]"
    )


def test_stdin_needs_a_format_unless_it_is_json_lines() -> None:
    source = read_batch("-", stdin=io.BytesIO(b'\n{"prompt": "a fox"}\n'))
    assert source.format == "jsonl"
    assert [i.location for i in source.items] == ["<stdin>:2"]
    with pytest.raises(BatchInputError, match="Cannot tell the format of standard input"):
        read_batch("-", stdin=io.BytesIO(b"a fox\n"))
    source = read_batch("-", "txt", stdin=io.BytesIO(b"a fox\n"))
    assert [i.fields for i in source.items] == [{"prompt": "a fox"}]


def test_unknown_extension_and_missing_file_say_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, "clips.tsv", "x")
    with pytest.raises(BatchInputError, match=r"name it \.jsonl, \.csv, \.txt, \.yaml or \.yml"):
        read_batch(path)
    with pytest.raises(BatchInputError, match="Unknown batch format 'xml'"):
        read_batch(path, "xml")
    with pytest.raises(BatchInputError, match="Cannot read the batch file .*No such file"):
        read_batch(str(tmp_path / "gone.csv"))
    assert read_batch(path, "txt").items[0].fields == {"prompt": "x"}
