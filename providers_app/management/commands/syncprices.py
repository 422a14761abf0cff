from django.core.management.base import BaseCommand, CommandParser

from providers_app.models import Model
from providers_app.price_catalogue import (
    PriceCheck,
    Status,
    catalogue_version,
    prices_apply,
    prices_compare,
)

WIDTH = 26  # the longest field name, cache_write_1h_per_mtok, and a margin


class Command(BaseCommand):
    help = (
        "Compare each model's prices with the pinned genai-prices catalogue and print the differences; "
        "--apply writes the catalogue's prices as new effective-dated prices (one transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--apply", action="store_true", help="write the catalogue's prices where they differ")

    def handle(self, *args: object, **options: object) -> None:
        models = Model.objects.select_related("provider").order_by("name")
        checks = prices_compare(models)
        self.stdout.write(f"catalogue: {catalogue_version()} (the data it ships), standard prices in force now")
        for check in checks:
            if check.status == Status.DIFFERS:
                self._write(check)
        same = [c for c in checks if c.status == Status.SAME]
        if same:
            self.stdout.write(f"\nsame as the catalogue: {', '.join(c.model.name for c in same)}")
            for c in same:
                for note in c.notes:
                    self.stdout.write(f"  {c.model.name}: note: {note}")
        counts = {s: sum(c.status == s for c in checks) for s in (Status.DIFFERS, Status.SAME)}
        missing = [c for c in checks if c.status in (Status.NOT_IN_CATALOGUE, Status.SKIPPED)]
        if missing:
            self.stdout.write("\nnot compared:")
            for c in missing:
                self.stdout.write(
                    f"  {c.model.name} ({c.model.provider.name} / {c.model.upstream_model}): {c.status}: {c.reason}"
                )
        summary = (
            f"\n{counts[Status.DIFFERS]} differ, {counts[Status.SAME]} same, "
            f"{sum(c.status == Status.NOT_IN_CATALOGUE for c in checks)} not in catalogue, "
            f"{sum(c.status == Status.SKIPPED for c in checks)} skipped."
        )
        if not options["apply"]:
            hint = " Run with --apply to write the catalogue's prices." if counts[Status.DIFFERS] else ""
            self.stdout.write(summary + hint)
            return
        changed = prices_apply(checks, changed_by="syncprices")
        self.stdout.write(summary + f" Applied the catalogue's prices to {len(changed)} model(s).")

    def _write(self, check: PriceCheck) -> None:
        m = check.model
        self.stdout.write(
            f"\n{m.name} ({m.provider.name} / {m.upstream_model} = catalogue "
            f"{check.catalogue_provider} / {check.catalogue_model}): differs"
        )
        self.stdout.write(f"  {'field':<{WIDTH}} {'ours':>14} {'catalogue':>14}")
        for d in check.diffs:
            self.stdout.write(f"  {d.field:<{WIDTH}} {d.ours_text:>14} {d.catalogue_text:>14}")
        for note in check.notes:
            self.stdout.write(f"  note: {note}")
