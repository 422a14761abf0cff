"""The fixture catalogue installed as the package's snapshot for a test."""

from __future__ import annotations

import pytest
from genai_prices import data_snapshot

from .catalogue_fixture import fixture_snapshot


@pytest.fixture
def catalogue():
    """The fixture catalogue as the package's snapshot (what calc_price and syncprices read)."""
    snapshot = fixture_snapshot()
    data_snapshot.set_custom_snapshot(snapshot)
    yield snapshot
    data_snapshot.set_custom_snapshot(None)
