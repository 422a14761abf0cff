"""A client that goes away cancels its call on the direct route: through `serve`'s protocol
(ClientWatch in the scope, tests/e2e/test_rest.py) or, under another ASGI server, through a
task that waits for http.disconnect (here)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiproxy.http_guard import CLIENT_WATCH, ClientWatch
from completions_app.api import fast_routes
from completions_app.api.replies import JsonReply


def _scope(**extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/x", "headers": [(b"host", b"127.0.0.1")], **extra}


class Client:
    """An ASGI client: sends the body, then http.disconnect when `leave` is set."""

    def __init__(self) -> None:
        self.leave = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self._body_sent = False

    async def receive(self) -> dict[str, Any]:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def _slow_call(started: asyncio.Event, outcome: list[str]):  # type: ignore[no-untyped-def]
    async def call(request: Any) -> JsonReply:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        return JsonReply({"late": True})

    return call


async def test_without_a_client_watch_a_disconnect_cancels_the_call():
    client, started, outcome = Client(), asyncio.Event(), []
    served = asyncio.ensure_future(
        fast_routes.serve(_slow_call(started, outcome), _scope(), client.receive, client.send)
    )
    await started.wait()
    client.leave.set()
    await asyncio.wait_for(served, 5)  # returns, without raising: the client left, nothing to answer
    assert outcome == ["cancelled"] and client.sent == []


async def _serve_slow_call(watch: ClientWatch) -> tuple[Client, asyncio.Future[None], list[str]]:
    """A slow call served with `watch` in the scope, once it has started."""
    client, started, outcome = Client(), asyncio.Event(), []
    scope = _scope(extensions={CLIENT_WATCH: watch})
    served = asyncio.ensure_future(fast_routes.serve(_slow_call(started, outcome), scope, client.receive, client.send))
    await started.wait()
    return client, served, outcome


async def test_with_a_client_watch_the_protocol_cancels_the_call_and_no_task_waits():
    watch = ClientWatch()
    client, served, outcome = await _serve_slow_call(watch)
    assert watch.task is served and len(asyncio.all_tasks()) == 2  # this test and `served`: no watcher task
    watch.lost()  # what the protocol does on connection_lost
    await asyncio.wait_for(served, 5)
    assert outcome == ["cancelled"] and client.sent == [] and watch.task is None


async def test_an_answered_call_unlinks_itself_so_a_later_loss_cancels_nothing():
    client = Client()
    watch = ClientWatch()

    async def quick(request: Any) -> JsonReply:
        return JsonReply({"ok": True})

    await fast_routes.serve(quick, _scope(extensions={CLIENT_WATCH: watch}), client.receive, client.send)
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]
    assert watch.task is None
    watch.lost()  # the connection closes later: nothing to cancel


async def test_a_server_shutdown_cancellation_is_not_taken_for_the_client_leaving():
    _client, served, outcome = await _serve_slow_call(ClientWatch())
    served.cancel()
    try:
        await served
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancellation was swallowed")
    assert outcome == ["cancelled"]
