"""Start gateway subprocesses quickly: migrate + loadconfig once per distinct
config into a template database, then copy it for each gateway.

`manage.py` costs ~4 s of Django start-up here, so migrate + loadconfig per
gateway would spend most of the suite's time budget on set-up. Also reads
records straight from the database (`exportcosts` is another 4 s start-up;
tests that check the CSV contract still call `gw.records()`).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.e2e.gateway_process import GatewayProcess

RECORD_COLUMNS = ("request_id", "status", "error_type", "served_model", "provider", "provider_key",
                  "input_tokens", "output_tokens", "cost_usd", "stream", "cached")  # fmt: skip


def _is_pg(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _pg_admin(base_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


class Templates:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, GatewayProcess] = {}

    def _template(self, config: dict[str, Any], env: dict[str, str]) -> GatewayProcess:
        key = json.dumps([config, env.get("DATABASE_URL", ""), env.get("FIELD_ENCRYPTION_KEY", "")], sort_keys=True)
        if key not in self._made:
            workdir = self.root / f"template{len(self._made)}"
            workdir.mkdir(parents=True)
            self._made[key] = GatewayProcess(workdir, config, env=env).prepare()
        return self._made[key]

    def launch(
        self, workdir: Path, config: dict[str, Any], env: dict[str, str], *, share_with: GatewayProcess | None = None
    ) -> GatewayProcess:
        """A started gateway on a copy of the template database for `config`
        (or on `share_with`'s database: two replicas of one deployment)."""
        if share_with is not None:
            gw = GatewayProcess(workdir, config, env=env)
            gw.drop_database(env["DATABASE_URL"])  # the fresh one it made is not used
            gw._pg_db = None
            gw.env["DATABASE_URL"] = share_with.env["DATABASE_URL"]
            return gw.start()
        template = self._template(config, env)
        gw = GatewayProcess(workdir, config, env=env)
        if template._pg_db:
            assert gw._pg_db is not None
            _pg_admin(env["DATABASE_URL"], f'DROP DATABASE "{gw._pg_db}"',
                      f'CREATE DATABASE "{gw._pg_db}" TEMPLATE "{template._pg_db}"')  # fmt: skip
        else:
            for suffix in ("", "-wal", "-shm"):
                src = template.workdir / f"gateway.sqlite3{suffix}"
                if src.exists():
                    shutil.copy(src, workdir / f"gateway.sqlite3{suffix}")
        return gw.start()

    def cleanup(self) -> None:
        for template in self._made.values():
            template.drop_database(_base_url(template))


def _base_url(gw: GatewayProcess) -> str:
    url = gw.env["DATABASE_URL"]
    return url.replace(f"/{gw._pg_db}", "/postgres") if gw._pg_db else url


def db_records(gw: GatewayProcess) -> list[dict[str, Any]]:
    """Every CompletionRecord of the gateway's database, read directly."""
    url = gw.env["DATABASE_URL"]
    sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM completions_app_completionrecord"  # noqa: S608 - constant columns
    if _is_pg(url):
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(sql).fetchall()
    else:
        conn = sqlite3.connect(urlparse(url).path, timeout=10)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
    return [dict(zip(RECORD_COLUMNS, row, strict=True)) for row in rows]
