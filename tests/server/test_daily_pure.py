"""Pure parts behind issue 17's daily commands: the protobuf bodies kubectl 1.32 really sent
(captured from `kubectl create ...`, `autoscale`, `auth can-i`), the API server's request
attributes for /metrics, the self reviews, and the OpenAPI schemas agreeing with strict field
validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.api import openapi_schemas
from tidal.api.resources import RESOURCES
from tidal.autoscaling.predictive.spec import SEASONS, STRATEGIES
from tidal.pods.serviceaccount import Claims
from tidal.server import reviews
from tidal.server.openapi_kinds import kind_schema, schema_name
from tidal.server.protobuf import ProtobufError, decode
from tidal.server.request_metrics import Attributes, RequestMetrics, attributes
from tidal.server.schema import ANY, SCHEMAS

# kubectl 1.32's bodies, byte for byte
BODIES = {
    "create deployment y --image=busybox --port=8080 -- sleep 100": (
        "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412c1010a1b0a017912001a0022002a00"
        "3200380042005a080a036170701201791293010801120a0a080a036170701201791a7b0a1a0a0012001a00"
        "22002a003200380042005a080a03617070120179125d123f0a0762757379626f78120762757379626f781a"
        "05736c6565701a033130302a00320b0a00100018903f22002a0042006a007200800100880100900100a201"
        "001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c08001000"
        "18002000280038001a002200",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "y", "labels": {"app": "y"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "y"}},
                "template": {
                    "metadata": {"labels": {"app": "y"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "busybox",
                                "image": "busybox",
                                "command": ["sleep", "100"],
                                "ports": [{"containerPort": 8080}],
                            }
                        ]
                    },
                },
            },
        },
    ),
    "create configmap x --from-literal=a=b": (
        "6b3873000a0f0a0276311209436f6e6669674d6170121b0a110a017812001a0022002a0032003800420012"
        "060a01611201621a002200",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}},
    ),
    "create secret generic x --from-literal=a=b": (
        "6b3873000a0c0a0276311206536563726574121d0a110a017812001a0022002a0032003800420012060a01"
        "611201621a001a002200",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "Yg=="}},
    ),
    "autoscale deployment x --min=1 --max=3 --cpu-percent=50": (
        "6b3873000a290a0e6175746f7363616c696e672f76311217486f72697a6f6e74616c506f644175746f7363"
        "616c6572123b0a110a017812001a0022002a0032003800420012200a180a0a4465706c6f796d656e741201"
        "781a07617070732f76311001180320321a04180020001a002200",
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "x"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "x", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "maxReplicas": 3,
                "targetCPUUtilizationPercentage": 50,
            },
        },
    ),
    "create service clusterip sx --tcp=80:8080": (
        "6b3873000a0d0a02763112075365727669636512660a1d0a02737812001a0022002a003200380042005a09"
        "0a036170701202737812410a1b0a0738302d38303830120354435018502207080010903f1a00280012090a"
        "03617070120273781a002209436c757374657249503a00420052005a00600068001a020a001a002200",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sx", "labels": {"app": "sx"}},
            "spec": {
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                "selector": {"app": "sx"},
                "type": "ClusterIP",
            },
        },
    ),
    "create role r --verb=get,list --resource=pods,deployments.apps --resource-name=a": (
        "6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c6512"
        "4e0a110a017212001a0022002a0032003800420012160a036765740a046c69737412001a04706f64732201"
        "6112210a036765740a046c6973741204617070731a0b6465706c6f796d656e74732201611a002200",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r"},
            "rules": [
                {
                    "verbs": ["get", "list"],
                    "apiGroups": [""],
                    "resources": ["pods"],
                    "resourceNames": ["a"],
                },
                {
                    "verbs": ["get", "list"],
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "resourceNames": ["a"],
                },
            ],
        },
    ),  # fmt: skip
    "create rolebinding rb --role=r --serviceaccount=default:sa1 --user=u1 --group=g1": (
        "6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b526f6c6542"
        "696e64696e6712af010a120a02726212001a0022002a0032003800420012270a04557365721219726261632e"
        "617574686f72697a6174696f6e2e6b38732e696f1a027531220012280a0547726f75701219726261632e6175"
        "74686f72697a6174696f6e2e6b38732e696f1a026731220012200a0e536572766963654163636f756e741200"
        "1a03736131220764656661756c741a240a19726261632e617574686f72697a6174696f6e2e6b38732e696f12"
        "04526f6c651a01721a002200",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb"},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u1"},
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "g1"},
                {"kind": "ServiceAccount", "name": "sa1", "namespace": "default"},
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        },
    ),
    "auth can-i list pods -n team": (
        "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a6563"
        "74416363657373526576696577123a0a100a0012001a0022002a00320038004200121c0a1a0a047465616d"
        "12046c6973741a0022002a04706f647332003a001a08080012001a0020001a002200",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {
                "resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}
            },
        },
    ),
    "auth can-i --list": (
        "6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a6563"
        "7452756c657352657669657712230a100a0012001a0022002a0032003800420012090a0764656661756c74"
        "1a04180022001a002200",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "metadata": {},
            "spec": {"namespace": "default"},
        },
    ),
}


@pytest.mark.parametrize("command", list(BODIES))
def test_kubectl_protobuf_bodies(command: str) -> None:
    raw, want = BODIES[command]
    assert decode(bytes.fromhex(raw)) == want


def test_protobuf_refuses_what_it_does_not_decode() -> None:
    raw = bytes.fromhex(BODIES["create configmap x --from-literal=a=b"][0])
    # an extra field 9 with a value inside the ConfigMap: named, never dropped
    cm_at = raw.index(b"\x12\x1b")
    inner = raw[cm_at + 2 : cm_at + 2 + 0x1B] + b"\x4a\x01z"
    bad = raw[:cm_at] + b"\x12" + bytes([len(inner)]) + inner + raw[cm_at + 2 + 0x1B :]
    with pytest.raises(ProtobufError, match="field 9"):
        decode(bad)
    with pytest.raises(ProtobufError, match="not batch/v1 Job"):
        decode(b"k8s\x00\x0a\x0f\x0a\x08batch/v1\x12\x03Job")
    for junk in (b"k8s\x00\x0a\xff", b"k8s\x00\x0a\x05ab", b"{}"):
        with pytest.raises(ProtobufError):
            decode(junk)


@pytest.mark.parametrize(
    ("method", "path", "params", "want"),
    [
        ("GET", "/api/v1/namespaces/default/pods", {}, Attributes("LIST", "", "v1", "pods", "", "namespace")),
        ("GET", "/api/v1/namespaces/default/pods", {"watch": "true"}, Attributes("WATCH", "", "v1", "pods", "", "namespace")),
        ("GET", "/api/v1/namespaces/default/pods/p", {}, Attributes("GET", "", "v1", "pods", "", "resource")),
        ("GET", "/api/v1/namespaces/default/pods/p/log", {}, Attributes("CONNECT", "", "v1", "pods", "log", "resource")),
        ("POST", "/apis/apps/v1/namespaces/d/deployments", {"dryRun": "All"}, Attributes("POST", "apps", "v1", "deployments", "", "namespace", "All")),
        ("PUT", "/apis/apps/v1/namespaces/d/deployments/x/scale", {}, Attributes("PUT", "apps", "v1", "deployments", "scale", "resource")),
        ("DELETE", "/api/v1/namespaces/d/configmaps", {}, Attributes("DELETECOLLECTION", "", "v1", "configmaps", "", "namespace")),
        ("GET", "/api/v1/nodes", {}, Attributes("LIST", "", "v1", "nodes", "", "cluster")),
        ("GET", "/api/v1/nodes/n", {}, Attributes("GET", "", "v1", "nodes", "", "resource")),
        ("GET", "/version", {}, Attributes("GET")),
        ("GET", "/metrics", {}, Attributes("GET")),
        # made-up names never become label values
        ("GET", "/api/v1/namespaces/d/nonsense-123/x/y", {}, Attributes("GET", "", "v1", "", "", "resource")),
        ("GET", "/apis/made.up/v9/things", {}, Attributes("GET")),
    ],
)  # fmt: skip
def test_request_attributes(method: str, path: str, params: dict, want: Attributes) -> None:
    assert attributes(method, path, params) == want


def test_request_metrics_exposition() -> None:
    m = RequestMetrics()
    m.observe("POST", "/api/v1/namespaces/d/configmaps", {}, 201, 0.01)
    m.observe("POST", "/api/v1/namespaces/d/configmaps", {}, 201, 0.3)
    m.observe("GET", "/api/v1/namespaces/d/pods", {"watch": "1"}, 200, 0.0)
    text = m.exposition()
    labels = (
        'component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",'
        'subresource="",verb="POST",version="v1"'
    )
    assert f'apiserver_request_total{{code="201",{labels}}} 2' in text
    assert f'apiserver_request_duration_seconds_bucket{{{labels},le="0.025"}} 1' in text
    assert f'apiserver_request_duration_seconds_bucket{{{labels},le="0.4"}} 2' in text
    assert f"apiserver_request_duration_seconds_count{{{labels}}} 2" in text
    assert 'verb="WATCH"' in text  # counted, but no duration (the watch's own length)
    assert "apiserver_request_duration_seconds_count{" + labels.replace("POST", "WATCH") not in text


POD = Claims("team", "default", "web-1", "uid-1")


@pytest.mark.parametrize(
    ("who", "spec", "allowed"),
    [
        (reviews.Requester(), {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}, True),
        (reviews.Requester(POD), {"resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}}, True),
        (reviews.Requester(POD), {"resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods", "subresource": "log"}}, True),
        (reviews.Requester(POD), {"resourceAttributes": {"namespace": "team", "verb": "get", "resource": "secrets"}}, False),
        (reviews.Requester(POD), {"resourceAttributes": {"namespace": "team", "verb": "create", "group": "apps", "resource": "deployments"}}, False),
        (reviews.Requester(POD), {"resourceAttributes": {"namespace": "other", "verb": "list", "resource": "pods"}}, False),
        (reviews.Requester(POD), {"resourceAttributes": {"verb": "list", "resource": "pods"}}, False),
        (reviews.Requester(POD), {"resourceAttributes": {"verb": "create", "group": "authorization.k8s.io", "resource": "selfsubjectaccessreviews"}}, True),
        (reviews.Requester(POD), {"nonResourceAttributes": {"verb": "get", "path": "/version"}}, True),
        (reviews.Requester(POD), {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}, False),
        (reviews.Requester(POD), {}, False),
    ],
)  # fmt: skip
def test_access_review(who: reviews.Requester, spec: dict, allowed: bool) -> None:
    out = reviews.answer(who, "SelfSubjectAccessReview", {"spec": spec})
    assert out["status"]["allowed"] is allowed
    assert out["apiVersion"] == "authorization.k8s.io/v1" and out["spec"] == spec


def test_whoami_and_rules_review() -> None:
    admin = reviews.answer(reviews.Requester(), "SelfSubjectReview", {})
    assert admin["status"]["userInfo"]["username"] == "tidal-admin"
    pod = reviews.answer(reviews.Requester(POD), "SelfSubjectReview", {})["status"]["userInfo"]
    assert pod["username"] == "system:serviceaccount:team:default"
    assert pod["extra"]["authentication.kubernetes.io/pod-name"] == ["web-1"]
    own = reviews.rules(reviews.Requester(POD), "team")["resourceRules"]
    core = next(r for r in own if r["apiGroups"] == [""] and "get" in r["verbs"])
    assert "pods" in core["resources"] and "secrets" not in core["resources"]
    other = reviews.rules(reviews.Requester(POD), "kube-system")["resourceRules"]
    assert all(r["verbs"] == ["create"] for r in other)  # only the self reviews


def test_every_kind_has_a_schema_kubectl_explain_finds() -> None:
    names = set()
    for r in RESOURCES:
        s = kind_schema(r)
        assert s["x-kubernetes-group-version-kind"] == [
            {"group": r.group, "version": r.version, "kind": r.kind}
        ]
        assert s["description"] and s["properties"]["metadata"]["type"] == "object"
        names.add(schema_name(r))
        _structural(s, r.kind)
    assert len(names) == len(RESOURCES)
    assert schema_name(RESOURCES[0]) == "io.k8s.api.core.v1.Namespace"


def _structural(schema: dict, where: str) -> None:
    """Every array says its items, every field has a type or keeps unknown fields."""
    if schema.get("type") == "array":
        assert "items" in schema, where
        _structural(schema["items"], where + "[]")
    assert (
        "type" in schema
        or schema.get("x-kubernetes-preserve-unknown-fields")
        or schema.get("x-kubernetes-int-or-string")
    ), where
    for k, v in (schema.get("properties") or {}).items():
        _structural(v, f"{where}.{k}")


def _fields(schema: dict) -> object:
    """The field names of an OpenAPI schema, as tidal.server.schema writes them."""
    if schema.get("type") == "array":
        return [_fields(schema["items"])]
    props = schema.get("properties")
    if not props or schema.get("x-kubernetes-preserve-unknown-fields"):
        return ANY
    return {k: _fields(v) for k, v in props.items()}


def _names(node: object) -> object:
    if isinstance(node, list):
        return [_names(node[0])]
    if isinstance(node, dict):
        return {k: _names(v) for k, v in node.items()}
    return ANY


@pytest.mark.parametrize("kind", ["CronHorizontalPodAutoscaler", "Deployment", "Pod", "Service"])
def test_schema_and_strict_validation_name_the_same_fields(kind: str) -> None:
    r = next(r for r in RESOURCES if r.kind == kind)
    spec_schema = kind_schema(r)["properties"]["spec"]
    spec_fields = _names(SCHEMAS[kind]["spec"])
    got = _fields(spec_schema)
    if kind == "CronHorizontalPodAutoscaler":  # the CRD schema is its own; validation agrees
        assert set(got) == set(spec_fields)  # type: ignore[arg-type]
        assert set(got["jobs"][0]) == set(spec_fields["jobs"][0])  # type: ignore[index]
    else:  # derived from the same field names
        assert set(got) == set(spec_fields)  # type: ignore[arg-type]


def test_predictive_enums_match_the_controller() -> None:
    assert set(openapi_schemas.PREDICTIVE_SEASONS) == set(SEASONS)
    assert tuple(openapi_schemas.PREDICTIVE_STRATEGIES) == tuple(STRATEGIES)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(BODIES)), st.integers(min_value=4), st.binary(max_size=8))
def test_protobuf_damaged_bodies_are_refused_or_decoded(command: str, at: int, junk: bytes) -> None:
    """A damaged body is a ProtobufError (a 415) or an object, never another exception."""
    raw = bytes.fromhex(BODIES[command][0])
    at = 4 + at % (len(raw) - 4)
    try:
        got = decode(raw[:at] + junk + raw[at + len(junk) :])
    except ProtobufError:
        return
    assert isinstance(got, dict) and isinstance(got["metadata"], dict)
