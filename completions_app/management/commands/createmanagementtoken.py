from django.core.management.base import BaseCommand, CommandError, CommandParser

from completions_app.models import ManagementToken
from completions_app.services.management_tokens import management_token_create


class Command(BaseCommand):
    help = "Create a management-API token (/api/v1/) and print it once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Unique; the token acts as the user token:NAME in the admin's history.")
        parser.add_argument(
            "--role", required=True, choices=ManagementToken.Role.values, help="admin writes; finance reads."
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            _, plaintext = management_token_create(name=str(options["name"]), role=str(options["role"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(plaintext)
