"""GPU check: the real NVML path of the metrics pipeline, on a machine with an NVIDIA GPU.

Called by `benchmarks/gpu_check`. It starts a GPU process as a pod would run it (its own process
group, `CUDA_VISIBLE_DEVICES=0`): by default a spin kernel launched through the CUDA driver API
(`libcuda`, with ctypes; PTX compiled by the driver, so no torch or CUDA toolkit is needed), or
`--command CMD` (e.g. a vLLM server). A Registry with a Ready pod requesting `nvidia.com/gpu` and
the plane's `MetricsPipeline` on real NVML (`tidal.metrics.gpu.RealNvml` + `GpuCollector`) then
tick once a second, and the check reads `DCGM_CUSTOM_PROCESS_SM_UTIL` and
`DCGM_CUSTOM_PROCESS_MEM_USED` through `custom.metrics.k8s.io` (the API server app's `get_raw`),
with the device's `DCGM_FI_DEV_GPU_UTIL` and the PIDs NVML reports. Results go to
benchmarks/results/gpu.md.

Without a GPU (no NVML library, driver or device) it says so and exits 0, writing nothing.
`--fake` runs the same journey on the named fake NVML with a CPU-burning process instead: a dry
run of the plumbing for machines without a GPU (never written to the results).

    benchmarks/gpu_check [--seconds 20] [--command CMD] [--fake]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import Provenance

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu.md"
SM_UTIL = "DCGM_CUSTOM_PROCESS_SM_UTIL"
MEM_USED = "DCGM_CUSTOM_PROCESS_MEM_USED"
POD = ("default", "gpu-check")

# A kernel that spins on FMAs for `iters` rounds; PTX, compiled by the driver for the device.
PTX = r"""
.version 7.0
.target sm_50
.address_size 64
.visible .entry spin(.param .u64 out, .param .u32 iters)
{
  .reg .pred p;
  .reg .b32 r<4>;
  .reg .f32 f<3>;
  .reg .b64 rd<4>;
  ld.param.u64 rd1, [out];
  ld.param.u32 r1, [iters];
  mov.u32 r2, 0;
  mov.f32 f1, 0f3F800000;
  mov.f32 f2, 0f3F000000;
LOOP:
  fma.rn.f32 f1, f1, f2, f2;
  add.u32 r2, r2, 1;
  setp.lt.u32 p, r2, r1;
  @p bra LOOP;
  cvta.to.global.u64 rd2, rd1;
  mov.u32 r3, %tid.x;
  mul.wide.u32 rd3, r3, 4;
  add.u64 rd2, rd2, rd3;
  st.global.f32 [rd2], f1;
  ret;
}
"""

# The GPU workload, run as the pod's process: launch the spin kernel until killed.
WORKLOAD = r"""
import ctypes, sys
ptx = sys.stdin.read().encode() + b"\0"
cuda = ctypes.CDLL("libcuda.so.1")
def check(rc, what):
    if rc != 0:
        name = ctypes.c_char_p()
        cuda.cuGetErrorName(rc, ctypes.byref(name))
        sys.exit(f"{what} failed: {rc} {name.value}")
check(cuda.cuInit(0), "cuInit")
dev, ctx = ctypes.c_int(), ctypes.c_void_p()
check(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
check(cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
check(cuda.cuModuleLoadData(ctypes.byref(mod), ptx), "cuModuleLoadData")
check(cuda.cuModuleGetFunction(ctypes.byref(fn), mod, b"spin"), "cuModuleGetFunction")
buf = ctypes.c_uint64()
check(cuda.cuMemAlloc_v2(ctypes.byref(buf), ctypes.c_size_t(256 * 1024 * 1024)), "cuMemAlloc")
iters = ctypes.c_uint32(1 << 20)
args = (ctypes.c_void_p * 2)(
    ctypes.cast(ctypes.byref(buf), ctypes.c_void_p), ctypes.cast(ctypes.byref(iters), ctypes.c_void_p)
)
print("workload: running", flush=True)
while True:
    check(cuda.cuLaunchKernel(fn, 1024, 1, 1, 256, 1, 1, 0, None, args, None), "cuLaunchKernel")
    check(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
"""

BURN = "while True:\n    sum(range(10000))\n"


def nvml_facts() -> tuple[str | None, str]:
    """(None, facts) when NVML answers, else (why not, "")."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # no library, no driver: no GPU here
        return f"NVML is not available ({type(exc).__name__}: {exc})", ""
    try:
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            return "NVML found no GPU", ""
        names = []
        for i in range(count):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        return None, f"{count} GPU(s): {', '.join(names)}; driver {driver}"
    finally:
        pynvml.nvmlShutdown()


def start_workload(args: argparse.Namespace) -> subprocess.Popen[str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="0")
    if args.fake:
        cmd = [sys.executable, "-c", BURN]
    elif args.command:
        cmd = ["/bin/sh", "-c", args.command]
    else:
        cmd = [sys.executable, "-c", WORKLOAD]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as the pod runner starts pods
    )
    assert proc.stdin is not None
    if not args.fake and not args.command:
        proc.stdin.write(PTX)
    proc.stdin.close()
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


async def observe(args: argparse.Namespace, proc: subprocess.Popen[str]) -> dict[str, Any]:
    from tidal.api import errors
    from tidal.api.meta import rfc3339
    from tidal.metrics.pipeline import MetricsPipeline, MetricsSettings
    from tidal.server.app import ApiServer
    from tidal.server.inprocess import InProcessClient
    from tidal.server.registry import Registry

    home = Path(tempfile.mkdtemp(prefix="tidal-gpu-check-"))
    registry = Registry.open(home)
    app = ApiServer(registry, home, "gpu-check")
    client = InProcessClient(registry, raw=app.get_raw)
    settings = MetricsSettings(resolution_s=1.0, window_s=10.0, fake_gpus=1 if args.fake else None)
    pipeline = MetricsPipeline(client, home, settings, pod_roots=lambda: {POD: proc.pid})
    if pipeline.gpu is None:
        raise RuntimeError("the pipeline found no GPU backend (NVML did not open)")
    for gv, provider in pipeline.providers().items():
        app.register_api(gv, provider)
    now = time.time()
    pod = await client.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": POD[1],
                "namespace": POD[0],
                "labels": {"app": "gpu-check"},
                "annotations": {"prometheus.io/scrape": "false"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "gpu-check",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ]
            },
        }
    )
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "startTime": rfc3339(now),
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(now)}],
    }
    await client.update(pod, subresource="status")
    rows: list[dict[str, Any]] = []
    base = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods"
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.seconds:
            if proc.poll() is not None:
                raise RuntimeError(f"the GPU process exited with {proc.returncode}")
            await pipeline.tick()
            row: dict[str, Any] = {"t": round(time.monotonic() - started, 1)}
            for metric in (SM_UTIL, MEM_USED):
                try:
                    lst = await client.get_raw(
                        f"{base}/*/{metric}", params={"labelSelector": "app=gpu-check"}
                    )
                    row[metric] = lst["items"][0]["value"] if lst["items"] else None
                except errors.ApiError as exc:
                    row[metric] = f"{exc.code} {exc}"
            snap = pipeline.gpu.snapshot
            dev = snap.devices[0] if snap.devices else None
            row["device_util"] = dev.gpu_util if dev else None
            row["fb_used_mib"] = round(dev.fb_used_mib, 1) if dev and dev.fb_used_mib else None
            row["nvml_pids"] = (
                sorted(set(dev.process_sm_util) | set(dev.process_mem_mib)) if dev else []
            )
            rows.append(row)
            print(row, flush=True)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started) % 1.0))
        exporter = pipeline.gpu.exporter_text()
    finally:
        await pipeline.scraper.aclose()
        await pipeline.router.aclose()
        await pipeline.external.aclose()
        registry.close()
        shutil.rmtree(home, ignore_errors=True)
    return {"rows": rows, "exporter": exporter, "pid": proc.pid}


