"""A misbehaving pod for router fault tests: `python tests/router/badpod.py HOST PORT MODE`.

MODE `reset`: accepts every connection and resets it at once (RST), as a pod killed with -9 or
a crashing server does. MODE `silent`: accepts and reads requests but never answers (a hung
model server).
"""

from __future__ import annotations

import socket
import struct
import sys
import threading


def main() -> None:
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1024)
    while True:
        conn, _ = srv.accept()
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        else:
            threading.Thread(target=_drain, args=(conn,), daemon=True).start()


def _drain(conn: socket.socket) -> None:
    with conn:
        while conn.recv(65536):
            pass


if __name__ == "__main__":
    main()
