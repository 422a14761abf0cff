"""One local HTTP server speaking all three providers' wire formats, scriptable per request.

In-process (on the test's event loop):
    async with FakeUpstream() as fake:
        fake.script(Behaviour.rate_limited("7"))
        ... AnthropicAdapter(base_url=fake.anthropic_base_url, ...)
        fake.requests[-1].headers["authorization"], fake.requests[-1].json

In a background thread (for sync code):  with FakeUpstreamThread() as fake: ...
As a process:  python -m tests.fakes.server --port 0 --latency-ms 0 --chunks 3
    (prints "FAKE_UPSTREAM_LISTENING port=N"; see tests/fakes/process.py)

Control plane (same port): POST /_fake/script (a behaviour object or a list of them),
GET /_fake/requests, POST /_fake/reset, GET /_fake/stats.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from typing import Any

from aiohttp import web

from .anthropic_fake import AnthropicWire
from .behaviour import Behaviour, FakeConfig, FakeState, RecordedRequest
from .embedding import BadEmbedInput
from .ollama_fake import OllamaWire
from .openai_fake import OpenAIWire
from .wire import ProviderWire, respond

ANTHROPIC, OPENAI, OLLAMA = AnthropicWire(), OpenAIWire(), OllamaWire()
STATE_KEY = web.AppKey("state", FakeState)


def _state(request: web.Request) -> FakeState:
    return request.app[STATE_KEY]


async def _read_and_record(request: web.Request) -> tuple[Any, Behaviour]:
    raw = await request.text()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    state = _state(request)
    state.record(
        RecordedRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            json=body,
            raw=raw,
        )
    )
    return body, state.next_behaviour(request.path)


def _chat_handler(wire: ProviderWire) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        body, behaviour = await _read_and_record(request)
        if not isinstance(body, dict):
            return web.json_response(wire.error_body(400, wire.default_error_type(400), "body is not JSON"), status=400)
        return await respond(request, wire, body, behaviour, _state(request))

    return handler


def _embed_handler(wire: OpenAIWire | OllamaWire) -> Any:
    """POST embeddings: the wire's answer, or the faults scripted (as for a listing)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body, behaviour = await _read_and_record(request)
        try:
            if not isinstance(body, dict):
                raise BadEmbedInput("body is not JSON")
            # wrong_shape: valid JSON that is not an embeddings answer (the other faults in _faulty).
            payload = wire.wrong_shape_body() if behaviour.kind == "wrong_shape" else wire.embeddings_body(body)
        except BadEmbedInput as exc:
            if behaviour.kind != "ok":  # a scripted fault wins over the input's own error
                return await _faulty(request, wire, behaviour, {})
            return web.json_response(wire.error_body(400, wire.default_error_type(400), str(exc)), status=400)
        return await _faulty(request, wire, behaviour, payload)

    return handler


async def _listing(request: web.Request, wire: ProviderWire, payload: dict[str, Any]) -> web.StreamResponse:
    """GET endpoints (model lists): same faults as chat, minus the streaming ones."""
    _, behaviour = await _read_and_record(request)
    return await _faulty(request, wire, behaviour, payload)