def quantity(v: Any) -> float | None:
    if not isinstance(v, str) or not v[:1].isdigit():
        return None
    return float(v[:-1]) / 1000 if v.endswith("m") else float(v)


def verdict(result: dict[str, Any]) -> tuple[bool, str]:
    rows = result["rows"][2:]  # the first samples may predate the kernel
    sm = [quantity(r.get(SM_UTIL)) for r in rows]
    seen = [v for v in sm if v is not None]
    pids = {p for r in rows for p in r["nvml_pids"]}
    if seen and max(seen) > 0:
        return True, f"{SM_UTIL} through the custom metrics API: max {max(seen):g} %"
    if pids and result["pid"] not in pids:
        return False, (
            f"NVML reports processes {sorted(pids)} but not the pod's PID {result['pid']}: "
            "this runs in a PID namespace NVML does not see into (a container); "
            "per-process attribution needs host PIDs"
        )
    return False, f"no {SM_UTIL} above 0 (values: {[r.get(SM_UTIL) for r in rows]})"


def write_results(
    args: argparse.Namespace,
    facts: str,
    result: dict[str, Any],
    ok: bool,
    why: str,
    prov: Provenance,
) -> None:
    lines = [
        prov.header("GPU metrics on real NVML").rstrip("\n"),
        "",
        f"Machine: {platform.node()}, {platform.system()} {platform.release()}, {facts}.",
        "",
        "Workload: "
        + (args.command or "a spin kernel (PTX through libcuda) on GPU 0")
        + f", PID {result['pid']}, as the pod `default/gpu-check` (limits `nvidia.com/gpu: 1`).",
        "",
        f"**Result: {'PASS' if ok else 'FAIL'}** — {why}.",
        "",
        f"| t (s) | {SM_UTIL} | {MEM_USED} | DCGM_FI_DEV_GPU_UTIL | FB used (MiB) | NVML PIDs |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['t']} | {r.get(SM_UTIL)} | {r.get(MEM_USED)} | {r['device_util']} | "
            f"{r['fb_used_mib']} | {r['nvml_pids']} |"
        )
    lines += [
        "",
        "The exporter's text at the end:",
        "",
        "```",
        result["exporter"].strip(),
        "```",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--command", help="the GPU process to run as the pod (default: a spin kernel)")
    ap.add_argument(
        "--fake", action="store_true", help="dry run on the fake NVML (CPU), no results"
    )
    args = ap.parse_args()
    prov = Provenance.start()
    facts = "fake NVML (1 fake GPU), CPU-burning process"
    if not args.fake:
        why_not, facts = nvml_facts()
        if why_not:
            print(
                f"gpu_check: no NVIDIA GPU here: {why_not}. Nothing to check; run it on a "
                "machine with an NVIDIA GPU and driver (or `--fake` for a dry run)."
            )
            return 0
    print(f"gpu_check: {facts}")
    proc = start_workload(args)
    try:
        result = asyncio.run(observe(args, proc))
    except RuntimeError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(proc)
    ok, why = verdict(result)
    print(f"gpu_check: {'PASS' if ok else 'FAIL'}: {why}")
    if not args.fake:
        write_results(args, facts, result, ok, why, prov)
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
