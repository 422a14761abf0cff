from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from completions_app.services.config_load import ConfigError, config_load


class Command(BaseCommand):
    help = "Upsert providers, keys, models, prices and client keys from a YAML file (idempotent, all or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: object, **options: object) -> None:
        path: Path = options["file"]  # type: ignore[assignment]
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"{path}: not valid YAML: {exc}") from None
        try:
            summary = config_load(data=data)
        except ConfigError as exc:
            raise CommandError(f"{path}: {exc} (nothing was changed)") from None
        for note in summary.notes:
            self.stderr.write(f"warning: {note}")
        self.stdout.write(
            f"loaded {summary.providers} providers, {summary.keys} keys, {summary.models} models, "
            f"{summary.clients} clients from {path}"
        )
