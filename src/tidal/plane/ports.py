"""The plane's ports: a free one, a listening socket bound for the router, and an error that
names the process holding a port the plane needs."""

from __future__ import annotations

import contextlib
import errno
import socket

import psutil


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PortInUse(Exception):
    """A port the plane needs is held by another process (the message names both)."""


def port_owner(port: int) -> str:
    """`pid 123 (nginx)` for the process listening on `port`, when this user may see it."""
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
                with contextlib.suppress(psutil.Error):
                    return f"pid {c.pid} ({psutil.Process(c.pid).name()})"
                return f"pid {c.pid}"
    except (psutil.Error, OSError):
        pass
    return "another process"


def port_taken(port: int, what: str, flag: str) -> PortInUse:
    return PortInUse(
        f"the {what} port {port} is in use by {port_owner(port)}; stop it, or choose another "
        f"port with `tidal up {flag} N`"
    )


def bind_listener(port: int, what: str, flag: str, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on host:port, or `PortInUse` naming the port and its holder."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise port_taken(port, what, flag) from exc
        raise
    return sock
