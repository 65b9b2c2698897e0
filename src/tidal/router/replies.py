"""The answers the router makes itself: JSON errors with a `reason`, and the lingering close.

`Replies` is a part of `ClientConn` (`tidal.router.conn`), apart so the protocol reads as
parsing and forwarding; its methods use the connection's fields.
"""

from __future__ import annotations

from typing import Any

import orjson

LINGER_S = 2.0  # how long an error answer's connection reads and drops what still comes
REASONS = {
    400: b"Bad Request",
    404: b"Not Found",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}

# The coarse clock (loop.time()), stamped by the router's sweep (`tidal.router.proxy`): a global
# here, as in each module that reads it per request, so a read costs one global load.
_now = 0.0


def json_response(code: int, body: dict[str, Any], keep_alive: bool) -> bytes:
    payload = orjson.dumps(body)
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (code, REASONS.get(code, b"Error")),
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(payload),
            b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n",
            payload,
        )
    )


class Replies:
    """A part of `ClientConn`: answers of its own, and closing the connection."""

    __slots__ = ()

    def _send_own(self, code: int, body: dict[str, Any]) -> None:
        """Answer with the router's own JSON (stats are the caller's business)."""
        self.discard = True
        if self.transport is None or self.closing:
            return
        self.transport.write(json_response(code, body, self.keep_alive))
        self.seen = _now
        if not self.keep_alive:
            self._close()
        elif self.req_done:
            self._reset()
            self.head_since = None

    def _fail(self, code: int, message: str) -> None:
        self._write_close(json_response(code, {"error": message}, False))

    def _write_close(self, data: bytes) -> None:
        """Answer, then a lingering close (nginx's): the write side is shut and what the
        client still sends is read and dropped for a moment, so a close with unread bytes
        (a reset) does not destroy the answer before the client reads it."""
        transport = self.transport
        if transport is None or self.closing:
            self._close()
            return
        transport.write(data)
        self.closing = self.lingering = True
        try:
            transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self._close()
            return
        self.loop.call_later(LINGER_S, self._close)

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()
