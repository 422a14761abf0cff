"""A gateway wired to a fake upstream (its own thread), with three providers:

- openai "oa" (two keys) serving gpt-mini (fallback: claude-h) and gpt-big
- anthropic "an" (one key) serving claude-h (fallback: llama)
- ollama "ol" (no key) serving llama
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from completions_app.models import ClientKey, CompletionRecord
from completions_app.services.db import db_run
from completions_app.services.recorder import records_flush
from completions_app.services.types import CallContext, ClientIdentity, CompletionInput
from providers_app.adapters.types import Message
from tests.factories import client_create, model_create, provider_create
from tests.fakes.server import FakeUpstreamThread


@dataclass
class Gateway:
    fake: FakeUpstreamThread
    client: ClientIdentity

    def ctx(self, request_id: str | None = None, interface: str = "rest") -> CallContext:
        return CallContext(request_id=request_id or uuid.uuid4().hex, client=self.client, interface=interface)

    @staticmethod
    def inp(model: str = "gpt-mini", text: str = "hello there gateway", **kw: object) -> CompletionInput:
        return CompletionInput(model=model, messages=(Message("user", text),), **kw)  # type: ignore[arg-type]

    @staticmethod
    async def records() -> list[CompletionRecord]:
        assert await asyncio.to_thread(records_flush, 10)
        return await db_run(lambda: list(CompletionRecord.objects.order_by("created_at")))

    def upstream_paths(self) -> list[str]:
        return [r.path for r in self.fake.requests]


@pytest.fixture
def gw(transactional_db):
    # A request a previous test cancelled may finish (and queue its record) as that test's
    # loop closes, after the database was emptied: start from an empty table.
    records_flush(10)
    CompletionRecord.objects.all().delete()
    with FakeUpstreamThread() as fake:
        oa = provider_create("oa", "openai", fake.openai_base_url, keys=("sk-oa-key-one-1111", "sk-oa-key-two-2222"))
        an = provider_create("an", "anthropic", fake.anthropic_base_url, keys=("sk-ant-key-3333",))
        ol = provider_create("ol", "ollama", fake.ollama_base_url, keys=())
        llama = model_create("llama", ol, upstream="llama3.1:8b", input_price="0", output_price="0")
        claude = model_create(
            "claude-h", an, upstream="claude-3-5-haiku", input_price="0.80", output_price="4.00", fallbacks=(llama,)
        )
        model_create(
            "gpt-mini",
            oa,
            upstream="gpt-4o-mini",
            input_price="0.15",
            output_price="0.60",
            cache_read_price="0.075",
            fallbacks=(claude,),
        )
        model_create("gpt-big", oa, upstream="gpt-4o", input_price="2.50", output_price="10.00")
        client_create("svc-tester")
        row = ClientKey.objects.get(name="svc-tester")
        yield Gateway(fake=fake, client=ClientIdentity(id=row.id, name=row.name, allowed_models=None))
        records_flush(10)
