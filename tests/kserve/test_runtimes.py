"""Tables for KServe's serving-runtime selection, the built-in runtimes and their upgrade."""

from __future__ import annotations

import copy

import pytest

from tidal.kserve.runtimes import (
    NoRuntime,
    Selected,
    builtin_runtimes,
    select_runtime,
    upgrade,
)


def rt(
    name: str,
    fmt: str = "xgboost",
    *,
    version: str | None = None,
    auto: bool | None = True,
    priority: int | None = None,
    protocols: list[str] | None = None,
    disabled: bool | None = None,
    created: str = "2026-01-01T00:00:00Z",
    kind: str = "ClusterServingRuntime",
) -> dict:
    f: dict = {"name": fmt}
    if version is not None:
        f["version"] = version
    if auto is not None:
        f["autoSelect"] = auto
    if priority is not None:
        f["priority"] = priority
    spec: dict = {"supportedModelFormats": [f], "containers": [{"name": "kserve-container"}]}
    if protocols is not None:
        spec["protocolVersions"] = protocols
    if disabled is not None:
        spec["disabled"] = disabled
    return {"kind": kind, "metadata": {"name": name, "creationTimestamp": created}, "spec": spec}


def isvc(fmt: str = "xgboost", **model: object) -> dict:
    m: dict = {"modelFormat": {"name": fmt}, "storageUri": "file:///m"}
    if "version" in model:
        m["modelFormat"]["version"] = model.pop("version")
    m.update(model)
    return {"metadata": {"name": "m", "namespace": "ns"}, "spec": {"predictor": {"model": m}}}


BUILTIN = builtin_runtimes()

# (case, isvc, namespace runtimes, cluster runtimes, expected name / (reason, error))
CASES = [
    ("sklearn → built-in", isvc("sklearn"), [], BUILTIN, "kserve-sklearnserver"),
    ("xgboost → built-in", isvc("xgboost"), [], BUILTIN, "kserve-xgbserver"),
    ("lightgbm → built-in", isvc("lightgbm"), [], BUILTIN, "kserve-lgbserver"),
    ("huggingface → built-in", isvc("huggingface"), [], BUILTIN, "kserve-huggingfaceserver"),
    (
        "xgboost v2 named, as KServe's docs",
        isvc("xgboost", protocolVersion="v2", runtime="kserve-xgbserver"),
        [],
        BUILTIN,
        "kserve-xgbserver",
    ),
    (
        "version that the runtime lists",
        isvc("xgboost", version="2"),
        [],
        BUILTIN,
        "kserve-xgbserver",
    ),
    (
        "version no runtime lists",
        isvc("xgboost", version="1"),
        [],
        BUILTIN,
        (
            "NoSupportingRuntime",
            "no runtime found to support predictor with model type: {xgboost 1}",
        ),
    ),
    (
        "unknown format",
        isvc("onnx"),
        [],
        BUILTIN,
        (
            "NoSupportingRuntime",
            "no runtime found to support predictor with model type: {onnx <nil>}",
        ),
    ),
    (
        "named runtime missing",
        isvc(runtime="nope"),
        [],
        BUILTIN,
        (
            "RuntimeNotRecognized",
            "No ServingRuntimes or ClusterServingRuntimes with the name: nope",
        ),
    ),
    (
        "named runtime disabled",
        isvc(runtime="a"),
        [],
        [rt("a", disabled=True)],
        ("RuntimeDisabled", "specified runtime a is disabled"),
    ),
    (
        "named runtime of another format",
        isvc(runtime="kserve-sklearnserver"),
        [],
        BUILTIN,
        (
            "NoSupportingRuntime",
            "specified runtime kserve-sklearnserver does not support specified framework/version",
        ),
    ),
    (
        "named runtime without the protocol",
        isvc(runtime="a", protocolVersion="v2"),
        [],
        [rt("a", protocols=["v1"])],
        (
            "NoSupportingRuntime",
            "specified runtime a does not support specified protocol version",
        ),
    ),
    ("autoSelect false: not chosen", isvc(), [], [rt("a", auto=False), rt("b")], "b"),
    ("autoSelect false: named works", isvc(runtime="a"), [], [rt("a", auto=False)], "a"),
    (
        "autoSelect false only",
        isvc(),
        [],
        [rt("a", auto=False)],
        (
            "NoSupportingRuntime",
            "no runtime found to support predictor with model type: {xgboost <nil>}",
        ),
    ),
    (
        "namespace before cluster",
        isvc(),
        [rt("ns-rt", kind="ServingRuntime")],
        [rt("a", priority=9)],
        "ns-rt",
    ),
    ("higher priority", isvc(), [], [rt("a", priority=1), rt("b", priority=2)], "b"),
    ("a priority before none", isvc(), [], [rt("a"), rt("b", priority=1)], "b"),
    (
        "newest first on a tie",
        isvc(),
        [],
        [rt("a", created="2026-01-01T00:00:00Z"), rt("b", created="2026-02-01T00:00:00Z")],
        "b",
    ),
    ("name on a full tie", isvc(), [], [rt("b"), rt("a")], "a"),
    (
        "lowest protocol first",
        isvc(),
        [],
        [rt("a", protocols=["v2"]), rt("b", protocols=["v1", "v2"])],
        "b",
    ),
    (
        "protocol v2 skips a v1-only runtime",
        isvc(protocolVersion="v2"),
        [],
        [rt("a", protocols=["v1"]), rt("b", protocols=["v2"])],
        "b",
    ),
    ("disabled skipped", isvc(), [], [rt("a", disabled=True, priority=5), rt("b")], "b"),
    (
        "multi-model skipped",
        isvc(),
        [],
        [{**rt("a", priority=5), "spec": {**rt("a")["spec"], "multiModel": True}}, rt("b")],
        "b",
    ),
]


