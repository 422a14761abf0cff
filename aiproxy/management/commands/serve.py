import sys

from django.core.management.base import BaseCommand, CommandParser

from aiproxy.runtime import serve_main


class Command(BaseCommand):
    help = "Serve HTTP (HTTP_PORT), gRPC (PORT) and Prometheus metrics (METRICS_PORT) in one process."
    requires_system_checks: list = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=1, help="Worker processes sharing the ports (default 1).")

    def handle(self, *args: object, **options: object) -> None:
        sys.exit(serve_main(workers=int(options["workers"])))  # type: ignore[call-overload]
