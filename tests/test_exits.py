"""Every error class through the real `handle_errors`: its exit code and its one stderr line."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from grokvid.api import errors
from grokvid.api.config import load_settings
from grokvid.cli import exits

CASES: list[tuple[BaseException, int, str]] = [
    (errors.GrokvidError("Something odd."), 1, "grokvid: error: Something odd."),
    (errors.ConfigError("Bad file."), 2, "grokvid: error: Bad file."),
    (
        errors.ValidationError("16 is not valid: use 1-15.", "duration"),
        2,
        "grokvid: error: --duration: 16 is not valid: use 1-15.",
    ),
    (
        errors.AuthError("Incorrect API key.", status=401, request_id="req-1"),
        3,
        "grokvid: error: Incorrect API key. (HTTP 401, request id req-1)",
    ),
    (
        errors.APIError("Bad prompt.", status=400, code="invalid-argument"),
        4,
        "grokvid: error: Bad prompt. (HTTP 400)",
    ),
    (
        errors.RateLimited("Slow down.", status=429, retry_after=2.0),
        5,
        "grokvid: error: Slow down. (HTTP 429)",
    ),
    (
        errors.NotFound("No such job.", status=404, request_id="req-2"),
        4,
        "grokvid: error: No such job. (HTTP 404, request id req-2)",
    ),
    (errors.ServerError("Busy.", status=503), 5, "grokvid: error: Busy. (HTTP 503)"),
    (errors.NetworkError("Connection reset."), 5, "grokvid: error: Connection reset."),
    (errors.URLExpired("URL gone.", status=410), 5, "grokvid: error: URL gone."),
    (errors.SendFailed("Could not connect."), 5, "grokvid: error: Could not connect."),
    (
        errors.SubmitUnknown("Outcome unknown.", local_id="gv-abcd1234"),
        5,
        "grokvid: error: Outcome unknown.",
    ),
    (errors.WaitTimeout("Still rendering.", request_id="r"), 5, "grokvid: error: Still rendering."),
    (errors.JobFailed("It failed.", state="failed"), 6, "grokvid: error: It failed."),
    (
        errors.JobFailed("Never sent.", state="not-sent", code="auth"),
        3,
        "grokvid: error: Never sent.",
    ),
    (
        errors.JobFailed("Never sent.", state="not-sent", code="network"),
        5,
        "grokvid: error: Never sent.",
    ),
    (
        errors.SaveFailed(
            "No space left on device writing /x/a.mp4.part.", path=Path("/x"), errno=28
        ),
        5,
        "grokvid: error: No space left on device writing /x/a.mp4.part.",
    ),
    (
        errors.LedgerWriteFailed("Not recorded.", local_id="gv-abcd1234", request_id="r-1"),
        5,
        "grokvid: error: Not recorded.",
    ),
    (errors.JobFailed("Moderated.", state="moderated"), 6, "grokvid: error: Moderated."),
    (errors.JobFailed("Refused.", state="rejected"), 4, "grokvid: error: Refused."),
    (
        errors.Interrupted("Stopped; jobs kept.", job_ids=["gv-1"]),
        130,
        "grokvid: interrupted: Stopped; jobs kept.",
    ),
    (KeyboardInterrupt(), 130, "grokvid: interrupted"),
    (
        PermissionError(13, "Permission denied", "/clips/a.mp4"),
        1,
        "grokvid: error: Permission denied (/clips/a.mp4). Jobs already submitted are kept: "
        "see grokvid status.",
    ),
    (
        RuntimeError("oops"),
        1,
        "grokvid: error: Unexpected error: RuntimeError: oops. Run again with --debug for details.",
    ),
]


@pytest.fixture(autouse=True)
def fresh_invocation() -> Iterator[None]:
    exits.begin_invocation()
    yield
    exits.begin_invocation()


def run_raising(exc: BaseException) -> int:
    @exits.handle_errors
    def command() -> None:
        raise exc

    with pytest.raises(typer.Exit) as info:
        command()
    return info.value.exit_code


@pytest.mark.parametrize(
    ("exc", "code", "line"), CASES, ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CASES]
)
def test_error_becomes_its_exit_code_and_one_line(
    exc: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_raising(exc) == code
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", line + "\n")


def test_every_error_class_has_a_case() -> None:
    """A new error class must be added above, with the exit code the README promises."""
    classes = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.GrokvidError)
    }
    assert classes == {type(exc) for exc, _, _ in CASES if isinstance(exc, errors.GrokvidError)}


def test_debug_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    exits.enable_debug()
    assert run_raising(errors.NetworkError("Connection reset.")) == 5
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("grokvid: error: Connection reset.\n")


def test_a_new_invocation_forgets_debug_and_its_log_handler() -> None:
    exits.enable_debug()
    assert exits.debug_enabled()
    assert logging.getLogger("grokvid").handlers
    exits.begin_invocation()
    assert not exits.debug_enabled()
    assert logging.getLogger("grokvid").handlers == []
    assert logging.getLogger("grokvid").level == logging.NOTSET


def test_grokvid_debug_env_var_still_turns_debug_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROKVID_DEBUG", "1")
    exits.begin_invocation()
    assert exits.debug_enabled()
    assert logging.getLogger("grokvid").level == logging.DEBUG


# --- blame the real source of a setting ------------------------------------------------------

BAD_RESOLUTION = errors.ValidationError(
    "grok-imagine-video does not offer 1080p: use one of 480p, 720p.", "resolution"
)


def test_a_value_from_the_config_file_is_blamed_on_the_file(
    grokvid_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = grokvid_env / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('resolution = "1080p"\n', encoding="utf-8")
    exits.set_origins(load_settings())
    assert run_raising(BAD_RESOLUTION) == 2
    assert capsys.readouterr().err == (
        f"grokvid: error: resolution in {path}: grok-imagine-video does not offer 1080p: "
        "use one of 480p, 720p.\n"
    )


def test_a_value_from_the_environment_is_blamed_on_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROKVID_RESOLUTION", "1080p")
    exits.set_origins(load_settings())
    run_raising(BAD_RESOLUTION)
    assert capsys.readouterr().err.startswith(
        "grokvid: error: GROKVID_RESOLUTION (environment): grok-imagine-video does not offer"
    )


def test_a_flag_is_blamed_on_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROKVID_RESOLUTION", "720p")  # overridden by the flag
    exits.set_origins(load_settings({"resolution": "1080p"}))
    run_raising(BAD_RESOLUTION)
    assert capsys.readouterr().err.startswith("grokvid: error: --resolution: grok-imagine-video")


def test_origins_do_not_outlive_their_invocation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROKVID_RESOLUTION", "1080p")
    exits.set_origins(load_settings())
    exits.begin_invocation()
    run_raising(BAD_RESOLUTION)
    assert capsys.readouterr().err.startswith("grokvid: error: --resolution: ")
