"""A server-sent-event response that notices a client that went away, even between events.

Starlette's StreamingResponse on ASGI >= 2.4 only notices a gone client when a write fails, which
never happens while a request waits in the queue. This one listens for `http.disconnect` beside
the writer (as Starlette did for older ASGI) and calls `on_disconnect` so the sequence is aborted
and its context freed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.types import Receive, Scope, Send


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client disconnects (the body must already have been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStream:
    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes], on_disconnect: Callable[[], None]) -> None:
        self.events = events
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )

        async def write() -> None:
            async for chunk in self.events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        writer = asyncio.ensure_future(write())
        listener = asyncio.ensure_future(wait_disconnect(receive))
        try:
            done, _ = await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:
                try:
                    writer.result()
                except OSError:  # the client went away mid-write
                    self.on_disconnect()
            else:
                self.on_disconnect()
        finally:
            for task in (writer, listener):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                await aclose()
