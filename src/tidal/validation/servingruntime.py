"""ServingRuntime / ClusterServingRuntime (serving.kserve.io/v1alpha1) validation, as KServe's
CRD schema and webhook check one object: `supportedModelFormats[*]` (name required, `priority`
at least 1 — the CRD's `Minimum=1`, `autoSelect` a boolean, `version` a string), `containers`
(at least one, each named), `protocolVersions` among KServe's, `disabled` a boolean. (KServe's
webhook also compares priorities across runtimes; tidal's selection simply takes the highest.)
"""

from __future__ import annotations

from typing import Any

from tidal.api.errors import Cause
from tidal.validation.field import invalid, is_int, not_supported, required

PROTOCOLS = ("v1", "v2", "grpc-v1", "grpc-v2")


def default(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


def validate(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    causes: list[Cause] = []
    formats = spec.get("supportedModelFormats")
    if formats is not None and not isinstance(formats, list):
        causes.append(invalid("spec.supportedModelFormats", formats, "must be a list"))
        formats = []
    seen: dict[str, int] = {}
    for i, f in enumerate(formats or []):
        base = f"spec.supportedModelFormats[{i}]"
        if not isinstance(f, dict):
            causes.append(invalid(base, f, "must be an object"))
            continue
        name = f.get("name")
        if not isinstance(name, str) or not name:
            causes.append(required(f"{base}.name"))
        if f.get("version") is not None and not isinstance(f.get("version"), str):
            causes.append(invalid(f"{base}.version", f.get("version"), "must be a string"))
        if f.get("autoSelect") is not None and not isinstance(f.get("autoSelect"), bool):
            causes.append(invalid(f"{base}.autoSelect", f.get("autoSelect"), "must be a boolean"))
        prio = f.get("priority")
        if prio is not None:
            if not is_int(prio):
                causes.append(invalid(f"{base}.priority", prio, "must be an integer"))
            elif prio < 1:
                causes.append(
                    invalid(f"{base}.priority", prio, "should be greater than or equal to 1")
                )
            elif isinstance(name, str):
                if name in seen and seen[name] != prio:
                    causes.append(
                        invalid(
                            f"{base}.priority",
                            prio,
                            f"different priorities assigned for the model format {name}",
                        )
                    )
                seen.setdefault(name, prio)
    for i, v in enumerate(spec.get("protocolVersions") or []):
        if v not in PROTOCOLS:
            causes.append(not_supported(f"spec.protocolVersions[{i}]", v, PROTOCOLS))
    if spec.get("disabled") is not None and not isinstance(spec.get("disabled"), bool):
        causes.append(invalid("spec.disabled", spec.get("disabled"), "must be a boolean"))
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(required("spec.containers", "at least one container is required"))
    else:
        for i, c in enumerate(containers):
            if not isinstance(c, dict) or not c.get("name"):
                causes.append(required(f"spec.containers[{i}].name"))
    return causes
