"""Scheduling, PURE: does a pod fit on this node, and which GPUs does it get?

The one node is this machine. `nvidia.com/gpu` requests are always checked against the GPUs the
node has (NVML's list) minus those other pods hold; CPU and memory requests are only *recorded*
by default, so a laptop can run ten replicas of `--cpu=1` as the seed does. With
`enforce_capacity` (setting `enforceNodeCapacity` of the plane, docs/PODS.md) they are checked
against the node's capacity too, as the Kubernetes scheduler does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tidal.api import quantity

GPU = "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class Requests:
    """What a pod asks for (summed over its containers)."""

    cpu: Fraction = Fraction(0)  # cores
    memory: Fraction = Fraction(0)  # bytes
    gpus: int = 0


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    gpus: tuple[str, ...] = ()  # GPU indexes as CUDA_VISIBLE_DEVICES names them
    cpu: Fraction = Fraction(0)  # capacity, cores
    memory: Fraction = Fraction(0)  # capacity, bytes
    enforce_capacity: bool = False


@dataclass(frozen=True, slots=True)
class Placement:
    fits: bool
    gpus: tuple[str, ...] = ()
    message: str = ""  # the FailedScheduling message when it does not fit


def pod_requests(pod: dict[str, Any]) -> Requests:
    """Sum of the containers' requests (limits stand in for missing requests, as Kubernetes
    defaults them). Malformed quantities raise ValueError (validation rejects them earlier)."""
    cpu = mem = Fraction(0)
    gpus = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        req = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        if "cpu" in req:
            cpu += quantity.parse(req["cpu"])
        if "memory" in req:
            mem += quantity.parse(req["memory"])
        if GPU in req:
            gpus += int(quantity.parse(req[GPU]))
    return Requests(cpu, mem, gpus)


def schedule(
    req: Requests, node: Node, in_use: Iterable[Requests], gpus_in_use: Iterable[str]
) -> Placement:
    """Place `req` on `node` given what the running pods hold. GPUs go lowest index first."""
    taken = set(gpus_in_use)
    free = [g for g in node.gpus if g not in taken]
    short: list[str] = []
    if node.enforce_capacity:
        held = list(in_use)
        if req.cpu and sum((r.cpu for r in held), Fraction(0)) + req.cpu > node.cpu:
            short.append("cpu")
        if req.memory and sum((r.memory for r in held), Fraction(0)) + req.memory > node.memory:
            short.append("memory")
    if req.gpus > len(free):
        short.append(GPU)
    if short:
        reasons = ", ".join(f"1 Insufficient {r}" for r in sorted(short))
        return Placement(False, (), f"0/1 nodes are available: {reasons}.")
    return Placement(True, tuple(free[: req.gpus]))
