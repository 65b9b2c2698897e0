"""Readiness probes: HTTP GET (2xx/3xx = success), TCP connect, or exec, as the kubelet runs
them. One attempt per call; the runner owns the period and the thresholds."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str  # "http" | "tcp" | "exec" | "none"
    port: int = 0
    path: str = "/"
    host: str = ""
    scheme: str = "HTTP"
    command: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def _port(value: Any, container: dict[str, Any]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p.get("containerPort") or 0)
    raise ValueError(f"port {value!r} is not a number or a named container port")


def from_container(container: dict[str, Any]) -> Probe:
    """The container's readinessProbe, or the default: TCP on its first container port (ready
    as soon as it runs when it declares no port)."""
    spec = container.get("readinessProbe")
    if not spec:
        ports = container.get("ports") or []
        if ports and ports[0].get("containerPort"):
            return Probe(
                "tcp", port=int(ports[0]["containerPort"]), period_s=1.0, failure_threshold=1
            )
        return Probe("none")
    common = {
        "initial_delay_s": float(spec.get("initialDelaySeconds") or 0),
        "period_s": float(spec.get("periodSeconds") or 10),
        "timeout_s": float(spec.get("timeoutSeconds") or 1),
        "success_threshold": int(spec.get("successThreshold") or 1),
        "failure_threshold": int(spec.get("failureThreshold") or 3),
    }
    if "httpGet" in spec:
        h = spec["httpGet"] or {}
        headers = tuple((x.get("name", ""), x.get("value", "")) for x in h.get("httpHeaders") or [])
        return Probe(
            "http",
            port=_port(h.get("port"), container),
            path=h.get("path") or "/",
            host=h.get("host") or "",
            scheme=(h.get("scheme") or "HTTP").upper(),
            headers=headers,
            **common,
        )
    if "tcpSocket" in spec:
        t = spec["tcpSocket"] or {}
        return Probe(
            "tcp", port=_port(t.get("port"), container), host=t.get("host") or "", **common
        )
    if "exec" in spec:
        return Probe("exec", command=tuple((spec["exec"] or {}).get("command") or ()), **common)
    return Probe("none")


async def check(probe: Probe, pod_ip: str, env: dict[str, str] | None = None) -> bool:
    """One probe attempt against the pod."""
    host = probe.host or pod_ip
    try:
        if probe.kind == "tcp":
            _, w = await asyncio.wait_for(
                asyncio.open_connection(host, probe.port), probe.timeout_s
            )
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
            return True
        if probe.kind == "http":
            return await asyncio.wait_for(_http_get(probe, host), probe.timeout_s)
        if probe.kind == "exec":
            proc = await asyncio.create_subprocess_exec(
                *probe.command,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                return await asyncio.wait_for(proc.wait(), probe.timeout_s) == 0
            except TimeoutError:
                proc.kill()
                return False
        return True
    except (OSError, TimeoutError, ValueError):
        return False


async def _http_get(probe: Probe, host: str) -> bool:
    ssl = probe.scheme == "HTTPS" or None
    if ssl:
        import ssl as ssl_mod

        ctx = ssl_mod.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl_mod.CERT_NONE  # the kubelet does not verify probe certificates
        r, w = await asyncio.open_connection(host, probe.port, ssl=ctx)
    else:
        r, w = await asyncio.open_connection(host, probe.port)
    try:
        lines = [
            f"GET {probe.path} HTTP/1.1",
            f"Host: {host}:{probe.port}",
            "User-Agent: kube-probe/1.32",
            "Connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in probe.headers]
        w.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await w.drain()
        status = await r.readline()
        parts = status.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    finally:
        w.close()
