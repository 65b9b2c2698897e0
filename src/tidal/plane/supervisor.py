"""The router process as the plane supervises it: started in its own session (or adopted when a
live one of ours answers), a spare waiting to take over, restarts with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from tidal.home import ROUTER_PID, PlaneConfig, alive, pid_record, read_json, write_json
from tidal.plane.ports import PortInUse, bind_listener
from tidal.pods import backoff

log = logging.getLogger("tidal.plane")

ROUTER_PORTS = "router.ports"


class RouterSupervisor:
    """Runs the router in its own session, or adopts a live one that answers as ours, and
    restarts it at once when it dies (with back-off when it keeps dying:
    `tidal.pods.backoff.supervised_restart`).

    The plane binds the ingress and admin ports itself and passes the listening sockets to the
    router: a port held by someone else is a clear start-up error, and while the router restarts
    the kernel queues new connections instead of refusing them. Its exit is noticed through a
    pidfd (no polling), and a spare router (`--standby`: started, imports done, waiting on its
    stdin) takes over at once, so a killed router routes again in tens of milliseconds rather
    than a Python start-up; a new spare is started after it. A spare whose plane dies sees end
    of file on its stdin and exits.
    """

    def __init__(self, home: Path, cfg: PlaneConfig) -> None:
        self.home = home
        self.cfg = cfg
        self.proc: subprocess.Popen[bytes] | None = None
        self.spare: subprocess.Popen[bytes] | None = None
        self.record: dict[str, Any] | None = None
        self.socks: list[socket.socket] = []
        self.failures = 0
        self.started_at = time.monotonic()
        self.restarts = 0

    def _matches(self, rec: dict[str, Any]) -> bool:
        return (
            rec.get("port") == self.cfg.ingress_port
            and rec.get("admin_port") == self.cfg.admin_port
        )

    def _token(self) -> str:
        try:
            return (self.home / "token").read_text().strip()
        except OSError:
            return ""

    def answers_as_ours(self, rec: dict[str, Any]) -> bool:
        """The router on the admin port says it is the recorded process on our ports (an
        identifying request with the plane's token, not just an open port)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.cfg.admin_port}/healthz",
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=3) as resp:
                doc = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        return (
            doc.get("pid") == rec.get("pid")
            and doc.get("port") == self.cfg.ingress_port
            and doc.get("admin_port") == self.cfg.admin_port
        )

    def claim(self) -> None:
        """At plane start: adopt a live router of ours, else bind its ports (`PortInUse`)."""
        rec = read_json(self.home / ROUTER_PID)
        if alive(rec) and rec is not None:
            if self._matches(rec) and self.answers_as_ours(rec):
                log.info("adopted router pid %s", rec["pid"])
                self.record = rec
                return
            log.info("router pid %s has other ports or does not answer; replacing it", rec["pid"])
            self._kill(rec)
        self._bind()

    def _bind(self) -> None:
        if not self.socks:
            ingress = bind_listener(self.cfg.ingress_port, "ingress", "--ingress-port")
            try:
                admin = bind_listener(self.cfg.admin_port, "router admin", "--admin-port")
            except Exception:
                ingress.close()
                raise
            self.socks = [ingress, admin]

    def ensure(self) -> None:
        """Start the router unless one (adopted or ours) runs."""
        if alive(self.record):
            return
        self._bind()
        self._start()

    def _argv(self, standby: bool) -> list[str]:
        ingress, admin = self.socks
        return [
            sys.executable,
            "-m",
            "tidal.router",
            "--kubeconfig",
            str(self.home / "kubeconfig"),
            "--port",
            str(self.cfg.ingress_port),
            "--admin-port",
            str(self.cfg.admin_port),
            "--listen-fd",
            str(ingress.fileno()),
            "--admin-fd",
            str(admin.fileno()),
            "--admin-token-file",
            str(self.home / "token"),
            "--state-file",
            str(self.home / "router-state.json"),
            "--ports-file",
            str(self.home / ROUTER_PORTS),
            *(["--standby"] if standby else []),
        ]

    def _spawn(self, standby: bool) -> subprocess.Popen[bytes]:
        log_file = open(self.home / "router.log", "ab")
        try:
            return subprocess.Popen(
                self._argv(standby),
                stdin=subprocess.PIPE if standby else subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                pass_fds=tuple(s.fileno() for s in self.socks),
            )
        finally:
            log_file.close()

    def _promote_spare(self) -> subprocess.Popen[bytes] | None:
        spare, self.spare = self.spare, None
        if spare is None or spare.poll() is not None or spare.stdin is None:
            return None
        try:
            spare.stdin.write(b"g")
            spare.stdin.flush()
        except OSError:
            return None
        return spare

    def refill(self) -> None:
        """Keep one spare router waiting (when this plane owns the sockets)."""
        if self.socks and (self.spare is None or self.spare.poll() is not None):
            self.spare = self._spawn(standby=True)

    def _start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.home / ROUTER_PORTS).unlink()
        self.proc = self._promote_spare() or self._spawn(standby=False)
        self.started_at = time.monotonic()
        rec = pid_record(self.proc.pid)
        rec.update(port=self.cfg.ingress_port, admin_port=self.cfg.admin_port)
        write_json(self.home / ROUTER_PID, rec)
        self.record = rec
        log.info("started router pid %s on :%s", self.proc.pid, self.cfg.ingress_port)

    async def wait_ready(self, timeout_s: float = 30.0) -> None:
        """The router we started wrote its ports file (it listens and routes), or the adopted
        one runs; else an error naming what happened (from router.log)."""
        if self.proc is None:
            if alive(self.record):
                return
            raise RuntimeError("the adopted router is gone")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ports = read_json(self.home / ROUTER_PORTS)
            if ports and ports.get("pid") == self.proc.pid:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the router exited (code {self.proc.returncode}) at start-up; "
                    f"{self.home / 'router.log'} ends with: {_last_line(self.home / 'router.log')}"
                )
            await asyncio.sleep(0.02)
        raise RuntimeError(f"the router did not start in {timeout_s:.0f}s (see router.log)")

    def _kill(self, rec: dict[str, Any], grace_s: float = 5.0) -> None:
        try:
            p = psutil.Process(int(rec["pid"]))
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(grace_s)
        except psutil.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(int(rec["pid"]), signal.SIGKILL)
        except (psutil.Error, OSError):
            pass
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.wait(1)

    def _stop_spare(self) -> None:
        spare, self.spare = self.spare, None
        if spare is not None:
            with contextlib.suppress(OSError):
                if spare.stdin is not None:
                    spare.stdin.close()  # end of file: the spare exits by itself
            try:
                spare.wait(5)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait(5)

    def stop(self) -> None:
        self._stop_spare()
        if self.record and alive(self.record):
            self._kill(self.record)
        for s in self.socks:
            s.close()
        self.socks = []
        for name in (ROUTER_PID, ROUTER_PORTS):
            with contextlib.suppress(FileNotFoundError):
                (self.home / name).unlink()

    def abandon(self) -> None:
        """A failed plane start: stop the router this plane started and close its sockets; an
        adopted router keeps serving (as after a kill -9 of the plane)."""
        self._stop_spare()
        if self.proc is not None and self.record and alive(self.record):
            self._kill(self.record)
        for s in self.socks:
            s.close()
        self.socks = []

    async def _exited(self) -> None:
        """Returns when the recorded router process has exited (pidfd; polling as a fallback)."""
        rec = self.record
        if not alive(rec) or rec is None:
            return
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(int(rec["pid"]))
        except (OSError, AttributeError):
            while alive(rec):
                await asyncio.sleep(0.05)
            return
        try:
            if not alive(rec):  # gone between the check and the pidfd (or a reused pid)
                return
            done = loop.create_future()
            loop.add_reader(fd, lambda: done.done() or done.set_result(None))
            try:
                await done
            finally:
                loop.remove_reader(fd)
        finally:
            os.close(fd)

    async def supervise(self) -> None:
        while True:
            try:
                self.refill()
            except OSError as exc:
                log.warning("cannot start a spare router: %s", exc)
            await self._exited()
            if self.proc is not None:
                self.proc.poll()  # reap our child
            ran = time.monotonic() - self.started_at
            self.failures, wait = backoff.supervised_restart(self.failures, ran)
            log.warning(
                "router pid %s exited; restarting it%s",
                (self.record or {}).get("pid"),
                f" in {wait:g}s ({self.failures} quick exits in a row)" if wait else "",
            )
            if wait:
                await asyncio.sleep(wait)
            try:
                self.record = None
                self.ensure()
                self.restarts += 1
            except PortInUse as exc:  # an adopted router's port taken meanwhile
                log.error("cannot restart the router: %s", exc)
                self.started_at = time.monotonic()
            except Exception:
                log.exception("router supervision")
                self.started_at = time.monotonic()


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""
