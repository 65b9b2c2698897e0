"""GPU attribution and dcgm-exporter text, on hand-made NVML samples (no GPU on CI machines)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tidal.metrics.gpu import Device, DeviceSample, attribute, format_exporter

DEV = Device(0, "GPU-1234", "NVIDIA H200")


def test_attribute_sums_processes_into_pods() -> None:
    s = DeviceSample(DEV, 80.0, 1000.0, 2000.0, {10: 30.0, 11: 20.0, 99: 5.0}, {10: 512.0})
    snap = attribute([s], {("default", "qwen-a"): {10, 11}, ("default", "other"): {12}})
    assert snap.pod_sm_util == {("default", "qwen-a"): 50.0}
    assert snap.pod_mem_mib == {("default", "qwen-a"): 512.0}


def test_exporter_text_has_dcgm_names_and_labels() -> None:
    s = DeviceSample(DEV, 80.0, 1000.0, 2000.0, {10: 30.0}, {10: 512.0})
    snap = attribute([s], {("default", "qwen-a"): {10}})
    text = format_exporter(snap, "host1")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    util = fams["DCGM_FI_DEV_GPU_UTIL"].samples[0]
    assert (
        util.value == 80
        and util.labels["UUID"] == "GPU-1234"
        and util.labels["device"] == "nvidia0"
    )
    assert set(util.labels) == {
        "gpu",
        "UUID",
        "device",
        "modelName",
        "Hostname",
        "container",
        "namespace",
        "pod",
    }
    sm = fams["DCGM_CUSTOM_PROCESS_SM_UTIL"].samples[0]
    assert sm.labels["pod"] == "qwen-a" and sm.value == 30


def test_no_data_rows_are_left_out() -> None:
    s = DeviceSample(DEV, None, None, None, {}, {})
    text = format_exporter(attribute([s], {}), "h")
    assert "DCGM_FI_DEV_GPU_UTIL{" not in text
