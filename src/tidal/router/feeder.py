"""Keeps the routing table in step with the API: list + watch Services and Endpoints.

Level-triggered: every (re)list replaces what the table holds for that kind; a watch applies
changes; `Gone` relists. When the API cannot be reached the table is left as it is, so the
router keeps serving the endpoints it knows, and the feeder retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging

from tidal.api.client import ApiClient
from tidal.api.errors import ApiError, Gone, TidalError
from tidal.router.table import RoutingTable

log = logging.getLogger("tidal.router.feeder")


class Feeder:
    def __init__(
        self,
        client: ApiClient,
        table: RoutingTable,
        *,
        retry_s: float = 0.5,
        retry_max_s: float = 5.0,
    ) -> None:
        self.client = client
        self.table = table
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.synced = asyncio.Event()
        self._synced_kinds: set[str] = set()

    async def run(self) -> None:
        await asyncio.gather(self._follow("Service"), self._follow("Endpoints"))

    async def _follow(self, kind: str) -> None:
        delay = self.retry_s
        while True:
            try:
                listed = await self.client.list(kind)
                self.table.replace_all(kind, listed.get("items") or [])
                self._synced_kinds.add(kind)
                if len(self._synced_kinds) == 2:
                    self.synced.set()
                delay = self.retry_s
                rv = (listed.get("metadata") or {}).get("resourceVersion")
                async for typ, obj in self.client.watch(kind, resource_version=rv):
                    if typ in ("ADDED", "MODIFIED"):
                        self.table.apply({**obj, "kind": kind})
                    elif typ == "DELETED":
                        self.table.delete({**obj, "kind": kind})
                    elif typ == "ERROR":
                        break
                continue  # the watch ended (server timeout): relist and watch again
            except Gone:
                continue
            except asyncio.CancelledError:
                raise
            except (TidalError, ApiError, OSError) as exc:
                log.warning("watch %s: %s; keeping the table, retrying in %.1fs", kind, exc, delay)
            except Exception:  # a bug in a watch must not take the data plane down
                log.exception("watch %s failed", kind)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)
