"""MAX_IN_FLIGHT: past it the API sheds load with a fast JSON 503."""

import asyncio
import time

import httpx

from tests.fakes.behaviour import Behaviour

from .gateway_process import CLIENT_KEY, GatewayProcess, fake_config


async def test_requests_over_the_limit_get_a_fast_503(fake_upstream, tmp_path):
    fake_upstream.reset()
    fake_upstream.script(Behaviour.hang(1.0, path="/v1/chat", times=-1))
    gw = GatewayProcess(tmp_path, fake_config(fake_upstream.url), env={"MAX_IN_FLIGHT": "3"}).prepare().start()
    try:
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=10) as client:

            async def one(i: int) -> tuple[int, float, dict]:
                t0 = time.monotonic()
                r = await client.post(f"{gw.url}/v1/complete", json={"model": "gpt-4o-mini", "prompt": f"n {i}"})
                return r.status_code, time.monotonic() - t0, r.json()

            results = await asyncio.gather(*(one(i) for i in range(8)))
        shed = [r for r in results if r[0] == 503]
        served = [r for r in results if r[0] == 200]
        assert len(served) == 3
        assert len(shed) == 5
        assert all(elapsed < 0.5 and body["error"]["type"] == "overloaded" for _, elapsed, body in shed)
        # The limit frees up: the next request is served.
        fake_upstream.reset()
        r = httpx.post(
            f"{gw.url}/v1/complete",
            json={"model": "gpt-4o-mini", "prompt": "after"},
            headers={"authorization": f"Bearer {CLIENT_KEY}"},
        )
        assert r.status_code == 200
    finally:
        gw.stop()
        fake_upstream.reset()
