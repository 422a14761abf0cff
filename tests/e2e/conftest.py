"""End-to-end fixtures: a fake upstream process and the gateway as a subprocess."""

from __future__ import annotations

import os

import pytest

from .gateway_process import GatewayProcess, fake_config


@pytest.fixture(scope="module")
def gateway(fake_upstream, tmp_path_factory):
    """One gateway per test module (start-up costs ~1 s); state is reset per test by the tests that need it."""
    gw = GatewayProcess(tmp_path_factory.mktemp("gw"), fake_config(fake_upstream.url)).prepare().start()
    yield gw
    gw.stop()
    gw.drop_database(os.environ.get("DATABASE_URL", ""))
