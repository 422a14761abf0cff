"""The answer of GET /v1/usage (declarations.USAGE): the calling key's and its team's limits,
what they used in the current windows, and what remains."""

from __future__ import annotations

from .shapes import Bool, Int, Number, Object, Str

_NO_LIMIT = "null: no limit."
_MONEY = "USD, exact decimal as a string."

LIMITS = Object(
    "UsageLimits",
    {
        "rpm": Int(minimum=0, nullable=True, description="Requests per minute; " + _NO_LIMIT),
        "tpm": Int(minimum=0, nullable=True, description="Input + output tokens per minute; " + _NO_LIMIT),
        "concurrency": Int(minimum=0, nullable=True, description="Requests in flight; " + _NO_LIMIT),
        "budget_usd_day": Str(nullable=True, description=f"Per calendar day in TIME_ZONE, {_MONEY} {_NO_LIMIT}"),
        "budget_usd_month": Str(nullable=True, description=f"Per calendar month in TIME_ZONE, {_MONEY} {_NO_LIMIT}"),
    },
    required=("rpm", "tpm", "concurrency", "budget_usd_day", "budget_usd_month"),
)
REMAINING = Object(
    "UsageRemaining",
    {
        "requests": Int(minimum=0, nullable=True, description="This minute; " + _NO_LIMIT),
        "tokens": Int(minimum=0, nullable=True, description="This minute; " + _NO_LIMIT),
        "concurrency": Int(minimum=0, nullable=True, description="More requests that may start now; " + _NO_LIMIT),
        "budget_usd_day": Str(nullable=True, description=f"Budget less spent and reserved, {_MONEY} {_NO_LIMIT}"),
        "budget_usd_month": Str(nullable=True, description=f"Budget less spent and reserved, {_MONEY} {_NO_LIMIT}"),
    },
    required=("requests", "tokens", "concurrency", "budget_usd_day", "budget_usd_month"),
    description="What is left before a limit refuses a request (never below 0).",
)
_COUNTERS = {
    "requests_this_minute": Int(minimum=0),
    "tokens_this_minute": Int(minimum=0, description="Input + output; with limits, reserved ones included."),
    "in_flight": Int(minimum=0, description="0 for an owner without limits (not tracked)."),
    "spent_today_usd": Str(description=f"Settled spend, {_MONEY}"),
    "spent_this_month_usd": Str(description=f"Settled spend, {_MONEY}"),
    "reserved_usd": Str(description=f"Held by requests in flight (their most possible cost), {_MONEY}"),
    "remaining": REMAINING,
    "minute_resets_in_s": Number(minimum=0, maximum=60, description="When this minute's window ends."),
}
COUNTERS = Object("UsageCounters", _COUNTERS, required=tuple(_COUNTERS))
_OWNER = {
    "name": Str(),
    "limits": LIMITS,
    "usage": COUNTERS,
    "exact": Bool(
        description="false while Redis is unavailable: counted by this replica only (limits are then "
        "enforced per process)."
    ),
}
_OWNER_DESCRIPTION = (
    "With any limit set, the numbers are the limiter's (shared by every replica, in-flight reservations "
    "included); without limits they are counted from the audit records (settled requests only)."
)
OWNER_USAGE = Object("OwnerUsage", _OWNER, required=tuple(_OWNER), description=_OWNER_DESCRIPTION)
# The same component, where it may be null (a key without a team).
_TEAM_USAGE = Object("OwnerUsage", _OWNER, required=tuple(_OWNER), description=_OWNER_DESCRIPTION, nullable=True)
USAGE_REPORT = Object(
    "UsageReport",
    {"key": OWNER_USAGE, "team": _TEAM_USAGE},
    required=("key", "team"),
    example={
        "key": {
            "name": "ci-bot",
            "limits": {"rpm": 60, "tpm": None, "concurrency": None, "budget_usd_day": None, "budget_usd_month": "10"},
            "usage": {
                "requests_this_minute": 3,
                "tokens_this_minute": 4200,
                "in_flight": 1,
                "spent_today_usd": "0.41",
                "spent_this_month_usd": "6.2",
                "reserved_usd": "0.06",
                "remaining": {
                    "requests": 57,
                    "tokens": None,
                    "concurrency": None,
                    "budget_usd_day": None,
                    "budget_usd_month": "3.74",
                },
                "minute_resets_in_s": 21.5,
            },
            "exact": True,
        },
        "team": None,
    },
)
