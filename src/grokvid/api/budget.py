"""Spending caps: `--max-cost` for one run and `daily_max_cost` over the ledger's last 24 h.

Every submit reserves its estimate first; the reservation is settled with the actual charge
once known (or released if nothing was made). No reservation may push reserved + spent past a
cap. Money is counted in whole micro-dollars so a long run cannot drift past a cap by
rounding.

The daily rule asks `spent_since(now - 24 h)`, supplied by the ledger, for what every command
has spent. A reservation is counted by the budget itself until the caller marks it
`recorded()` (its ledger row, carrying the estimate, is committed); from then on the ledger's
figure includes it and the budget stops adding it, so nothing is counted twice.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from grokvid.api.errors import GrokvidError, ValidationError

DAY = timedelta(hours=24)
_MICRO = 1_000_000
Cap = Literal["max_cost", "daily_max_cost"]


def _micros(usd: float) -> int:
    return round(usd * _MICRO)


def _usd(micros: int) -> float:
    return micros / _MICRO


def check_cap(value: float, field: str) -> float:
    """A usable cap in USD, or ValidationError naming `field`."""
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValidationError(
            f"A cost cap of {value!r} USD is not usable: give an amount of 0 or more, e.g. 2.50.",
            field,
        )
    return float(value)


class BudgetExceeded(GrokvidError):
    """A cap stopped a submit (the CLI's exit 7). Nothing was sent for this clip."""

    def __init__(self, message: str, *, cap: Cap, limit_usd: float, committed_usd: float) -> None:
        super().__init__(message)
        self.cap = cap
        self.limit_usd = limit_usd
        self.committed_usd = committed_usd


class PlanOverBudget(ValidationError):
    """The plan's estimate alone passes a cap: refused before anything is sent (exit 2)."""

    def __init__(self, message: str, *, cap: Cap) -> None:
        super().__init__(message, cap)
        self.cap = cap


@dataclass(eq=False)
class Reservation:
    """An estimate held against the caps until `Budget.settle` or `Budget.release`."""

    micros: int
    recorded: bool = False
    open: bool = True

    @property
    def estimate_usd(self) -> float:
        return _usd(self.micros)

    def mark_recorded(self) -> None:
        """The ledger now holds this job with its estimate; the daily rule reads it there."""
        self.recorded = True


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Budget:
    """Reservations against a run cap and a rolling daily cap; thread-safe."""

    def __init__(
        self,
        max_cost_usd: float | None = None,
        *,
        daily_max_cost_usd: float | None = None,
        spent_since: Callable[[datetime], float] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if daily_max_cost_usd is not None and spent_since is None:
            raise ValueError("a daily cap needs spent_since to read the ledger")
        self.max_cost = None if max_cost_usd is None else _micros(max_cost_usd)
        self.daily_max = None if daily_max_cost_usd is None else _micros(daily_max_cost_usd)
        self._spent_since = spent_since
        self._clock = clock
        self._lock = threading.Lock()
        self._spent = 0  # settled this run
        self._open: set[Reservation] = set()

    @property
    def active(self) -> bool:
        return self.max_cost is not None or self.daily_max is not None

    @property
    def spent_usd(self) -> float:
        return _usd(self._spent)

    @property
    def reserved_usd(self) -> float:
        with self._lock:
            return _usd(sum(r.micros for r in self._open))

    def check_plan(self, estimate_usd: float, *, unpriced: int = 0) -> None:
        """Refuse a plan whose estimate for the clips to submit passes a cap (PlanOverBudget).

        `unpriced` clips have no known price, so no cap can be kept with them in the plan.
        """
        if not self.active:
            return
        if unpriced:
            raise PlanOverBudget(
                f"{unpriced} clip(s) to submit have no known price, so the cost cap cannot be "
                "kept: use a model from the price table, or drop the cap.",
                cap="max_cost" if self.max_cost is not None else "daily_max_cost",
            )
        need = _micros(estimate_usd)
        if self.max_cost is not None and need > self.max_cost:
            raise PlanOverBudget(
                f"The plan is estimated at ${estimate_usd:.2f}, over the cap of "
                f"${_usd(self.max_cost):.2f}: raise the cap, or submit fewer clips (a shard, "
                "fewer variants).",
                cap="max_cost",
            )
        if self.daily_max is not None:
            spent = self._daily_spent()
            if spent + need > self.daily_max:
                raise PlanOverBudget(
                    f"The plan is estimated at ${estimate_usd:.2f}; with ${_usd(spent):.2f} spent "
                    f"in the last 24 h that passes daily_max_cost (${_usd(self.daily_max):.2f}): "
                    "wait, raise daily_max_cost, or submit fewer clips.",
                    cap="daily_max_cost",
                )

    def reserve(self, estimate_usd: float | None) -> Reservation:
        """Hold `estimate_usd` for one submit, or raise BudgetExceeded naming the cap."""
        with self._lock:
            if estimate_usd is None:
                if self.active:
                    raise BudgetExceeded(
                        "This clip has no known price, so the cost cap cannot be kept; it was "
                        "not sent.",
                        cap="max_cost" if self.max_cost is not None else "daily_max_cost",
                        limit_usd=_usd(self.max_cost or self.daily_max or 0),
                        committed_usd=self.spent_usd,
                    )
                estimate_usd = 0.0
            need = _micros(estimate_usd)
            held = sum(r.micros for r in self._open)
            if self.max_cost is not None and self._spent + held + need > self.max_cost:
                committed = _usd(self._spent + held)
                raise BudgetExceeded(
                    f"Stopped before passing the cost cap: ${committed:.2f} spent or reserved, "
                    f"this clip ~${estimate_usd:.2f}, cap ${_usd(self.max_cost):.2f}. Raise the "
                    "cap and run again to go on; finished clips are kept.",
                    cap="max_cost",
                    limit_usd=_usd(self.max_cost),
                    committed_usd=committed,
                )
            if self.daily_max is not None:
                unrecorded = sum(r.micros for r in self._open if not r.recorded)
                committed_micros = self._daily_spent() + unrecorded
                if committed_micros + need > self.daily_max:
                    raise BudgetExceeded(
                        f"Stopped before passing daily_max_cost: ${_usd(committed_micros):.2f} "
                        f"in the last 24 h, this clip ~${estimate_usd:.2f}, cap "
                        f"${_usd(self.daily_max):.2f}. Wait, or raise daily_max_cost.",
                        cap="daily_max_cost",
                        limit_usd=_usd(self.daily_max),
                        committed_usd=_usd(committed_micros),
                    )
            reservation = Reservation(need)
            self._open.add(reservation)
            return reservation

    def settle(self, reservation: Reservation, actual_usd: float | None) -> None:
        """Replace the reservation by the actual charge (None keeps the estimate)."""
        with self._lock:
            if not reservation.open:
                return
            reservation.open = False
            self._open.discard(reservation)
            self._spent += reservation.micros if actual_usd is None else _micros(actual_usd)

    def release(self, reservation: Reservation) -> None:
        """Nothing was made (never sent, or rejected): free the reservation."""
        with self._lock:
            reservation.open = False
            self._open.discard(reservation)

    def _daily_spent(self) -> int:
        assert self._spent_since is not None
        return _micros(self._spent_since(self._clock() - DAY))