@pytest.mark.parametrize(
    ("case", "obj", "ns", "cluster", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_select_runtime(case: str, obj: dict, ns: list, cluster: list, expected: object) -> None:
    got = select_runtime(obj, ns, cluster)
    if isinstance(expected, str):
        assert isinstance(got, Selected), got
        assert got.name == expected
        assert got.cluster == (not expected.startswith("ns-"))
    else:
        assert isinstance(got, NoRuntime), got
        assert (got.reason, got.error) == expected


def test_no_runtime_for_own_containers_and_commands() -> None:
    containers = {"metadata": {"name": "c"}, "spec": {"predictor": {"containers": [{"name": "x"}]}}}
    assert select_runtime(containers, [], BUILTIN) is None
    arena = isvc(command=["sh", "-c", "serve"])
    assert select_runtime(arena, [], BUILTIN) is None


def test_legacy_framework_predictor() -> None:
    legacy = {"metadata": {"name": "l"}, "spec": {"predictor": {"sklearn": {"storageUri": "/m"}}}}
    got = select_runtime(legacy, [], BUILTIN)
    assert isinstance(got, Selected) and got.name == "kserve-sklearnserver"


def test_builtins_are_kserves() -> None:
    by_name = {r["metadata"]["name"]: r for r in BUILTIN}
    assert set(by_name) == {
        "kserve-sklearnserver",
        "kserve-xgbserver",
        "kserve-lgbserver",
        "kserve-huggingfaceserver",
    }
    xgb = by_name["kserve-xgbserver"]["spec"]
    assert xgb["supportedModelFormats"] == [
        {"name": "xgboost", "version": "2", "autoSelect": True, "priority": 1}
    ]
    assert xgb["containers"][0]["args"] == [
        "--model_name={{.Name}}",
        "--model_dir=/mnt/models",
        "--http_port=8080",
        "--nthread=1",
    ]
    assert by_name["kserve-lgbserver"]["spec"]["supportedModelFormats"][0]["version"] == "4"


UPGRADE_CASES = [
    ("absent: created", None, "builtin"),
    ("unchanged: nothing to write", "builtin", None),
    (
        "args edited: the chart's come back",
        {"spec.containers": [{"name": "kserve-container", "args": ["--x"]}]},
        "reverted",
    ),
    ("disabled added: kept", {"spec.disabled": True}, "kept"),
    ("label added: kept", {"metadata.labels.team": "a"}, "kept"),
]


def _edit(base: dict, edits: dict) -> dict:
    out = copy.deepcopy(base)
    for path, value in edits.items():
        node = out
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("case", "live", "expected"), UPGRADE_CASES, ids=[c[0] for c in UPGRADE_CASES]
)
def test_upgrade_as_helm(case: str, live: object, expected: object) -> None:
    chart = BUILTIN[1]
    if live == "builtin":
        live_obj = {**copy.deepcopy(chart), "metadata": {**chart["metadata"], "uid": "u"}}
    elif isinstance(live, dict):
        live_obj = _edit(chart, live)
    else:
        live_obj = None
    got = upgrade(live_obj, chart)
    if expected is None:
        assert got is None
    elif expected == "builtin":
        assert got == chart
    elif expected == "reverted":
        assert got is not None and got["spec"]["containers"] == chart["spec"]["containers"]
    else:
        assert got is None  # a field only the user set is not the chart's business
        assert upgrade(_edit(live_obj, {"spec.containers": []}), chart)["spec"] == {
            **chart["spec"],
            **({"disabled": True} if "disabled" in case else {}),
        }


VALIDATION = [
    ("built-in is valid", BUILTIN[0], []),
    ("no spec", {"metadata": {"name": "x"}}, ["spec"]),
    (
        "bad format entries",
        {
            "spec": {
                "supportedModelFormats": [
                    {"version": 2, "autoSelect": "yes", "priority": 0},
                    {"name": "a", "priority": 1},
                    {"name": "a", "priority": 2},
                ],
                "containers": [{"name": "c"}],
            }
        },
        [
            "spec.supportedModelFormats[0].name",
            "spec.supportedModelFormats[0].version",
            "spec.supportedModelFormats[0].autoSelect",
            "spec.supportedModelFormats[0].priority",
            "spec.supportedModelFormats[2].priority",
        ],
    ),
    (
        "protocol, disabled, containers",
        {"spec": {"protocolVersions": ["v3"], "disabled": "no", "containers": [{}]}},
        ["spec.protocolVersions[0]", "spec.disabled", "spec.containers[0].name"],
    ),
    ("no containers", {"spec": {"supportedModelFormats": []}}, ["spec.containers"]),
]


@pytest.mark.parametrize(("case", "obj", "fields"), VALIDATION, ids=[v[0] for v in VALIDATION])
def test_validation(case: str, obj: dict, fields: list[str]) -> None:
    from tidal.validation.servingruntime import validate

    assert [c.field for c in validate(obj)] == fields
