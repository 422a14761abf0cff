"""uvicorn's httptools protocol with the front door's limits (issue 14, items 1 and 2).

uvicorn (0.54) has no limit on request-header size and no header- or body-read timeout:
one connection could send 160 MB of headers (all kept in memory) or hold a connection
forever by trickling a header a byte at a time. This subclass adds, per connection:

- MAX_HEADER_BYTES: the request line and headers of one request, in total. Past it the
  answer is 431 and the connection is closed. While headers are incomplete every byte
  received is a header byte, so the count is checked after each chunk is parsed (at most
  one read, ~256 KiB, past the limit is ever held); once they are complete, the exact sum
  of the parsed headers is checked before the application is called.
- HEADER_TIMEOUT_S: from connection start (or from the first byte of a following request
  on a keep-alive connection) to the end of the headers. Past it: 408 if anything was
  received, else a plain close.
- BODY_TIMEOUT_S: from the end of the headers to the end of the body. Past it: 408 if no
  answer has started, and close; the application's receive() then sees http.disconnect.

It also tells the application at once when the client goes away mid-answer: each request's
scope carries a `ClientWatch` (extensions["aiproxy.client_watch"]); the API route puts its
task there, and a connection lost before the answer is complete cancels it. Without this the
route would need a second task per request just to wait for http.disconnect.

Per request this costs two timers (armed and cancelled, ~1 µs each on uvloop) and one flag
check per chunk received; nothing else after the headers. The keep-alive idle timeout is
uvicorn's own (KEEPALIVE_TIMEOUT_S → Config.timeout_keep_alive), and the connection cap is
the Acceptor's (aiproxy/acceptor.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _plain_response(status: bytes, reason: bytes) -> bytes:
    body = reason + b"\n"
    return (
        b"HTTP/1.1 " + status + b" " + reason + b"\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


TOO_LARGE = _plain_response(b"431", b"Request Header Fields Too Large")
TIMED_OUT = _plain_response(b"408", b"Request Timeout")


CLIENT_WATCH = "aiproxy.client_watch"


class ClientWatch:
    """One request's link to its connection: `task` (set by the application) is cancelled, and
    `gone` set, when the connection is lost before the answer is complete."""

    __slots__ = ("gone", "task")

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.gone = False

    def lost(self) -> None:
        self.gone = True
        if self.task is not None:
            self.task.cancel()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header-size cap and header/body read timeouts (class attributes,
    set once by `configured`)."""

    max_header_bytes = 65_536
    header_timeout_s = 10.0
    body_timeout_s = 30.0

    _headers_pending = True
    _header_bytes = 0
    _timer: asyncio.TimerHandle | None = None

    @classmethod
    def configured(
        cls, *, max_header_bytes: int, header_timeout_s: float, body_timeout_s: float
    ) -> type[GuardedHttpToolsProtocol]:
        attrs = {
            "max_header_bytes": max_header_bytes,
            "header_timeout_s": header_timeout_s,
            "body_timeout_s": body_timeout_s,
        }
        return type(cls.__name__, (cls,), attrs)

    # --- connection --------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            watch = cycle.scope.get("extensions", {}).get(CLIENT_WATCH)
            if watch is not None:
                watch.lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's data_received, except that a refusal from a parser callback (431) is not
        # answered a second time with its 400.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport.is_closing():
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self._headers_pending:
            # Headers still incomplete after this chunk: all of it was header bytes.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(TOO_LARGE)

    # --- parser callbacks ----------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {CLIENT_WATCH: ClientWatch()}
        self._headers_pending = True
        self._header_bytes = 0
        if self._timer is None:  # a following request on a kept-alive connection
            self._arm(self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._headers_pending = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:
            self._disarm()
            self._refuse(TOO_LARGE)
            raise _Refused
        self._arm(self.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # --- timers --------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, self._timed_out) if seconds > 0 else None

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answered = cycle is not None and not self._headers_pending and cycle.response_started
        received = self._header_bytes > 0 or not self._headers_pending
        if received and not answered:
            self.transport.write(TIMED_OUT)
        self.transport.close()

    def _refuse(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


class _Refused(Exception):  # noqa: N818 - a control-flow signal, not an error report
    """Raised from a parser callback to stop parsing (httptools wraps it as a callback error)."""
