"""Real upstream pods (uvicorn processes on their own 127.x addresses) for router tests."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import stop_process, wait_until

UPSTREAM = Path(__file__).with_name("upstream.py")


def free_addr() -> tuple[str, int]:
    """A random loopback address and a port free on it (parallel-safe)."""
    ip = f"127.{random.randint(100, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    with socket.socket() as s:
        s.bind((ip, 0))
        return ip, s.getsockname()[1]


def _accepts(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def start_pod() -> Iterator[Callable[[str], tuple[str, int, subprocess.Popen]]]:
    procs: list[subprocess.Popen] = []

    def start(name: str) -> tuple[str, int, subprocess.Popen]:
        ip, port = free_addr()
        proc = subprocess.Popen(
            [sys.executable, str(UPSTREAM), ip, str(port), name], start_new_session=True
        )
        procs.append(proc)
        wait_until(lambda: _accepts(ip, port), timeout_s=20, what=f"upstream {name}")
        return ip, port, proc

    try:
        yield start
    finally:
        for p in procs:
            stop_process(p)


BADPOD = Path(__file__).with_name("badpod.py")


@pytest.fixture
def start_bad_pod() -> Iterator[Callable[[str], tuple[str, int]]]:
    """A pod that resets every connection (`reset`) or never answers (`silent`)."""
    procs: list[subprocess.Popen] = []

    def start(mode: str) -> tuple[str, int]:
        ip, port = free_addr()
        proc = subprocess.Popen(
            [sys.executable, str(BADPOD), ip, str(port), mode], start_new_session=True
        )
        procs.append(proc)
        wait_until(lambda: _accepts(ip, port), timeout_s=20, what=f"bad pod ({mode})")
        return ip, port

    try:
        yield start
    finally:
        for p in procs:
            stop_process(p)