async def _faulty(
    request: web.Request, wire: ProviderWire, behaviour: Behaviour, payload: dict[str, Any]
) -> web.StreamResponse:
    """`payload` as JSON, or the fault `behaviour` scripts (a delay, a dropped connection, an
    error, a body cut in half)."""
    state = _state(request)
    if delay := state.config.latency_s + behaviour.delay_s:
        await asyncio.sleep(delay)
    if behaviour.kind in ("close", "disconnect"):
        if request.transport is not None:
            request.transport.abort()
        return web.Response()
    if behaviour.kind == "error":
        error_type = behaviour.error_type or wire.default_error_type(behaviour.status)
        body = wire.error_body(behaviour.status, error_type, behaviour.message or "fake error")
        return web.json_response(body, status=behaviour.status, headers=behaviour.headers)
    text = json.dumps(payload)
    if behaviour.kind in ("malformed", "stream_error"):
        text = text[: len(text) // 2]
    return web.Response(text=text, content_type="application/json", headers=behaviour.headers)


async def _models(request: web.Request) -> web.StreamResponse:
    # Anthropic and OpenAI share this path; the Anthropic SDK always sends anthropic-version.
    names = _state(request).config.model_names
    if "anthropic-version" in request.headers:
        return await _listing(request, ANTHROPIC, ANTHROPIC.models_body(names))
    return await _listing(request, OPENAI, OPENAI.models_body(names))


async def _tags(request: web.Request) -> web.StreamResponse:
    return await _listing(request, OLLAMA, OLLAMA.tags_body(_state(request).config.model_names))


async def _control_script(request: web.Request) -> web.Response:
    data = await request.json()
    items = data if isinstance(data, list) else data.get("behaviours", [data])
    try:
        behaviours = [Behaviour.from_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    _state(request).script(*behaviours)
    return web.json_response({"queued": len(behaviours)})


async def _control_requests(request: web.Request) -> web.Response:
    return web.json_response([r.to_json() for r in _state(request).requests])


async def _control_reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.json_response({"reset": True})


async def _control_stats(request: web.Request) -> web.Response:
    return web.json_response(_state(request).stats)


def build_app(state: FakeState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_post("/v1/messages", _chat_handler(ANTHROPIC))
    app.router.add_post("/v1/chat/completions", _chat_handler(OPENAI))
    app.router.add_get("/v1/models", _models)
    app.router.add_post("/v1/embeddings", _embed_handler(OPENAI))
    app.router.add_post("/api/chat", _chat_handler(OLLAMA))
    app.router.add_get("/api/tags", _tags)
    app.router.add_post("/api/embed", _embed_handler(OLLAMA))
    app.router.add_post("/_fake/script", _control_script)
    app.router.add_get("/_fake/requests", _control_requests)
    app.router.add_post("/_fake/reset", _control_reset)
    app.router.add_get("/_fake/stats", _control_stats)
    return app


class FakeUpstream:
    """The fake, running on the current event loop."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, config: FakeConfig | None = None) -> None:
        self.host, self.port = host, port
        self.state = FakeState(config)
        self._runner: web.AppRunner | None = None

    async def start(self) -> FakeUpstream:
        # handler_cancellation: a hanging handler stops when its client gives up, so a
        # "hang 30 s" behaviour does not hold the server open after the test.
        self._runner = web.AppRunner(
            build_app(self.state), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- where each SDK wants its base_url -------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.url  # the SDK appends /v1/messages

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"  # the SDK appends /chat/completions

    @property
    def ollama_base_url(self) -> str:
        return self.url  # the SDK appends /api/chat

    # --- scripting and inspection ------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        self.state.script(*behaviours)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def stats(self) -> dict[str, int]:
        return self.state.stats

    def reset(self) -> None:
        self.state.reset()


class FakeUpstreamThread(FakeUpstream):
    """The fake on its own event loop (`.loop`) in a daemon thread, for sync code or other loops."""

    loop: asyncio.AbstractEventLoop

    def start_in_thread(self) -> FakeUpstreamThread:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-upstream", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(FakeUpstream.start(self), self.loop).result(timeout=10)
        return self

    def stop_thread(self) -> None:
        asyncio.run_coroutine_threadsafe(FakeUpstream.stop(self), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> FakeUpstreamThread:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()


async def _serve(args: argparse.Namespace) -> None:
    config = FakeConfig(latency_s=args.latency_ms / 1000, chunks=args.chunks, chunk_delay_s=args.chunk_delay_ms / 1000)
    fake = await FakeUpstream(host=args.host, port=args.port, config=config).start()
    print(f"FAKE_UPSTREAM_LISTENING port={fake.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Anthropic/OpenAI/Ollama upstream for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = an ephemeral port (printed on stdout)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before the first byte of every answer")
    parser.add_argument("--chunks", type=int, default=3, help="text chunks per streamed answer")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between stream frames")
    parser.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    args = parser.parse_args(argv)
    runner: Any = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run  # keeps the fake's own CPU cost low in benchmarks
    runner(_serve(args))


if __name__ == "__main__":
    main(sys.argv[1:])
