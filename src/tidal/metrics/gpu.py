"""GPU metrics with DCGM's names, read through NVML (nvidia-ml-py), per device and per pod.

Per pod: `DCGM_CUSTOM_PROCESS_SM_UTIL` (sum of its processes' SM utilization, %) and
`DCGM_CUSTOM_PROCESS_MEM_USED` (MiB), as ACK's GPU exporter; per device: `DCGM_FI_DEV_GPU_UTIL`,
`DCGM_FI_DEV_FB_USED`, `DCGM_FI_DEV_FB_FREE` (MiB), as dcgm-exporter.

NVML's answers follow dcgm-exporter: NOT_FOUND from the process-utilization call means "no new
samples" (the timestamp cursor stays), NOT_SUPPORTED means no data, and a missing library or
driver means no GPUs at all. `FakeNvml` is the one fake: a machine without a GPU (CI) selects it
with `TIDAL_FAKE_GPUS=N` (or `tidal up --fake-gpus N`); its per-process SM utilization is the
process's CPU use, so load on a pod moves its "GPU" metric as a real GPU job would.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import psutil

MIB = 1024 * 1024
FAKE_GPUS_ENV = "TIDAL_FAKE_GPUS"


@dataclass(frozen=True, slots=True)
class Device:
    index: int
    uuid: str
    name: str


@dataclass(frozen=True, slots=True)
class DeviceSample:
    device: Device
    gpu_util: float | None  # %
    fb_used_mib: float | None
    fb_free_mib: float | None
    process_sm_util: Mapping[int, float]  # pid -> %
    process_mem_mib: Mapping[int, float]  # pid -> MiB


class NvmlBackend(Protocol):
    def devices(self) -> list[Device]: ...
    def sample(self, device: Device) -> DeviceSample: ...


class RealNvml:
    """nvidia-ml-py. Raises at construction when there is no library, driver or GPU."""

    def __init__(self) -> None:
        import pynvml

        self._nv = pynvml
        pynvml.nvmlInit()
        self._handles = [
            pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
        ]
        self._cursor: dict[int, int] = {}
        self._last_sm: dict[int, dict[int, float]] = {}

    def devices(self) -> list[Device]:
        nv = self._nv
        out = []
        for i, h in enumerate(self._handles):
            uuid = nv.nvmlDeviceGetUUID(h)
            name = nv.nvmlDeviceGetName(h)
            out.append(Device(i, _text(uuid), _text(name)))
        return out

    def sample(self, device: Device) -> DeviceSample:
        nv = self._nv
        h = self._handles[device.index]
        gpu_util = used = free = None
        try:
            gpu_util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
        except nv.NVMLError:
            pass
        try:
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            used, free = mem.used / MIB, mem.free / MIB
        except nv.NVMLError:
            pass
        sm = self._process_sm(device.index, h)
        mem_by_pid: dict[int, float] = {}
        for getter in (
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetComputeRunningProcesses",
        ):
            fn = getattr(nv, getter, None)
            if fn is None:
                continue
            try:
                for p in fn(h):
                    if p.usedGpuMemory is not None:
                        mem_by_pid[int(p.pid)] = p.usedGpuMemory / MIB
                break
            except nv.NVMLError:
                continue
        return DeviceSample(device, gpu_util, used, free, sm, mem_by_pid)

    def _process_sm(self, index: int, handle: object) -> dict[int, float]:
        nv = self._nv
        try:
            samples = nv.nvmlDeviceGetProcessUtilization(handle, self._cursor.get(index, 0))
        except nv.NVMLError as exc:
            if exc.value == nv.NVML_ERROR_NOT_FOUND:  # no new samples since the cursor
                return self._last_sm.get(index, {})
            return {}  # NOT_SUPPORTED and others: no data
        newest: dict[int, tuple[int, float]] = {}
        for s in samples:
            if s.pid not in newest or s.timeStamp > newest[s.pid][0]:
                newest[int(s.pid)] = (s.timeStamp, float(s.smUtil))
        if newest:
            self._cursor[index] = max(t for t, _ in newest.values())
        self._last_sm[index] = {pid: v for pid, (_, v) in newest.items()}
        return self._last_sm[index]


class FakeNvml:
    """A named fake for machines without a GPU (CI): N devices; a process is "on" device i when
    its CUDA_VISIBLE_DEVICES names i, and its SM utilization is its CPU use (capped at 100%)."""

    def __init__(self, count: int, memory_mib: float = 16384.0) -> None:
        self._devices = [
            Device(i, f"GPU-fake0000-0000-0000-0000-{i:012d}", "Tidal Fake GPU")
            for i in range(count)
        ]
        self.memory_mib = memory_mib
        self._procs: dict[int, psutil.Process] = {}

    def devices(self) -> list[Device]:
        return list(self._devices)

    def sample(self, device: Device) -> DeviceSample:
        sm: dict[int, float] = {}
        mem: dict[int, float] = {}
        for proc in psutil.process_iter(["pid"]):
            try:
                env = proc.environ()
            except (psutil.Error, OSError):
                continue
            visible = env.get("CUDA_VISIBLE_DEVICES", "")
            if str(device.index) not in visible.split(","):
                continue
            tracked = self._procs.setdefault(proc.pid, proc)
            try:
                sm[proc.pid] = min(100.0, tracked.cpu_percent(None))
                mem[proc.pid] = tracked.memory_info().rss / MIB
            except psutil.Error:
                continue
        self._procs = {pid: p for pid, p in self._procs.items() if pid in sm}
        used = min(self.memory_mib, sum(mem.values()))
        util = min(100.0, sum(sm.values()))
        return DeviceSample(device, util, used, self.memory_mib - used, sm, mem)


def open_backend(fake_gpus: int | None = None) -> NvmlBackend | None:
    """The fake when asked for (argument or TIDAL_FAKE_GPUS), else real NVML, else None."""
    if fake_gpus is None and os.environ.get(FAKE_GPUS_ENV):
        fake_gpus = int(os.environ[FAKE_GPUS_ENV])
    if fake_gpus:
        return FakeNvml(fake_gpus)
    try:
        return RealNvml()
    except Exception:  # no library, no driver, no device: a CPU machine
        return None


@dataclass(slots=True)
class GpuSnapshot:
    """One collection: per-device samples and per-pod sums (pods by (namespace, name))."""

    devices: list[DeviceSample] = field(default_factory=list)
    pod_sm_util: dict[tuple[str, str], float] = field(default_factory=dict)
    pod_mem_mib: dict[tuple[str, str], float] = field(default_factory=dict)
    pod_device: dict[tuple[str, str], int] = field(default_factory=dict)


def attribute(
    samples: Iterable[DeviceSample], pod_pids: Mapping[tuple[str, str], set[int]]
) -> GpuSnapshot:
    """PURE: sum per-process values into the pods that own the processes."""
    snap = GpuSnapshot(devices=list(samples))
    owner = {pid: pod for pod, pids in pod_pids.items() for pid in pids}
    for s in snap.devices:
        for pid, v in s.process_sm_util.items():
            if pid in owner:
                pod = owner[pid]
                snap.pod_sm_util[pod] = snap.pod_sm_util.get(pod, 0.0) + v
                snap.pod_device[pod] = s.device.index
        for pid, v in s.process_mem_mib.items():
            if pid in owner:
                pod = owner[pid]
                snap.pod_mem_mib[pod] = snap.pod_mem_mib.get(pod, 0.0) + v
                snap.pod_device.setdefault(pod, s.device.index)
    # a pod on a GPU with no sample yet reads 0, not "missing"
    return snap


def pod_process_ids(root_pids: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], set[int]]:
    """Each pod's whole process tree (root and descendants)."""
    out: dict[tuple[str, str], set[int]] = {}
    for pod, pid in root_pids.items():
        try:
            root = psutil.Process(pid)
            out[pod] = {pid, *(c.pid for c in root.children(recursive=True))}
        except psutil.Error:
            continue
    return out


