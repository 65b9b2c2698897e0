"""A watch on a collection as a stream of JSON lines (one event per line, flushed), or of
Tables for `kubectl get -w`; `timeoutSeconds` ends it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson

from tidal.api import params
from tidal.api.errors import Gone
from tidal.api.resources import ResourceType
from tidal.server import tables
from tidal.server.asgi import JSON, TABLE_CT, Request, Stream

if TYPE_CHECKING:
    from tidal.server.app import ApiServer

WATCH_TIMEOUT_MAX_S = 365 * 24 * 3600  # a longer `timeoutSeconds` is as good as none


def watch(app: ApiServer, req: Request, r: ResourceType, namespace: str | None) -> Stream:
    p = req.params
    timeout = params.int_param(p, "timeoutSeconds")
    if timeout is not None:
        timeout = min(timeout, WATCH_TIMEOUT_MAX_S)
    as_table = req.wants_table
    include = params.choice_param(p, "includeObject", params.INCLUDE_OBJECT, "Metadata")
    try:
        events = app.registry.watch(
            r.kind,
            namespace,
            resource_version=p.get("resourceVersion") or None,
            label_selector=p.get("labelSelector"),
            field_selector=p.get("fieldSelector"),
        )
    except Gone as err:  # as kube-apiserver: a 200 stream with one ERROR event
        status = err.to_status()

        async def expired() -> AsyncIterator[bytes]:
            yield orjson.dumps({"type": "ERROR", "object": status}) + b"\n"

        return Stream(expired())

    async def chunks() -> AsyncIterator[bytes]:
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        first = True
        it = events.__aiter__()
        try:
            while True:
                if deadline is None:
                    etype, body = await it.__anext__()
                else:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        return
                    try:
                        etype, body = await asyncio.wait_for(it.__anext__(), left)
                    except TimeoutError:
                        return
                if as_table:
                    obj = orjson.loads(body)
                    tbl = tables.table(
                        r.kind,
                        [obj],
                        app.clock(),
                        resource_version=obj["metadata"].get("resourceVersion", ""),
                        include=include,
                        headers=first,
                    )
                    first = False
                    yield orjson.dumps({"type": etype, "object": tbl}) + b"\n"
                else:
                    yield b'{"type":"' + etype.encode() + b'","object":' + body + b"}\n"
        except StopAsyncIteration:
            return
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    return Stream(chunks(), TABLE_CT if as_table else JSON)
