"""Faults on request: the grammar, scripted and seeded sequences, and every fault on a socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from grokvid.sandbox import SandboxConfig, SandboxServer, create_app, parse_faults
from grokvid.sandbox.faults import (
    ALWAYS,
    SLOW_DEFAULT_BPS,
    FaultPlan,
    Faults,
    StatusFault,
    faults_in_prompt,
    parse_script_item,
)

SUBMIT = "/v1/videos/generations"
FOX = {"prompt": "a red fox trotting through fresh snow", "duration": 1}
KEY = {"Authorization": "Bearer sandbox"}

# -- grammar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", Faults()),
        ("none", Faults()),
        ("429", Faults(reply=StatusFault(429))),
        ("429-retry-after=2.5", Faults(reply=StatusFault(429, retry_after=2.5))),
        ("429-credits", Faults(reply=StatusFault(429, credits=True))),
        ("500", Faults(reply=StatusFault(500))),
        ("502-after", Faults(reply=StatusFault(502, after=True))),
        ("503", Faults(reply=StatusFault(503))),
        ("504", Faults(reply=StatusFault(504))),
        ("drop-before", Faults(drop="before")),
        ("drop-after", Faults(drop="after")),
        ("delay=0.5", Faults(delay=0.5)),
        ("render=0", Faults(render=0.0)),
        ("moderate", Faults(moderate=True)),
        ("fail", Faults(fail="internal_error")),
        ("fail=failed_precondition", Faults(fail="failed_precondition")),
        ("truncate", Faults(truncate=ALWAYS)),
        ("truncate=2", Faults(truncate=2)),
        ("slow", Faults(slow=SLOW_DEFAULT_BPS)),
        ("slow=1000", Faults(slow=1000)),
        ("expire-url", Faults(expire_url=ALWAYS)),
        ("expire-url=1", Faults(expire_url=1)),
        ("expire-job", Faults(expire_job=True)),
        (" Moderate , render=2 ,", Faults(moderate=True, render=2.0)),
    ],
)
def test_fault_grammar(spec: str, expected: Faults) -> None:
    assert parse_faults(spec) == expected
    assert parse_faults(expected.describe()) == expected  # describe() round-trips


@pytest.mark.parametrize(
    "spec", ["418", "501", "429=2", "drop", "render", "render=-1", "truncate=0", "slow=x", "fail="]
)
def test_bad_fault_names_the_known_ones(spec: str) -> None:
    with pytest.raises(ValueError, match="sandbox fault"):
        parse_faults(spec)


def test_first_setting_wins_when_faults_combine() -> None:
    combined = parse_faults("429,render=1") | parse_faults("503,render=2,moderate")
    assert combined == Faults(reply=StatusFault(429), render=1.0, moderate=True)


def test_magic_words_are_found_and_stripped() -> None:
    prompt, faults = faults_in_prompt("a fox [sandbox:moderate] in snow [SANDBOX:render=2,slow]")
    assert prompt == "a fox in snow"
    assert faults == Faults(moderate=True, render=2.0, slow=SLOW_DEFAULT_BPS)
    with pytest.raises(ValueError):
        faults_in_prompt("[sandbox:explode]")


def test_script_items() -> None:
    assert parse_script_item(None) == (None, Faults())
    assert parse_script_item("poll:500") == ("poll", Faults(reply=StatusFault(500)))
    assert parse_script_item("download:truncate=1") == ("download", Faults(truncate=1))
    with pytest.raises(ValueError, match="not a route"):
        parse_script_item("upload:500")


def plan(script: list[str | None], **kw: Any) -> FaultPlan:
    options: dict[str, Any] = {
        "seed": 1,
        "rate_limit_probability": 0.0,
        "rate_limit_retry_after": None,
        "error_probability": 0.0,
        "error_statuses": (500, 502, 503),
        "drop_probability": 0.0,
    }
    return FaultPlan(script, **{**options, **kw})


def test_scripted_entries_go_to_the_first_matching_request() -> None:
    p = plan(["download:truncate", "submit:429", "500", None, "poll:503"])
    assert p.draw("poll") == parse_faults("500")
    assert p.draw("submit") == parse_faults("429")
    assert p.draw("download") == parse_faults("truncate")
    assert p.draw("download") == Faults()
    assert p.draw("submit") == Faults()  # the None placeholder
    assert p.remaining() == 1
    assert p.draw("submit") == Faults()
    assert p.draw("poll") == parse_faults("503")
    assert p.remaining() == 0


def test_random_faults_are_seeded_and_at_the_asked_rate() -> None:
    def outcomes(seed: int) -> list[str]:
        p = plan([], seed=seed, rate_limit_probability=0.2, error_probability=0.1)
        return [p.draw("submit").describe() for _ in range(2000)]

    first = outcomes(42)
    assert first == outcomes(42)
    assert first != outcomes(43)
    limited = sum(1 for o in first if o.startswith("429")) / len(first)
    errors = sum(1 for o in first if o[:3] in ("500", "502", "503")) / len(first)
    assert 0.16 < limited < 0.24
    assert 0.06 < errors < 0.10  # 10 % of the 80 % not rate limited
    p = plan([], seed=1, rate_limit_probability=1.0)
    assert p.draw("download") == Faults()  # the dice only roll for API requests


@pytest.mark.parametrize(
    "kw",
    [
        {"render_seconds": -1},
        {"render_seconds": (3, 2)},
        {"render_seconds": (1, 2, 3)},
        {"rate_limit_probability": 1.5},
        {"job_ttl_seconds": 0},
        {"max_jobs": 0},
        {"faults": ["429", "bogus"]},
        {"faults": "429"},
        {"error_statuses": (418,)},
        {"download_bytes_per_second": 0},
    ],
)
def test_config_rejects_bad_values(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxConfig(**kw)


# -- on a real socket -------------------------------------------------------------------------


@pytest.fixture
def server(sandbox_clip_cache: Path) -> Iterator[SandboxServer]:
    config = SandboxConfig(render_seconds=0.05, clip_cache_dir=sandbox_clip_cache)
    with SandboxServer(config) as srv:
        yield srv


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=KEY, timeout=10) as c:
        yield c


def submit(client: httpx.Client, fault: str = "", **body: Any) -> str:
    headers = {"X-Sandbox-Fault": fault} if fault else {}
    response = client.post(SUBMIT, json={**FOX, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def done(client: httpx.Client, request_id: str, fault: str = "") -> dict[str, Any]:
    deadline = time.monotonic() + 15
    headers = {"X-Sandbox-Fault": fault} if fault else {}
    while True:
        data: dict[str, Any] = client.get(f"/v1/videos/{request_id}", headers=headers).json()
        if data["status"] != "pending":
            return data
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_429_with_and_without_retry_after(client: httpx.Client, server: SandboxServer) -> None:
    plain = client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "429"})
    assert plain.status_code == 429 and "retry-after" not in plain.headers
    assert plain.json()["code"] == "resource-exhausted"
    assert "Requests per Minute" in plain.json()["error"]
    timed = client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "429-retry-after=2"})
    assert timed.status_code == 429 and timed.headers["retry-after"] == "2"
    broke = client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "429-credits"})
    assert "used all available credits" in broke.json()["error"]
    assert server.app.jobs() == []


def test_server_default_retry_after(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(rate_limit_probability=1.0, rate_limit_retry_after=1.5)
    with SandboxServer(config) as srv:
        response = httpx.post(srv.base_url + SUBMIT, json=FOX, headers=KEY)
    assert response.status_code == 429 and response.headers["retry-after"] == "1.5"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_before_creates_no_job_and_after_does(
    client: httpx.Client, server: SandboxServer, status: int
) -> None:
    before = client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": str(status)})
    assert before.status_code == status and set(before.json()) == {"code", "error"}
    assert server.app.jobs() == []
    after = client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": f"{status}-after"})
    assert after.status_code == status
    assert len(server.app.jobs()) == 1


def test_drop_before_creates_nothing_and_drop_after_creates_the_job(
    client: httpx.Client, server: SandboxServer
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "drop-before"})
    assert server.app.jobs() == []
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "drop-after"})
    (job,) = server.app.jobs()  # the "unknown outcome": a job exists the client never heard of
    assert [e.status for e in server.app.request_log] == [0, 0]
    assert done(client, job.request_id)["status"] == "done"


def test_drop_from_a_prompt_word(client: httpx.Client, server: SandboxServer) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SUBMIT, json={**FOX, "prompt": "fox [sandbox:drop-after]"})
    assert len(server.app.jobs()) == 1


def test_drops_in_process_raise_remote_protocol_error(sandbox_clip_cache: Path) -> None:
    app = create_app(SandboxConfig(render_seconds=0, faults=["drop-after"]))

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.post(SUBMIT, json=FOX, headers={**KEY, "X-Sandbox-Fault": "moderate"})

    asyncio.run(go())
    assert len(app.jobs()) == 1


def test_scripted_sequence_over_the_socket(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(
        render_seconds=0, faults=["submit:429", "submit:503", "poll:500"], seed=3
    )
    with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url, headers=KEY) as c:
        statuses = [c.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "moderate"}).status_code]
        statuses.append(c.post(SUBMIT, json=FOX).status_code)
        response = c.post(SUBMIT, json=FOX, headers={"X-Sandbox-Fault": "moderate"})
        statuses.append(response.status_code)
        request_id = response.json()["request_id"]
        statuses += [c.get(f"/v1/videos/{request_id}").status_code for _ in range(2)]
        assert statuses == [429, 503, 200, 500, 200]
        assert srv.app.scripted_faults_left() == 0


def test_delay_holds_the_answer(client: httpx.Client) -> None:
    started = time.monotonic()
    response = client.get("/v1/videos/nope", headers={"X-Sandbox-Fault": "delay=0.3"})
    assert response.status_code == 404
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/videos/nope", headers={"X-Sandbox-Fault": "delay=2"}, timeout=0.2)


def test_unknown_fault_is_a_400(client: httpx.Client) -> None:
    response = client.get("/v1/videos/x", headers={"X-Sandbox-Fault": "explode"})
    assert response.status_code == 400 and "explode" in response.json()["error"]
    response = client.post(SUBMIT, json={**FOX, "prompt": "[sandbox:explode]"})
    assert response.status_code == 400


def test_truncated_download_then_whole(client: httpx.Client, server: SandboxServer) -> None:
    request_id = submit(client, "truncate=1")
    url = done(client, request_id)["video"]["url"]
    assert httpx.head(url).status_code == 200  # a HEAD neither counts nor uses up the fault
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as response:
        assert response.status_code == 200
        size = int(response.headers["content-length"])
        for chunk in response.iter_bytes():
            received += chunk
    assert 0 < len(received) < size
    whole = httpx.get(url)
    assert whole.status_code == 200 and len(whole.content) == size
    assert whole.content[: len(received)] == bytes(received)
    assert server.app.jobs()[0].download_count == 2


def test_truncate_header_on_a_download(client: httpx.Client) -> None:
    url = done(client, submit(client))["video"]["url"]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url, headers={"X-Sandbox-Fault": "truncate"})
    assert httpx.get(url).status_code == 200


def test_slow_download(client: httpx.Client) -> None:
    url = done(client, submit(client, "slow=200000"))["video"]["url"]
    started = time.monotonic()
    response = httpx.get(url, headers={"Range": "bytes=0-59999"})
    elapsed = time.monotonic() - started
    assert response.status_code == 206 and len(response.content) == 60_000
    assert 0.25 <= elapsed < 2.0  # 60 kB at 200 kB/s


def test_server_wide_download_throttle(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(render_seconds=0, download_bytes_per_second=100_000)
    with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url, headers=KEY) as c:
        url = done(c, submit(c))["video"]["url"]
        started = time.monotonic()
        assert len(httpx.get(url, headers={"Range": "bytes=0-29999"}).content) == 30_000
        assert time.monotonic() - started >= 0.25


def test_expired_url_then_fresh_one(client: httpx.Client) -> None:
    request_id = submit(client, "expire-url=1")
    first = done(client, request_id)["video"]["url"]
    response = httpx.get(first)
    assert response.status_code == 403 and "expired" in response.text
    second = done(client, request_id)["video"]["url"]
    assert second != first and httpx.get(second).status_code == 200


def test_expire_url_on_one_poll(client: httpx.Client) -> None:
    request_id = submit(client)
    done(client, request_id)
    assert httpx.get(done(client, request_id, "expire-url")["video"]["url"]).status_code == 403
    assert httpx.get(done(client, request_id)["video"]["url"]).status_code == 200


def test_urls_expire_with_url_ttl(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(render_seconds=0, url_ttl_seconds=0.3)
    with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url, headers=KEY) as c:
        url = done(c, submit(c))["video"]["url"]
        assert httpx.head(url).status_code == 200
        deadline = time.monotonic() + 10
        while httpx.head(url).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.head(url).status_code == 403


def test_download_faults_from_the_script(sandbox_clip_cache: Path) -> None:
    config = SandboxConfig(render_seconds=0, faults=["download:503", "download:drop-before"])
    with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url, headers=KEY) as c:
        url = done(c, submit(c))["video"]["url"]
        assert httpx.get(url).status_code == 503
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(url)
        assert httpx.get(url).status_code == 200


def test_random_faults_are_deterministic_on_a_socket(sandbox_clip_cache: Path) -> None:
    def run() -> list[int]:
        config = SandboxConfig(
            render_seconds=0, seed=11, rate_limit_probability=0.3, error_probability=0.3
        )
        with SandboxServer(config) as srv, httpx.Client(base_url=srv.base_url) as c:
            return [c.get("/v1/videos/nope", headers=KEY).status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert {429, 404} <= set(first) and set(first) & {500, 502, 503}
