"""The matrix follows GitHub Actions exactly: checked against the examples in GitHub's docs
("Using a matrix for your jobs": expanding, adding and excluding configurations)."""

from __future__ import annotations

import pytest
import yaml

from grokvid.api.batch.matrix import MatrixError, describe, expand


def matrix(text: str) -> dict[str, object]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_cartesian_product_in_declaration_order() -> None:
    combos = expand(matrix("os: [ubuntu, windows]\nversion: [10, 12, 14]"))
    assert combos == [
        {"os": "ubuntu", "version": 10},
        {"os": "ubuntu", "version": 12},
        {"os": "ubuntu", "version": 14},
        {"os": "windows", "version": 10},
        {"os": "windows", "version": 12},
        {"os": "windows", "version": 14},
    ]


def test_docs_include_example_fruit_and_animals() -> None:
    combos = expand(
        matrix(
            """
            fruit: [apple, pear]
            animal: [cat, dog]
            include:
              - color: green
              - color: pink
                animal: cat
              - fruit: apple
                shape: circle
              - fruit: banana
              - fruit: banana
                animal: cat
            """
        )
    )
    assert combos == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_docs_expand_example_adds_npm_to_one_job() -> None:
    combos = expand(
        matrix(
            """
            os: [windows-latest, ubuntu-latest]
            node: [12, 14, 16]
            include:
              - os: windows-latest
                node: 16
                npm: 6
            """
        )
    )
    assert len(combos) == 6
    assert [c for c in combos if "npm" in c] == [{"os": "windows-latest", "node": 16, "npm": 6}]


def test_docs_add_example_makes_ten_jobs() -> None:
    combos = expand(
        matrix(
            """
            os: [macos-latest, windows-latest, ubuntu-latest]
            version: [12, 14, 16]
            include:
              - os: windows-latest
                version: 17
            """
        )
    )
    assert len(combos) == 10
    assert combos[-1] == {"os": "windows-latest", "version": 17}


def test_docs_perl_example_makes_seven_jobs() -> None:
    combos = expand(
        matrix(
            """
            os: [ubuntu-latest]
            perl: ['5.16', '5.20', '5.26', '5.30', latest]
            include:
              - os: macos-latest
                perl: '5.26'
              - os: macos-latest
                perl: latest
            """
        )
    )
    assert len(combos) == 7
    assert combos[-2:] == [
        {"os": "macos-latest", "perl": "5.26"},
        {"os": "macos-latest", "perl": "latest"},
    ]


def test_docs_include_only_matrix_runs_each_entry() -> None:
    combos = expand(
        matrix(
            """
            include:
              - site: production
                datacenter: site-a
              - site: staging
                datacenter: site-b
            """
        )
    )
    assert combos == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_docs_exclude_example_makes_nine_jobs() -> None:
    combos = expand(
        matrix(
            """
            os: [macos-latest, windows-latest]
            version: [12, 14, 16]
            environment: [staging, production]
            exclude:
              - os: macos-latest
                version: 12
                environment: production
              - os: windows-latest
                version: 16
            """
        )
    )
    assert len(combos) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in combos
    assert not [c for c in combos if c["os"] == "windows-latest" and c["version"] == 16]


def test_include_runs_after_exclude_and_can_add_back() -> None:
    combos = expand(
        matrix(
            """
            a: [1, 2]
            exclude: [{a: 2}]
            include: [{a: 2, extra: yes}]
            """
        )
    )
    assert combos == [{"a": 1}, {"a": 2, "extra": True}]


def test_true_and_1_are_different_values() -> None:
    combos = expand(matrix("flag: [true, false]\ninclude: [{flag: 1, note: x}]"))
    assert combos == [{"flag": True}, {"flag": False}, {"flag": 1, "note": "x"}]


def test_more_than_256_combinations_is_an_error() -> None:
    with pytest.raises(MatrixError, match="257 combinations; the limit is 256"):
        expand({"a": list(range(257))})
    assert len(expand({"a": list(range(16)), "b": list(range(16))})) == 256


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a: []", "matrix.a", "non-empty list"),
        ("a: 3", "matrix.a", "non-empty list"),
        ("a: [1]\nexclude: [{b: 1}]", "matrix.exclude[0]", "'b' is not a matrix variable"),
        ("a: [1]\ninclude: [3]", "matrix.include[0]", "non-empty mapping"),
        ("a: [1]\ninclude: {b: 1}", "matrix.include", "list of mappings"),
    ],
)
def test_malformed_matrices_say_where_and_why(text: str, where: str, words: str) -> None:
    with pytest.raises(MatrixError) as caught:
        expand(matrix(text))
    assert caught.value.where == where
    assert words in caught.value.message


def test_describe_writes_a_combination_as_yaml_flow() -> None:
    assert describe({"animal": "otter", "duration": 6, "loud": False}) == (
        "{animal: otter, duration: 6, loud: false}"
    )