class GpuCollector:
    """Samples every device and attributes processes to pods; keeps the newest snapshot."""

    def __init__(
        self,
        backend: NvmlBackend,
        pod_roots: Callable[[], Mapping[tuple[str, str], int]],
        pod_on_gpu: Callable[[], set[tuple[str, str]]] = set,
    ) -> None:
        self.backend = backend
        self.pod_roots = pod_roots
        self.pod_on_gpu = pod_on_gpu
        self.snapshot = GpuSnapshot()
        self.hostname = socket.gethostname()

    def collect(self) -> GpuSnapshot:
        samples = [self.backend.sample(d) for d in self.backend.devices()]
        snap = attribute(samples, pod_process_ids(self.pod_roots()))
        for pod in self.pod_on_gpu():
            snap.pod_sm_util.setdefault(pod, 0.0)
            snap.pod_mem_mib.setdefault(pod, 0.0)
        self.snapshot = snap
        return snap

    def exporter_text(self) -> str:
        """dcgm-exporter's text format and labels, so a Prometheus scrapes tidal as it would it."""
        return format_exporter(self.snapshot, self.hostname)


_HELP = {
    "DCGM_FI_DEV_GPU_UTIL": "GPU utilization (in %).",
    "DCGM_FI_DEV_FB_USED": "Framebuffer memory used (in MiB).",
    "DCGM_FI_DEV_FB_FREE": "Framebuffer memory free (in MiB).",
    "DCGM_CUSTOM_PROCESS_SM_UTIL": "SM utilization of the pod's processes (in %).",
    "DCGM_CUSTOM_PROCESS_MEM_USED": "GPU memory used by the pod's processes (in MiB).",
}


