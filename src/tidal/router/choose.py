"""Endpoint choice, PURE: least outstanding requests, ties broken by rotation.

Envoy/NGINX-style "least_conn" over the requests this router has in flight to each endpoint.
Ties rotate from `start` (a counter the caller advances) so equal pods share load evenly
instead of the first one taking every request of an idle service.
"""

from __future__ import annotations

from collections.abc import Sequence


def choose(in_flight: Sequence[int], start: int = 0, exclude: frozenset[int] = frozenset()) -> int:
    """Index of the endpoint to send the next request to, or -1 when none is eligible.

    `in_flight[i]` is the number of requests outstanding to endpoint i; `exclude` holds indexes
    already tried for this request (a refused connect); among the least loaded, the first at or
    after `start` (cyclically) wins.
    """
    n = len(in_flight)
    best = -1
    best_load = 0
    for k in range(n):
        i = (start + k) % n
        if i in exclude:
            continue
        load = in_flight[i]
        if best < 0 or load < best_load:
            best, best_load = i, load
    return best
