"""Property-based fuzzing of every documented operation (schemathesis, driven
from its CLI against a running gateway, with the document it serves at /api/schema/).

No input may produce a 5xx, and the document must be true of the served /v1 route
in both directions: what it calls invalid is refused (negative_data_rejection), what it
calls valid is not refused as invalid (positive_data_acceptance; an unknown model's 404
is fine), every answer's status, content type, headers and body (SSE events included)
are the documented ones, requests without a key are refused (ignored_auth), other
methods get a 405 with Allow.

The /api/v1 management API is fuzzed apart (test_management_schemathesis.py), with its own token.

Bounded: 30 examples per operation and one seed (reproducible); no --max-time,
which would make fuzzing repeat until the budget is spent. One worker: with two, a
race in Hypothesis (its lambda-description cache) aborted the coverage phase of an
operation now and then. Valid requests do reach the fake upstream; it answers them.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.gateway_process import CLIENT_KEY
from tests.resilience.helpers import AUTH

pytest.importorskip("schemathesis")


CHECKS = (
    "not_a_server_error", "negative_data_rejection", "positive_data_acceptance", "status_code_conformance",
    "content_type_conformance", "response_headers_conformance", "response_schema_conformance", "ignored_auth",
    "unsupported_method", "allow_header_conformance", "missing_required_header",
)  # fmt: skip


def _failures(report_dir: Path) -> list[str]:
    text = "".join(p.read_text() for p in report_dir.glob("junit*.xml"))
    return [html.unescape(m) for m in re.findall(r"<failure[^>]*>(.*?)</failure>", text, re.S)]


def test_schemathesis_finds_no_server_error_and_no_drift(gateway, tmp_path: Path):
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is installed but its CLI is not in the venv's bin"
    cmd = [
        cli, "run", f"{gateway.url}/api/schema/", "--include-path-regex", "^/v1/",
        "--header", f"Authorization: Bearer {CLIENT_KEY}",
        "--checks", ",".join(CHECKS),
        "--max-examples", "30", "--seed", "20261126",
        "--phases", "examples,coverage,fuzzing",
        "--workers", "1", "--request-timeout", "20",
        "--generation-database", "none", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    # The rules between fields (a tool_choice naming a declared tool...) kept in valid requests.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))}
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=150, env=env)
    assert "Tested: 10" in result.stdout, result.stdout[-3000:]
    assert "Errors:" not in result.stdout, result.stdout[-6000:]  # a phase that did not run is no pass
    failures = _failures(tmp_path)
    assert not failures, "\n-----\n".join(failures)[:6000]


@pytest.mark.parametrize("path", ["/v1/complete", "/v1/chat/completions", "/v1/models", "/v1/health"])
def test_options_is_not_a_server_error(gateway, path):
    assert httpx.options(f"{gateway.url}{path}", headers=AUTH).status_code < 500
