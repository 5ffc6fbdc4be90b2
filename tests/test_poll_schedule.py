"""The adaptive poll schedule, simulated against a service whose progress rises linearly."""

from __future__ import annotations

import pytest

from grokvid.api.poll import PollSchedule


def simulate(render: float, schedule: PollSchedule | None = None) -> tuple[int, float]:
    """Polls made and how long after the finish the done was seen."""
    schedule = schedule or PollSchedule()
    t = schedule.first
    polls = 0
    while True:
        polls += 1
        if t >= render:
            return polls, t - render
        progress = min(99, int(99 * t / render))
        t += schedule.next_delay(t, progress)


@pytest.mark.parametrize("render", [1.0, 2.0, 2.7, 3.3])
def test_short_renders_are_noticed_within_a_quarter_second(render: float) -> None:
    _, lag = simulate(render)
    assert lag <= 0.25


@pytest.mark.parametrize("render", [20.0, 45.0, 90.0])
def test_long_renders_are_polled_sparingly(render: float) -> None:
    polls, lag = simulate(render)
    assert polls <= 25
    assert lag <= 0.5


def test_without_progress_the_gaps_grow_but_stay_capped() -> None:
    schedule = PollSchedule()
    delays = [schedule.next_delay(t, None) for t in (0.5, 2, 5, 10, 30, 120)]
    assert delays == sorted(delays)
    assert max(delays) == schedule.maximum


def test_a_render_overrunning_its_estimate_is_still_polled_often() -> None:
    schedule = PollSchedule()
    for t in (1, 2, 3, 4):
        schedule.next_delay(t, 25 * t - 1)  # estimate: done at ~4 s
    assert schedule.next_delay(6.0, 99) <= 1.5


def test_a_job_stuck_at_99_percent_is_not_hammered() -> None:
    schedule = PollSchedule()
    t, polls = schedule.first, 0
    while t < 40:  # the service said 20 s, then sat at 99 % for another 20
        progress = min(99, int(99 * t / 20))
        t += schedule.next_delay(t, progress)
        polls += 1
    assert polls <= 30


def test_past_its_estimate_a_job_is_polled_at_most_once_a_second() -> None:
    schedule = PollSchedule()
    t, sightings = schedule.first, []
    while t < 60:  # estimated 20 s, stuck at 99 % until 60 s
        progress = min(99, int(99 * t / 20))
        sightings.append(t)
        t += schedule.next_delay(t, progress)
    late = [when for when in sightings if when > 22]  # estimate ~20.2 s, then a 1 s grace
    gaps = [b - a for a, b in zip(late, late[1:], strict=False)]
    assert gaps and min(gaps) >= 1.0


def test_a_job_seen_at_99_percent_past_its_estimate_waits_a_second_at_once() -> None:
    schedule = PollSchedule()
    t, sightings = schedule.first, []
    while t < 12:  # a 2 s render that sits at 99 % until 12 s, as a slow encode does
        progress = min(99, int(100 * t / 2))
        if progress == 99:
            sightings.append(t)
        t += schedule.next_delay(t, progress)
    past = [when for when in sightings if when >= 2.0]
    gaps = [b - a for a, b in zip(past, past[1:], strict=False)]
    assert len(gaps) >= 3 and min(gaps) >= 1.0
