"""Pod IPs, PURE: each pod gets its own address in 127.0.0.0/8, never one in use.

Linux routes the whole 127/8 to loopback, so every pod can bind the same port (8080) on its own
address, as pods do on a cluster. Addresses live in 127.1.0.1-127.255.255.254 (127.0.0.x stays
for the host's own servers); each tidal home starts at its own /16 block (`block_start`), so two
planes on one machine (tests, demos) rarely meet, and the runner also skips an address whose
ports something else already listens on. Each is persisted in `status.podIP`.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable

FIRST = int(ipaddress.IPv4Address("127.1.0.1"))
LAST = int(ipaddress.IPv4Address("127.255.255.254"))


def allocate(in_use: Iterable[str], start: str | None = None) -> str:
    """The lowest free address at or after `start` (default the first), wrapping around."""
    used = set(in_use)
    first = int(ipaddress.IPv4Address(start)) if start else FIRST
    first = min(max(first, FIRST), LAST)
    span = LAST - FIRST + 1
    for k in range(span):
        n = FIRST + (first - FIRST + k) % span
        if n & 0xFF in (0, 255):  # skip .0 and .255: they look like network/broadcast addresses
            continue
        ip = str(ipaddress.IPv4Address(n))
        if ip not in used:
            return ip
    raise RuntimeError("no free pod IP in 127.0.0.0/8")


def block_start(home: str) -> str:
    """The first address this tidal home hands out: `127.B.0.1`, B in 1..250 from its path."""
    return f"127.{1 + zlib.crc32(home.encode()) % 250}.0.1"
