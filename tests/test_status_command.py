"""`grokvid status`: the messages and views of status.py (no service needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from grokvid.api.ledger import JobRecord, Ledger
from grokvid.cli.commands import status as status_cmd
from grokvid.cli.main import app

PARAMS = {"duration": 1, "resolution": "480p", "aspect_ratio": "16:9", "generate_audio": True}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["status", *args])
    return result.exit_code, result.stdout, result.stderr


def make_job(provider: str = "xai", **fields: object) -> JobRecord:
    ledger = Ledger()
    job = ledger.create(
        provider=provider,
        base_url="https://api.x.ai",
        model="grok-imagine-video",
        prompt="a red fox",
        params=PARAMS,
        estimated_cost_usd=0.05,
    )
    target = fields.pop("state", None)
    # The ledger only moves a job forward, so walk it there as a real run would.
    for step in _path_to(str(target)) if target else ():
        job = ledger.update(job.local_id, state=step)
    return ledger.update(job.local_id, **fields) if fields else job


def _path_to(state: str) -> list[str]:
    if state in ("submitting", "submit-unknown", "not-sent", "rejected"):
        return ["submitting", state] if state != "submitting" else ["submitting"]
    if state in ("pending", "failed", "moderated", "expired"):
        return ["submitting", "pending", state] if state != "pending" else ["submitting", state]
    if state in ("done", "downloaded"):
        return (
            ["submitting", "pending", "done", state]
            if state == "downloaded"
            else ["submitting", "pending", "done"]
        )
    return []


def test_no_match_for_a_state_says_so() -> None:
    make_job(state="failed")
    assert invoke("--state", "downloaded", "--no-refresh") == (
        0,
        "",
        "grokvid: No jobs in state downloaded.\n",
    )


def test_no_match_on_an_empty_ledger_names_the_states_too() -> None:
    Ledger()
    code, out, err = invoke("--state", "pending", "--state", "done")
    assert (code, out, err) == (0, "", "grokvid: No jobs in state pending or done.\n")


def test_a_fresh_install_gets_the_first_steps_hint() -> None:
    code, out, err = invoke()
    assert (code, out) == (0, "")
    assert err.startswith("grokvid: no jobs yet: try grokvid generate --sandbox")


def test_a_state_the_ledger_does_not_record_yet_matches_nothing() -> None:
    make_job(state="failed")
    assert invoke("--state", "not-sent", "--no-refresh")[2] == (
        "grokvid: No jobs in state not-sent.\n"
    )


def test_an_unknown_state_is_a_usage_error_listing_every_state() -> None:
    code, _, err = invoke("--state", "finished")
    assert code == 2
    assert err.startswith("grokvid: error: --state: Unknown job state 'finished': use created, ")
    assert "not-sent" in err and "submitting" in err and err.count("\n") == 1


def test_a_sandbox_job_costs_nothing() -> None:
    job = make_job("sandbox", state="failed", cost_usd_ticks=500_000_000)
    code, out, _ = invoke(job.local_id)
    assert code == 6
    assert "cost:         $0 (sandbox)\n" in out


def test_a_billed_job_shows_its_actual_cost_else_the_estimate() -> None:
    billed = make_job(state="failed", cost_usd_ticks=500_000_000)
    assert "cost:         $0.05\n" in invoke(billed.local_id)[1]
    unbilled = make_job(state="rejected")
    code, out, _ = invoke(unbilled.local_id)
    assert code == 4
    assert "cost:         $0.05 (estimated)\n" in out


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("submitting", "being sent (if grokvid stopped here, the service may have it)"),
        ("not-sent", "never reached the service: nothing was billed"),
        ("submit-unknown", "the submit's outcome is unknown: check your usage at the service"),
    ],
)
def test_early_states_are_explained_in_the_detail_view(
    state: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # model_construct: the ledger's model does not accept the new states until JobState is in.
    job = JobRecord.model_construct(
        **{**make_job().model_dump(), "state": state, "created_at": datetime.now(UTC)}
    )
    status_cmd._print_detail(job)
    out = capsys.readouterr().out
    assert f"state:        {state} ({words})\n" in out
    assert "cost:         $0.05 (estimated)\n" in out


@pytest.mark.parametrize(
    ("state", "code"), [("submit-unknown", 5), ("rejected", 4), ("expired", 6), ("pending", 0)]
)
def test_a_named_job_exits_with_its_states_code(state: str, code: int) -> None:
    job = make_job(state=state)
    assert invoke(job.local_id, "--no-refresh")[0] == code
