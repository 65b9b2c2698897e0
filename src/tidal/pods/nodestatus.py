"""The one Node, this machine, as the kubelet registers it and keeps its status: capacity,
allocatable, the four conditions with heartbeats, addresses and node info. kubectl's `get nodes`,
`describe node` and `top nodes` read it. `render_node` is pure; `NodeHeartbeat` writes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from tidal import __version__
from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, Conflict, NotFound
from tidal.api.meta import rfc3339
from tidal.pods.schedule import GPU, Node

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.4"  # the API version the plane reports (`kubectl version`)
HEARTBEAT_S = 10.0  # the kubelet's nodeStatusUpdateFrequency
MAX_PODS = 110  # the kubelet's default --max-pods

# (type, reason, message) of each condition while the node is healthy, as the kubelet words them.
CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "KubeletReady", "kubelet is posting ready status"),
)


@dataclass(frozen=True, slots=True)
class MachineInfo:
    hostname: str
    boot_time: float
    kernel: str
    os_image: str
    arch: str

    @classmethod
    def read(cls) -> MachineInfo:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        try:
            os_image = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        except OSError:
            os_image = "Linux"
        return cls(socket.gethostname(), psutil.boot_time(), platform.release(), os_image, arch)


def render_node(node: Node, info: MachineInfo, now: float, since: float) -> Obj:
    """PURE: the Node object; conditions have held since `since` (the plane's start)."""
    capacity = {
        "cpu": str(int(node.cpu)) if node.cpu.denominator == 1 else f"{int(node.cpu * 1000)}m",
        "memory": f"{int(node.memory) // 1024}Ki",
        "pods": str(MAX_PODS),
        "ephemeral-storage": "0",
    }
    if node.gpus:
        capacity[GPU] = str(len(node.gpus))
    conditions = [
        {
            "type": type_,
            "status": "True" if type_ == "Ready" else "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": rfc3339(now),
            "lastTransitionTime": rfc3339(since),
        }
        for type_, reason, message in CONDITIONS
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": info.arch,
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": info.hostname},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": str(int(info.boot_time)),
                "kernelVersion": info.kernel,
                "osImage": info.os_image,
                "containerRuntimeVersion": f"tidal://{__version__}",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": info.arch,
            },
        },
    }


class NodeHeartbeat:
    """Registers the Node and posts its status every `period_s`, as the kubelet does."""

    def __init__(
        self,
        client: ApiClient,
        node: Node,
        *,
        period_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.node = node
        self.period_s = period_s
        self.clock = clock
        self.since = clock()
        self.info = MachineInfo.read()

    async def post(self) -> None:
        want = render_node(self.node, self.info, self.clock(), self.since)
        try:
            have = await self.client.get("Node", self.node.name)
        except NotFound:
            have = await self.client.create(want)
        if have.get("metadata", {}).get("labels") != want["metadata"]["labels"]:
            have["metadata"]["labels"] = want["metadata"]["labels"]
            have = await self.client.update(have)
        have["status"] = want["status"]
        await self.client.update(have, subresource="status")

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Conflict):
                try:
                    await self.post()
                except ApiError as exc:
                    log.warning("node status: %s", exc)
            await asyncio.sleep(self.period_s)
