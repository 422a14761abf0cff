"""A fixture catalogue in the package's own data classes (genai_prices.types)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from genai_prices import data_snapshot
from genai_prices import types as cat

D = Decimal


def _model(model_id: str, prices: cat.ModelPrice | list[cat.ConditionalPrice], **kw: object) -> cat.ModelInfo:
    return cat.ModelInfo(id=model_id, match=cat.ClauseStartsWith(starts_with=model_id), prices=prices, **kw)


def fixture_snapshot() -> data_snapshot.DataSnapshot:
    """A small catalogue in the package's format: an Anthropic and an OpenAI provider."""
    anthropic = cat.Provider(
        id="anthropic",
        name="Anthropic",
        api_pattern=r"https://api\.anthropic\.com",
        provider_match=cat.ClauseContains(contains="anthropic"),
        models=[
            _model(
                "claude-flat",
                cat.ModelPrice(
                    input_mtok=D("3"),
                    output_mtok=D("15"),
                    cache_read_mtok=D("0.3"),
                    cache_write_mtok=D("3.75"),
                    cache_write_1h_mtok=D("6"),
                    web_searches_kcount=D("10"),
                ),
            ),
            _model(
                "claude-tiered",
                cat.ModelPrice(
                    input_mtok=cat.TieredPrices(base=D("3"), tiers=[cat.Tier(start=200_000, price=D("6"))]),
                    output_mtok=cat.TieredPrices(base=D("15"), tiers=[cat.Tier(start=200_000, price=D("22.5"))]),
                ),
            ),
            _model(
                "claude-dated",
                [
                    cat.ConditionalPrice(prices=cat.ModelPrice(input_mtok=D("8"), output_mtok=D("24"))),
                    cat.ConditionalPrice(
                        constraint=cat.StartDateConstraint(start_date=date(2026, 3, 1)),
                        prices=cat.ModelPrice(input_mtok=D("4"), output_mtok=D("20")),
                    ),
                    cat.ConditionalPrice(
                        constraint=cat.StartDateConstraint(start_date=date(2027, 1, 1)),
                        prices=cat.ModelPrice(input_mtok=D("2"), output_mtok=D("10")),
                    ),
                ],
            ),
        ],
    )
    openai = cat.Provider(
        id="openai",
        name="OpenAI",
        api_pattern=r"https://api\.openai\.com",
        provider_match=cat.ClauseContains(contains="openai"),
        models=[
            _model("gpt-embed", cat.ModelPrice(input_mtok=D("0.02"))),
            _model("gpt-odd", cat.ModelPrice(input_mtok=D("0.1400000001"), output_mtok=D("1"))),
            _model("whisper-x", cat.ModelPrice(audio_hours=D("0.36"))),
        ],
    )
    return data_snapshot.DataSnapshot(providers=[anthropic, openai], from_auto_update=False)
