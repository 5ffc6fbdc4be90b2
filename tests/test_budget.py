"""Cost caps: reservations, settlement, the daily rule over the ledger, and plan checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from grokvid.api.budget import Budget, BudgetExceeded, PlanOverBudget, check_cap
from grokvid.api.errors import ValidationError

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_no_reservation_may_pass_the_run_cap() -> None:
    budget = Budget(1.00)
    held = [budget.reserve(0.30) for _ in range(3)]
    with pytest.raises(BudgetExceeded) as caught:
        budget.reserve(0.30)
    assert caught.value.cap == "max_cost" and caught.value.committed_usd == pytest.approx(0.90)
    assert "cap $1.00" in caught.value.message
    budget.reserve(0.10)  # exactly at the cap is allowed
    budget.settle(held[0], 0.05)  # cheaper than estimated frees room
    budget.reserve(0.25)
    assert budget.spent_usd == pytest.approx(0.05)
    assert budget.reserved_usd == pytest.approx(0.95)


def test_release_frees_and_settle_without_actual_keeps_the_estimate() -> None:
    budget = Budget(0.50)
    first = budget.reserve(0.50)
    budget.release(first)  # never sent
    second = budget.reserve(0.50)
    budget.settle(second, None)
    assert budget.spent_usd == pytest.approx(0.50)
    budget.settle(second, 9.99)  # a second settle of the same reservation changes nothing
    assert budget.spent_usd == pytest.approx(0.50)
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.01)


def test_many_small_charges_do_not_drift_past_the_cap() -> None:
    budget = Budget(1.00)
    for _ in range(10):
        budget.settle(budget.reserve(0.1), 0.1)
    with pytest.raises(BudgetExceeded):
        budget.reserve(0.000001)


def test_daily_cap_reads_the_ledger_and_counts_each_job_once() -> None:
    asked: list[datetime] = []
    ledger_spent = [4.00]

    def spent_since(since: datetime) -> float:
        asked.append(since)
        return ledger_spent[0]

    budget = Budget(daily_max_cost_usd=5.00, spent_since=spent_since, clock=lambda: NOW)
    first = budget.reserve(0.60)
    assert asked == [NOW - timedelta(hours=24)]
    with pytest.raises(BudgetExceeded) as caught:
        budget.reserve(0.60)  # 4.00 in the ledger + 0.60 held + 0.60 > 5.00
    assert caught.value.cap == "daily_max_cost" and "daily_max_cost" in caught.value.message
    # Once the job's row (with its estimate) is in the ledger, it is counted there only.
    first.mark_recorded()
    ledger_spent[0] = 4.60
    budget.reserve(0.40)


def test_unknown_price_cannot_be_capped() -> None:
    assert Budget().reserve(None).estimate_usd == 0.0  # no cap: nothing to keep
    with pytest.raises(BudgetExceeded, match="no known price"):
        Budget(5.0).reserve(None)


def test_plan_over_a_cap_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(PlanOverBudget, match=r"estimated at \$6.00, over the cap of \$5.00"):
        Budget(5.0).check_plan(6.0)
    Budget(5.0).check_plan(5.0)
    daily = Budget(daily_max_cost_usd=5.0, spent_since=lambda since: 3.0, clock=lambda: NOW)
    with pytest.raises(PlanOverBudget, match=r"\$3.00 spent in the last 24 h"):
        daily.check_plan(2.5)
    with pytest.raises(PlanOverBudget, match="no known price"):
        Budget(5.0).check_plan(1.0, unpriced=1)
    Budget().check_plan(1e9, unpriced=3)  # no cap, no refusal


def test_plan_over_budget_is_a_validation_error_and_a_run_stop_is_not() -> None:
    assert issubclass(PlanOverBudget, ValidationError)
    assert not issubclass(BudgetExceeded, ValidationError)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_unusable_caps_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError, match="not usable") as caught:
        check_cap(bad, "max_cost")
    assert caught.value.field == "max_cost"
