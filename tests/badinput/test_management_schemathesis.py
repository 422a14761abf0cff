"""Property-based fuzzing of the management API (/api/v1/) from the document the gateway
serves at /api/schema/, with an admin token: no input produces a 5xx, answers have the
documented content types, requests without the token are refused (ignored_auth), and other
methods get a 405.

The writes are real (providers, models, teams, client keys created, changed and deleted in
this module's own gateway database). Bounded and reproducible: a fixed seed, few examples.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .test_schemathesis import _failures

pytest.importorskip("schemathesis")

CHECKS = ("not_a_server_error", "content_type_conformance", "ignored_auth", "unsupported_method")


@pytest.fixture(scope="module")
def admin_token(gateway) -> str:
    return gateway.manage("createmanagementtoken", "fuzzer", "--role", "admin").stdout.strip()


def test_schemathesis_finds_no_server_error_in_the_management_api(gateway, admin_token, tmp_path: Path):
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is installed but its CLI is not in the venv's bin"
    cmd = [
        cli, "run", f"{gateway.url}/api/schema/", "--include-path-regex", "^/api/v1/",
        "--header", f"Authorization: Bearer {admin_token}",
        "--checks", ",".join(CHECKS),
        "--max-examples", "10", "--seed", "20261130",
        "--phases", "examples,coverage,fuzzing",
        "--workers", "1", "--request-timeout", "20",
        "--generation-database", "none", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "Tested: 35" in result.stdout, result.stdout[-3000:]
    assert "Errors:" not in result.stdout, result.stdout[-6000:]
    failures = _failures(tmp_path)
    assert not failures, "\n-----\n".join(failures)[:6000]
    assert " 500 " not in gateway.log(), gateway.log()[-3000:]


def test_the_gateway_still_serves_after_fuzzing(gateway, admin_token):
    r = httpx.get(f"{gateway.url}/api/v1/records", headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 200
