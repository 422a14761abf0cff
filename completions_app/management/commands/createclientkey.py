from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from completions_app.services.client_keys import client_key_create


class Command(BaseCommand):
    help = "Create a client key and print it once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--models", nargs="*", default=[], help="Model names this key may use (default: all).")
        parser.add_argument("--expires", help="Expiry as ISO date or datetime (UTC), e.g. 2027-01-31.")

    def handle(self, *args: object, **options: object) -> None:
        expires_at = None
        if options["expires"]:
            try:
                expires_at = datetime.fromisoformat(str(options["expires"]))
            except ValueError:
                raise CommandError("--expires: use an ISO date such as 2027-01-31") from None
            if timezone.is_naive(expires_at):
                expires_at = expires_at.replace(tzinfo=UTC)
        try:
            _, plaintext = client_key_create(
                name=str(options["name"]), model_names=options["models"], expires_at=expires_at
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(plaintext)
