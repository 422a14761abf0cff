"""The finance report's groupings (model, provider, client, team) and each row's drill-down filters.

A row's filters select exactly the records summed into it, as lookups the admin's record list
accepts (local fields, or one relation step): the list's totals for a drill-down then equal
the amount clicked.

Model names the catalog does not know, asked for by clients and answered 404 (no provider,
nothing served), are one "(unknown model)" row: each junk name would otherwise be a row of
its own in every table and a series in the chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When

from completions_app.models import CompletionRecord
from providers_app.models import Model

UNKNOWN_MODEL = "(unknown model)"
NO_TEAM = "(no team)"
NONE = "(none)"
# The admin splits an `__in` lookup's value on commas; a longer link than this is not worth it.
LIST_SEPARATOR = ","
MAX_LINK_NAMES = 200


def unknown_model_q() -> Q:
    """Records of a model name the catalog does not have that nothing served."""
    return Q(provider="", served_model="") & ~Q(model__in=Model.objects.values("name"))


def with_model_key(qs: QuerySet[CompletionRecord]) -> QuerySet[CompletionRecord]:
    """`model_key`: the model asked for, or NULL for an unknown model (a real name is never NULL)."""
    return qs.annotate(
        model_key=Case(When(unknown_model_q(), then=Value(None)), default=F("model"), output_field=CharField())
    )


@dataclass(frozen=True, slots=True)
class Grouping:
    name: str  # "model" | "provider" | "client" | "team": the table and its CSV
    label: str
    values: tuple[str, ...]  # the values() of the grouped query


GROUPINGS = (
    Grouping("model", "Model", ("model_key",)),
    Grouping("provider", "Provider", ("provider",)),
    Grouping("client", "Client", ("client_name",)),
    Grouping("team", "Team", ("client__team_id", "client__team__name")),
)


def grouped_source(qs: QuerySet[CompletionRecord], grouping: Grouping) -> QuerySet[CompletionRecord]:
    return with_model_key(qs) if grouping.name == "model" else qs


def unknown_model_filters(qs: QuerySet[CompletionRecord]) -> dict[str, str] | None:
    """Admin lookups for the unknown-model records of `qs`: their names listed. None when no
    exact link can be made (a name with a comma, or too many names)."""
    names = sorted(set(qs.filter(unknown_model_q()).values_list("model", flat=True).order_by()))
    if not names or len(names) > MAX_LINK_NAMES or any(LIST_SEPARATOR in n for n in names):
        return None
    return {"provider": "", "served_model": "", "model__in": LIST_SEPARATOR.join(names)}


def row_identity(
    grouping: Grouping, row: dict[str, Any], *, unknown: dict[str, str] | None
) -> tuple[str, dict[str, str] | None]:
    """(the row's name as shown, its records' admin lookups or None when no exact link exists)."""
    if grouping.name == "model":
        if row["model_key"] is None:
            return UNKNOWN_MODEL, unknown
        return row["model_key"], {"model": row["model_key"]}
    if grouping.name == "provider":
        return row["provider"], {"provider": row["provider"]}
    if grouping.name == "client":
        return row["client_name"], {"client_name": row["client_name"]}
    team_id = row["client__team_id"]
    if team_id is None:  # records without a key, or of a key without a team (a record's team is its key's, now)
        return NO_TEAM, {"client__team__isnull": "True"}
    return row["client__team__name"], {"client__team__id__exact": str(team_id)}
