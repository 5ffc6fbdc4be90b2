"""The library side of running a plan: checks, state → action, identity shared with generate."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from grokvid.api import errors
from grokvid.api.batch import BaseFields, PlanOptions, plan_batch, read_batch
from grokvid.api.batch.run import (
    XaiChecks,
    execute,
    ledger_lookup,
    prepare,
    spec_fingerprints,
)
from grokvid.api.budget import Budget, BudgetExceeded
from grokvid.api.jobs import ClipResult
from grokvid.api.ledger import Ledger
from grokvid.api.runner import Endpoint, Runner, RunOptions
from grokvid.api.specs import TextToVideo
from grokvid.sandbox import SandboxServer

BASE = BaseFields("grok-imagine-video", 1, "480p", "16:9", True)


def make_plan(tmp_path: Path, text: str, endpoint: Endpoint, ledger: Ledger, **options: object):  # type: ignore[no-untyped-def]
    batch = tmp_path / "b.txt"
    batch.write_text(text, encoding="utf-8")
    checks = XaiChecks()
    plan = plan_batch(
        read_batch(str(batch)),
        BASE,
        PlanOptions(tmp_path / "out", "xai", endpoint.base_url, **options),  # type: ignore[arg-type]
        check=checks.check,
        lookup=ledger_lookup(ledger, sandbox=False),
        estimate=checks.estimate,
    )
    return plan, checks


def test_checks_give_the_service_rules_as_plan_problems() -> None:
    from grokvid.api.batch import ClipFields

    checks = XaiChecks()
    good = ClipFields("a fox", "grok-imagine-video", 5, "480p", "16:9", True)
    assert checks.check(good) == []
    assert checks.estimate(good) == 0.25
    bad = ClipFields("a fox", "grok-imagine-video", 5, "480p", "5:4", True)
    [message] = checks.check(bad)
    assert message.startswith("aspect ratio '5:4' is not offered")
    checks.check(ClipFields("a fox", "grok-imagine-v9", 5, "480p", "16:9", True))
    assert any("grok-imagine-v9" in w for w in checks.warnings), "an unknown model warns"


def test_generate_and_batch_fingerprint_one_request_alike(
    tmp_path: Path, server: SandboxServer
) -> None:
    endpoint = Endpoint("xai", server.base_url, SecretStr("k"))
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        plan, _ = make_plan(tmp_path, "a fox in snow\n", endpoint, ledger)
    spec = TextToVideo(
        model="grok-imagine-video",
        prompt="a fox in snow",
        duration=1,
        aspect_ratio="16:9",
        resolution="480p",
        audio=True,
    )
    assert spec_fingerprints(spec, 1, endpoint) == [plan.clips[0].fingerprint]


def test_prepare_writes_rows_only_for_clips_to_submit_and_a_rerun_picks_them_up(
    tmp_path: Path, server: SandboxServer
) -> None:
    endpoint = Endpoint("xai", server.base_url, SecretStr("k"))
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        plan, checks = make_plan(tmp_path, "a fox\nan owl\n", endpoint, ledger)
        runner = Runner(ledger, endpoint, patient=True)
        jobs = prepare(plan, runner, checks, batch_id="b-1")
        assert len(jobs.created) == 2 and not jobs.found and not jobs.skipped
        assert {ledger.get(j.local_id).state for j in jobs.created} == {"created"}  # type: ignore[union-attr]
        ended: list[str] = []
        outcomes = asyncio.run(
            execute(
                runner,
                jobs,
                RunOptions(timeout=60),
                on_outcome=lambda j, o: ended.append(j.local_id),
            )
        )
        assert sorted(ended) == sorted(jobs.ids)
        assert all(isinstance(o, ClipResult) and not o.reused for _, o in outcomes)

        plan, checks = make_plan(tmp_path, "a fox\nan owl\n", endpoint, ledger)
        runner = Runner(ledger, endpoint, patient=True)
        again = prepare(plan, runner, checks)
        assert not again.created and len(again.found) == 2
        outcomes = asyncio.run(execute(runner, again, RunOptions(timeout=60)))
        assert all(isinstance(o, ClipResult) and o.reused for _, o in outcomes)
    posts = [e for e in server.app.request_log if e.method == "POST"]
    assert len(posts) == 2


def test_a_cap_reached_mid_run_marks_the_held_back_clips_not_sent(
    tmp_path: Path, server: SandboxServer
) -> None:
    endpoint = Endpoint("xai", server.base_url, SecretStr("k"))
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        plan, checks = make_plan(tmp_path, "a fox\nan owl\na heron\n", endpoint, ledger)
        runner = Runner(ledger, endpoint, concurrency=1, budget=Budget(0.10), patient=True)
        jobs = prepare(plan, runner, checks)
        outcomes = asyncio.run(execute(runner, jobs, RunOptions(timeout=60)))
        kinds = [type(o) for _, o in outcomes]
        assert kinds.count(ClipResult) == 2 and kinds.count(BudgetExceeded) == 1
        held = [ledger.get(i) for i, o in outcomes if isinstance(o, errors.GrokvidError)]
        assert [(j.state, j.error_code) for j in held if j] == [("not-sent", "budget")]
        plan, _ = make_plan(tmp_path, "a fox\nan owl\na heron\n", endpoint, ledger)
        assert len(plan.to_submit) == 1, "the next run submits what the cap held back"