def format_exporter(snap: GpuSnapshot, hostname: str) -> str:
    """PURE: the snapshot in dcgm-exporter's exposition (labels gpu, UUID, device, modelName,
    Hostname, container, namespace, pod)."""
    by_index = {s.device.index: s for s in snap.devices}

    def labels(d: Device, ns: str = "", pod: str = "", container: str = "") -> str:
        return (
            f'gpu="{d.index}",UUID="{d.uuid}",device="nvidia{d.index}",modelName="{d.name}",'
            f'Hostname="{hostname}",container="{container}",namespace="{ns}",pod="{pod}"'
        )

    lines: list[str] = []

    def family(name: str, rows: list[str]) -> None:
        lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(rows)

    for name, attr in (
        ("DCGM_FI_DEV_GPU_UTIL", "gpu_util"),
        ("DCGM_FI_DEV_FB_USED", "fb_used_mib"),
        ("DCGM_FI_DEV_FB_FREE", "fb_free_mib"),
    ):
        rows = [
            f"{name}{{{labels(s.device)}}} {_num(getattr(s, attr))}"
            for s in snap.devices
            if getattr(s, attr) is not None
        ]
        family(name, rows)
    for name, values in (
        ("DCGM_CUSTOM_PROCESS_SM_UTIL", snap.pod_sm_util),
        ("DCGM_CUSTOM_PROCESS_MEM_USED", snap.pod_mem_mib),
    ):
        rows = []
        for (ns, pod), v in sorted(values.items()):
            dev = by_index.get(snap.pod_device.get((ns, pod), -1))
            if dev is None and snap.devices:
                dev = snap.devices[0]
            if dev is not None:
                rows.append(f"{name}{{{labels(dev.device, ns, pod, 'main')}}} {_num(v)}")
        family(name, rows)
    return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
    return "0" if v is None else (str(int(v)) if float(v).is_integer() else f"{v:.3f}")


def _text(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v
