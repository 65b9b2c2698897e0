"""The predictor's container (PURE): the user's own (`containers[0]`, or a `model` with a
`command`: arena's form), or the selected serving runtime's container merged with the model's
fields as KServe's `MergeRuntimeContainers` does (the model's fields win, its args are appended),
`{{.Name}}`/`{{.Namespace}}` filled in, and KServe's `/mnt/models` mapped onto this machine:

- a local `storageUri` (`file://`, `pvc://`, a plain path): that folder, read in place;
- a remote one (`http(s)://`, `s3://`): the pod's own `$(TIDAL_POD_DIR)/mnt/models`, filled by
  the storage step (`python -m tidal.storage URI DEST -- <runtime command>`) that runs first in
  the container's process, as KServe's storage-initializer init container does before the
  server starts (docs/STORAGE.md).
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

from tidal.kserve.runtimes import Selected, model_spec
from tidal.storage.uri import local_path

Obj = dict[str, Any]

CONTAINER = "kserve-container"
DEFAULT_PORT = 8080
MODEL_MOUNT = "/mnt/models"
POD_MODEL_DIR = "$(TIDAL_POD_DIR)/mnt/models"
_MODEL_ONLY = ("modelFormat", "storageUri", "runtime", "protocolVersion", "storage")
_PLACEHOLDER = re.compile(r"\{\{\s*\.(Name|Namespace)\s*\}\}")


def fill_placeholders(text: str, meta: Obj) -> str:
    """KServe's `ReplacePlaceholders` for the fields tidal fills: `{{.Name}}`, `{{.Namespace}}`."""
    values = {"Name": meta.get("name", ""), "Namespace": meta.get("namespace") or "default"}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _sub_path(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\w/.-]){re.escape(old)}(?=$|[/\s\"',;:=])", new, text)


def _map_strings(container: Obj, fn: Any) -> Obj:
    out = copy.deepcopy(container)
    for key in ("command", "args"):
        if out.get(key):
            out[key] = [fn(str(x)) for x in out[key]]
    for e in out.get("env") or []:
        if isinstance(e.get("value"), str):
            e["value"] = fn(e["value"])
    return out


def merge_containers(runtime: Obj, model: Obj) -> Obj:
    """The model's container fields over the runtime's: scalars and lists replaced, env merged
    by name, resources by key, args appended (KServe's MergeRuntimeContainers)."""
    out = copy.deepcopy(runtime)
    for key, value in model.items():
        if key in _MODEL_ONLY or key == "name":
            continue
        if key == "args":
            out["args"] = [*(runtime.get("args") or []), *value]
        elif key == "env":
            env = {e.get("name"): e for e in out.get("env") or []}
            for e in value or []:
                env[e.get("name")] = copy.deepcopy(e)
            out["env"] = list(env.values())
        elif key == "resources" and isinstance(value, dict):
            res = copy.deepcopy(out.get("resources") or {})
            for part, amounts in value.items():
                res.setdefault(part, {}).update(amounts or {})
            out["resources"] = res
        else:
            out[key] = copy.deepcopy(value)
    return out


def predictor_container(
    isvc: Obj,
    runtime: Selected | None = None,
    *,
    python: str = sys.executable,
    storage_env: list[Obj] | None = None,
) -> Obj | None:
    """The container the predictor's pods run; None when a `model` has no runtime (the
    InferenceService then reports why and gets no Deployment). `storage_env`: what KServe gives
    its storage initializer (`tidal.kserve.credentials.s3_env`); used when there is something
    to fetch, under the container's own env (which wins on a name both set)."""
    p = (isvc.get("spec") or {}).get("predictor") or {}
    if p.get("containers"):
        c = copy.deepcopy(p["containers"][0])
        c.setdefault("name", CONTAINER)
        return c
    model = model_spec(isvc) or {}
    if model.get(
        "command"
    ):  # a model with its own command runs it (arena --model-format + command)
        c = {k: copy.deepcopy(v) for k, v in model.items() if k not in _MODEL_ONLY}
        c["name"] = CONTAINER
        return c
    if runtime is None or not (runtime.spec.get("containers") or []):
        return None
    meta = isvc["metadata"]
    c = merge_containers(runtime.spec["containers"][0], model)
    c["name"] = CONTAINER
    c = _map_strings(c, lambda s: fill_placeholders(s, meta))
    if (c.get("command") or [None])[0] == "python":
        c["command"] = [python, *c["command"][1:]]
    uri = model.get("storageUri")
    if uri:
        local = local_path(uri)
        model_dir = local if local is not None else POD_MODEL_DIR
        c = _map_strings(c, lambda s: _sub_path(s, MODEL_MOUNT, model_dir))
        if local is None:  # the storage step fetches first, then runs the server in its place
            c["command"] = [python, "-m", "tidal.storage", uri, POD_MODEL_DIR, "--", *c["command"]]
            if storage_env:
                own = {e.get("name") for e in c.get("env") or []}
                extra = [copy.deepcopy(e) for e in storage_env if e.get("name") not in own]
                c["env"] = [*extra, *(c.get("env") or [])]
    c.setdefault("ports", [{"containerPort": DEFAULT_PORT, "protocol": "TCP"}])
    # a server that cannot load (or a storage step that cannot fetch) says why in its last
    # log lines: Kubernetes copies them into the container's termination message
    c.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    return c
