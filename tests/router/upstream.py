"""A tiny pod for router tests: `python tests/router/upstream.py HOST PORT NAME`.

GET /who → {"pod": NAME}; POST /echo → the body back; GET /sse → one event, then a second one
after GET /release; GET /hold → answers after GET /release (an in-flight request on demand).
"""

from __future__ import annotations

import asyncio
import sys

import orjson
import uvicorn

NAME = sys.argv[3]
released = asyncio.Event()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    path = scope["path"]

    async def answer(body: bytes, ctype: bytes = b"application/json") -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", ctype)]}
        )
        await send({"type": "http.response.body", "body": body})

    if path == "/who":
        await answer(orjson.dumps({"pod": NAME}))
    elif path == "/echo":
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        await answer(body, b"application/octet-stream")
    elif path == "/release":
        released.set()
        await answer(b'{"released":true}')
    elif path == "/hold":
        await released.wait()
        await answer(orjson.dumps({"pod": NAME, "held": True}))
    elif path == "/sse":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await released.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": False})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host=sys.argv[1],
        port=int(sys.argv[2]),
        log_level="warning",
        loop="uvloop",
        http="httptools",
    )
