"""Bad-input suite: one fake upstream and one gateway per module (bad input must
leave no state behind, so sharing them is itself part of what is tested)."""

from __future__ import annotations

import os

import pytest

from tests.resilience.helpers import resilience_config


@pytest.fixture(scope="module")
def launch(fake_upstream, templates, tmp_path_factory):
    """launch(env) -> a started gateway, stopped at the end of the module."""
    base = os.environ.get("DATABASE_URL", "")
    started = []

    def make(env: dict[str, str] | None = None):
        workdir = tmp_path_factory.mktemp("gw")
        config = resilience_config(fake_upstream.url)
        config["models"].append({"name": "text-embedding-3-small", "provider": "oa", "mode": "embedding",
                                 "upstream_model": "text-embedding-3-small", "input_per_mtok": "0.02",
                                 "output_per_mtok": "0"})  # fmt: skip
        gw = templates.launch(workdir, config,
                              {"REDIS_URL": "", "DATABASE_URL": base, **(env or {})})  # fmt: skip
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()
        gw.drop_database(base)


@pytest.fixture(scope="module")
def gateway(launch):
    return launch({"MAX_REQUEST_BYTES": "65536"})
