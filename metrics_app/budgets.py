"""The finance report's budgets: spend against budget, now, per team and per client key that
has a day or month budget.

Spend is counted from the records (completions_app.services.spend: settled requests, the calendar
day and month in TIME_ZONE, exact sums), as everywhere in the report; the limiter also holds
the reservations of requests in flight, which GET /v1/usage shows and this does not. Four
queries whatever the number of teams and keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal

from django.db.models import Q

from completions_app.models import ClientKey, Team
from completions_app.services.cost import cost_format
from completions_app.services.cost_export import text_cell
from completions_app.services.spend import BY_KEY, BY_TEAM, RecordSpend, periods_at, spend_by

PERCENT_PLACES = Decimal("0.01")
HAS_BUDGET = Q(budget_usd_day__isnull=False) | Q(budget_usd_month__isnull=False)


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """One budget of one owner in its current period."""

    budget: Decimal
    spent: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.budget - self.spent, Decimal(0))

    @property
    def percent(self) -> Decimal | None:
        """Spent as a % of the budget, rounded down (99.999 % is not shown as used up); None
        for a zero budget (nothing may be spent)."""
        if not self.budget:
            return None
        return (self.spent * 100 / self.budget).quantize(PERCENT_PLACES, rounding=ROUND_DOWN)

    @property
    def over(self) -> bool:
        """Used up (a request that costs anything is refused), or spent past it."""
        return self.spent >= self.budget

    @property
    def mark(self) -> str:
        if self.spent > self.budget:
            return "over budget"
        return "used up" if self.over else ""

    @property
    def rank(self) -> Decimal:
        # A zero budget is used up whatever was spent: first.
        return Decimal("Infinity") if self.percent is None else self.percent


@dataclass(frozen=True, slots=True)
class BudgetRow:
    kind: str  # "team" | "key"
    name: str
    day: BudgetUse | None  # None: no day budget
    month: BudgetUse | None
    team: str = ""  # a key's team

    @property
    def uses(self) -> tuple[BudgetUse, ...]:
        return tuple(u for u in (self.day, self.month) if u is not None)

    @property
    def uses_by_period(self) -> tuple[BudgetUse | None, BudgetUse | None]:
        return (self.day, self.month)

    @property
    def marks(self) -> list[str]:
        """E.g. ["day: over budget"]; empty when every budget has something left."""
        return [f"{period}: {u.mark}" for period, u in (("day", self.day), ("month", self.month)) if u and u.mark]

    @property
    def rank(self) -> Decimal:
        return max(u.rank for u in self.uses)

    @property
    def over(self) -> bool:
        return any(u.over for u in self.uses)


@dataclass(frozen=True, slots=True)
class BudgetReport:
    day: date  # today in TIME_ZONE
    month: str  # "YYYY-MM"
    time_zone: str
    rows: list[BudgetRow]  # by % used (the larger of day and month), highest first


def _use(budget: Decimal | None, spent: Decimal) -> BudgetUse | None:
    return None if budget is None else BudgetUse(budget=budget, spent=spent)


def budget_report() -> BudgetReport:
    periods = periods_at()
    teams = list(Team.objects.filter(HAS_BUDGET).values("id", "name", "budget_usd_day", "budget_usd_month"))
    keys = list(
        ClientKey.objects.filter(HAS_BUDGET).values("id", "name", "team__name", "budget_usd_day", "budget_usd_month")
    )
    spent = {
        "team": spend_by(BY_TEAM, [t["id"] for t in teams], periods),
        "key": spend_by(BY_KEY, [k["id"] for k in keys], periods),
    }
    rows = []
    for kind, owners in (("team", teams), ("key", keys)):
        for o in owners:
            s = spent[kind].get(o["id"], RecordSpend())
            rows.append(
                BudgetRow(
                    kind=kind,
                    name=o["name"],
                    day=_use(o["budget_usd_day"], s.day_usd),
                    month=_use(o["budget_usd_month"], s.month_usd),
                    team=o.get("team__name") or "",
                )
            )
    rows.sort(key=lambda r: (-r.rank, r.kind, r.name))
    today = periods.day.date()
    return BudgetReport(day=today, month=f"{today:%Y-%m}", time_zone=str(periods.day.tzinfo), rows=rows)


BUDGET_CSV_HEADER = (
    "kind",
    "name",
    "team",
    "day",
    "budget_usd_day",
    "spent_usd_day",
    "percent_day",
    "remaining_usd_day",
    "month",
    "budget_usd_month",
    "spent_usd_month",
    "percent_month",
    "remaining_usd_month",
    "over_budget",
)


def _use_cells(use: BudgetUse | None) -> list[str]:
    if use is None:
        return ["", "", "", ""]
    percent = "" if use.percent is None else str(use.percent)
    return [cost_format(use.budget), cost_format(use.spent), percent, cost_format(use.remaining)]


def budget_csv_rows(report: BudgetReport) -> list[list[str]]:
    """The report's rows as CSV cells (BUDGET_CSV_HEADER), names made safe for spreadsheets."""
    return [
        [
            r.kind,
            text_cell(r.name),
            text_cell(r.team),
            report.day.isoformat(),
            *_use_cells(r.day),
            report.month,
            *_use_cells(r.month),
            "yes" if r.over else "no",
        ]
        for r in report.rows
    ]
