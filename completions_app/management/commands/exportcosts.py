from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from completions_app.services.cost_export import csv_lines, records_select


def _when(value: str | None, flag: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{flag}: use an ISO date or datetime, e.g. 2026-11-01 or 2026-11-01T12:00") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Write per-request cost records as CSV to stdout (--since inclusive, --until exclusive, UTC)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument("--client", help="client key name")
        parser.add_argument("--model", help="requested model name")

    def handle(self, *args: object, **options: object) -> None:
        qs = records_select(
            since=_when(options["since"], "--since"),  # type: ignore[arg-type]
            until=_when(options["until"], "--until"),  # type: ignore[arg-type]
            client=options["client"],  # type: ignore[arg-type]
            model=options["model"],  # type: ignore[arg-type]
        )
        for line in csv_lines(qs):
            self.stdout.write(line, ending="")
