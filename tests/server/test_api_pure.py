"""Quantities, selectors, patches and validation messages: pure functions, table cases."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tidal.api import quantity
from tidal.api.meta import human_duration
from tidal.api.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tidal.api.selectors import parse_fields, parse_labels
from tidal.validation import validate

QUANTITIES = {
    "milli": ("100m", Fraction(1, 10)),
    "plain": ("2", Fraction(2)),
    "binary": ("200Mi", Fraction(200 * 2**20)),
    "decimal k": ("1.5k", Fraction(1500)),
    "exponent": ("2e3", Fraction(2000)),
    "nano": ("5n", Fraction(5, 10**9)),
    "negative": ("-1", Fraction(-1)),
}


@pytest.mark.parametrize(("text", "value"), list(QUANTITIES.values()), ids=list(QUANTITIES))
def test_quantity_parse(text: str, value: Fraction) -> None:
    assert quantity.parse(text) == value


@pytest.mark.parametrize("text", ["abc", "", "1.2.3Mi", "5 m", "Mi", "1Xi"])
def test_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="quantities must match"):
        quantity.parse(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(1, 10), "100m"),
        (Fraction(1), "1"),
        (Fraction(3, 2), "1500m"),
        (0, "0"),
        (Fraction(2000), "2k"),
        (Fraction(1, 4000), "250u"),
    ],
)
def test_quantity_format_decimal(value: Fraction, text: str) -> None:
    assert quantity.format_decimal(value) == text


def test_quantity_format_binary() -> None:
    assert quantity.format_binary(52 * 2**20) == "52Mi"
    assert quantity.format_binary(1500) == "1500"
    assert quantity.milli("1") == 1000


LABELS = {
    "equal": ("app=web", {"app": "web"}, True),
    "double equal": ("app==web", {"app": "api"}, False),
    "not equal absent": ("app!=web", {}, True),
    "in": ("tier in (a, b)", {"tier": "b"}, True),
    "notin": ("tier notin (a,b)", {"tier": "a"}, False),
    "exists": ("app", {"app": ""}, True),
    "not exists": ("!app", {"app": "x"}, False),
    "and": ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "a"}, True),
}


@pytest.mark.parametrize(("sel", "labels", "ok"), list(LABELS.values()), ids=list(LABELS))
def test_label_selector(sel: str, labels: dict[str, str], ok: bool) -> None:
    assert parse_labels(sel).matches(labels) is ok


def test_label_selector_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_labels("a b=c")


def test_field_selector() -> None:
    ev = {"involvedObject": {"name": "x", "kind": "Pod", "uid": "u"}, "metadata": {"name": "e"}}
    assert parse_fields("involvedObject.name=x,involvedObject.uid=u").matches(ev)
    assert not parse_fields("involvedObject.kind!=Pod").matches(ev)
    with pytest.raises(ValueError):
        parse_fields("nonsense")


def test_merge_patch_deletes_and_replaces_lists() -> None:
    got = merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None}, "l": [3]})
    assert got == {"a": {"c": 2}, "l": [3]}


def test_json_patch_ops_and_failed_test() -> None:
    doc = {"spec": {"replicas": 1, "l": [1]}}
    got = json_patch(
        doc,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/l/-", "value": 2},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
            {"op": "remove", "path": "/spec/l/0"},
        ],
    )
    assert got == {"spec": {"replicas": 3, "l": [2], "copy": 3}}
    assert doc == {"spec": {"replicas": 1, "l": [1]}}
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 9}])


def test_strategic_merge_patch_as_kubectl_sends_it() -> None:
    live = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "nginx:1.26",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "side", "image": "busybox"},
                    ]
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                            "env": [{"name": "B", "value": "3"}],
                            "image": "nginx:1.27",
                            "name": "main",
                        }
                    ],
                }
            }
        }
    }
    got = strategic_merge_patch(live, patch)
    containers = got["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["side", "main"]
    assert containers[1]["image"] == "nginx:1.27"
    assert containers[1]["env"] == [{"name": "B", "value": "3"}, {"name": "A", "value": "1"}]


def test_strategic_directives() -> None:
    live = {
        "containers": [{"name": "a"}, {"name": "b"}],
        "finalizers": ["x", "y"],
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "metrics": [{"type": "Resource"}],
    }
    patch = {
        "containers": [{"name": "a", "$patch": "delete"}],
        "$deleteFromPrimitiveList/finalizers": ["x"],
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "metrics": [{"type": "Pods"}],
    }
    got = strategic_merge_patch(live, patch)
    assert got == {
        "containers": [{"name": "b"}],
        "finalizers": ["y"],
        "strategy": {"type": "Recreate"},
        "metrics": [{"type": "Pods"}],
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45s"),
        (310, "5m10s"),
        (3600, "60m"),
        (3 * 3600 + 300, "3h5m"),
        (2 * 86400 + 4 * 3600, "2d4h"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_validation_messages_name_the_field() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "Bad_Name"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": "abc"}}}]},
    }
    fields = {c.field: c.message for c in validate(pod)}
    assert fields["metadata.name"].startswith(
        'Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'
    )
    assert "quantities must match" in fields["spec.containers[0].resources.requests[memory]"]
    svc = {"kind": "Service", "metadata": {"name": "1abc"}, "spec": {"ports": [{"port": 70000}]}}
    fields = {c.field: c.message for c in validate(svc)}
    assert "DNS-1035" in fields["metadata.name"]
    assert "between 1 and 65535" in fields["spec.ports[0].port"]


def test_protobuf_namespace_from_kubectl_create() -> None:
    from tidal.server.protobuf import ProtobufError, decode

    # `kubectl create ns foo` (kubectl 1.32), with a label added by hand
    meta = b"\x0a\x03foo\x12\x00\x1a\x00" + b"\x5a\x08\x0a\x01a\x12\x03b-c"
    raw = b"\x0a" + bytes([len(meta)]) + meta + b"\x12\x00\x1a\x00"
    env = b"\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12" + bytes([len(raw)]) + raw
    got = decode(b"k8s\x00" + env)
    assert got == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "foo", "labels": {"a": "b-c"}},
    }
    with pytest.raises(ProtobufError):
        decode(b"k8s\x00\x0a\x0f\x0a\x08batch/v1\x12\x03Job")
    with pytest.raises(ProtobufError):
        decode(b"{}")
