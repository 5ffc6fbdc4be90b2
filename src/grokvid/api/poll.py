"""An adaptive polling schedule: quick near the finish, sparse while a long render runs.

The service reports `progress` (0-99). From the progress seen so far we estimate when the clip
will be done and poll at half the time remaining, so the gaps shrink towards the finish and
detection lags it by a fraction of a second without polling a 20 s render more than a handful of
times. Without progress we back off from `first` towards `maximum`; once past the estimate (at
once when the job says 99 %) we poll at most once a second, in steps that grow with the overrun,
so a job stuck at 99 % is not hammered.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PollSchedule:
    first: float = 0.5
    minimum: float = 0.2
    maximum: float = 5.0
    grace: float = 1.0  # seconds past the estimate still polled closely
    overdue: float = 1.0  # the shortest gap after that
    _samples: list[tuple[float, int]] = field(default_factory=list)

    def next_delay(self, elapsed: float, progress: int | None) -> float:
        """Seconds to wait before the next poll, given the last answer."""
        # 99 is where the service's progress stops, not a reading of the rate: it would pull
        # the estimate just ahead of now at every poll, so it is never a sample.
        if progress is not None and 0 < progress < 99:
            if not self._samples or progress > self._samples[-1][1]:
                self._samples.append((elapsed, progress))
        estimate = self._estimate_total()
        if estimate is None:
            delay = self.first + 0.25 * elapsed
        else:
            remaining = estimate - elapsed
            # At 99 % past the estimate the job is stuck, not rounded early: a closer look
            # cannot see it finish any sooner, so it gets the overdue pace at once.
            stuck = progress is not None and progress >= 99 and remaining <= 0
            # Before the estimate: half the time left. Just due: look closely (progress is
            # whole percent, so the estimate runs a little early). Well past it, the job is late
            # and the rate tells nothing more: at most one poll a second, backing off.
            if remaining > self.minimum:
                delay = remaining / 2
            elif remaining > -self.grace and not stuck:
                delay = self.minimum - 0.5 * remaining
            else:
                delay = max(self.overdue, -0.5 * remaining)
        return max(self.minimum, min(self.maximum, delay))

    def _estimate_total(self) -> float | None:
        """Total render time from the progress rate between the first and last samples."""
        if not self._samples:
            return None
        t1, p1 = self._samples[-1]
        if len(self._samples) >= 2:
            t0, p0 = self._samples[0]
            if p1 > p0 and t1 > t0:
                rate = (p1 - p0) / (t1 - t0)
                return t1 + (100 - p1) / rate
        return t1 * 100 / p1
