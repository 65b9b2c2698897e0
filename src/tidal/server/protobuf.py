"""The little of Kubernetes' protobuf encoding that kubectl's typed clients force on us: `kubectl
create namespace|deployment|configmap|secret|service|serviceaccount|role|rolebinding|
clusterrole|clusterrolebinding`, `autoscale` and `auth can-i|whoami` POST
`application/vnd.kubernetes.protobuf` and never fall back to JSON. We decode the envelope
(`k8s\\0` + runtime.Unknown) and, for the kinds in `KINDS`, the fields those commands can set,
by field number as in k8s.io/api's generated.proto. Go's encoder writes every non-pointer field,
zero or not, so a zero scalar or an empty message means "not set". A field we do not decode that
carries a value is a ProtobufError (the API answers 415), never silently dropped."""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"

# A field's type: "s" string, "i" int (0 = unset), "p" pointer int (present = set), "b" bool,
# "pb" pointer bool, "ios" IntOrString (a port number or name), "skip" (server-owned, ignored), ("m", MESSAGE), ("r", TYPE) repeated,
# ("map", "s"|"y"|"q") map<string, string|bytes (base64)|Quantity>.
Field = tuple[str, Any]
Message = dict[int, Field]


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(data):
            raise ProtobufError("truncated varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: varints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((num, value))
        elif wire == 2:
            length, i = _varint(data, i)
            if i + length > len(data):
                raise ProtobufError("truncated field")
            out.append((num, data[i : i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("a string field holds a number")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ProtobufError("a string field is not UTF-8") from None


def _map_entry(value: int | bytes, kind: str) -> tuple[str, Any]:
    if not isinstance(value, bytes):
        raise ProtobufError("a map entry holds a number")
    kv = dict(fields(value))
    key = _text(kv.get(1, b""))
    raw = kv.get(2, b"")
    if not isinstance(raw, bytes):
        raise ProtobufError("a map value holds a number")
    if kind == "y":
        return key, base64.b64encode(raw).decode()
    if kind == "q":
        return key, _text(dict(fields(raw)).get(1, b""))
    return key, _text(raw)


def _value(value: int | bytes, ftype: Field | str, path: str) -> Any:
    """One field's JSON value; None when it says "unset"."""
    if isinstance(ftype, tuple) and ftype[0] == "m":
        if not isinstance(value, bytes):
            raise ProtobufError(f"{path} holds a number")
        return message(value, ftype[1], path) or None
    if ftype == "s":
        return _text(value) or None
    if ftype == "ios":
        if not isinstance(value, bytes):
            raise ProtobufError(f"{path} holds a number")
        parts = dict(fields(value))
        if not parts:
            return None
        if parts.get(1):  # type 1: a string
            return _text(parts.get(3, b""))
        number = parts.get(2, 0)
        if isinstance(number, bytes):
            raise ProtobufError(f"{path} holds bytes, not a number")
        return _signed(number)
    if ftype in ("i", "p", "b", "pb"):
        if isinstance(value, bytes):
            raise ProtobufError(f"{path} holds bytes, not a number")
        if ftype == "i":
            return _signed(value) or None
        if ftype == "p":
            return _signed(value)
        if ftype == "b":
            return True if value else None
        return bool(value)
    raise ProtobufError(f"{path}: unknown field type {ftype!r}")


def message(data: bytes, desc: Message, path: str = "") -> dict[str, Any]:
    """A JSON object from one message described by `desc`."""
    out: dict[str, Any] = {}
    for num, value in fields(data):
        entry = desc.get(num)
        if entry is None:
            if value in (0, b""):
                continue
            raise ProtobufError(f"field {num} of {path or 'the object'} is not decoded")
        name, ftype = entry
        where = f"{path}.{name}" if path else name
        if ftype == "skip":
            continue
        if isinstance(ftype, tuple) and ftype[0] == "map":
            key, val = _map_entry(value, ftype[1])
            out.setdefault(name, {})[key] = val
        elif isinstance(ftype, tuple) and ftype[0] == "r":
            if ftype[1] == "s":
                item: Any = _text(value)
            else:
                item = _value(value, ftype[1], where)
                item = {} if item is None else item
            out.setdefault(name, []).append(item)
        else:
            got = _value(value, ftype, where)
            if got is not None:
                out[name] = got
    return out


def _m(desc: Message) -> Field:
    return ("m", desc)


META: Message = {
    1: ("name", "s"),
    2: ("generateName", "s"),
    3: ("namespace", "s"),
    4: ("selfLink", "skip"),
    5: ("uid", "skip"),
    6: ("resourceVersion", "skip"),
    7: ("generation", "skip"),
    8: ("creationTimestamp", "skip"),
    9: ("deletionTimestamp", "skip"),
    10: ("deletionGracePeriodSeconds", "skip"),
    11: ("labels", ("map", "s")),
    12: ("annotations", ("map", "s")),
    14: ("finalizers", ("r", "s")),
    17: ("managedFields", "skip"),
}
CONTAINER: Message = {
    1: ("name", "s"),
    2: ("image", "s"),
    3: ("command", ("r", "s")),
    4: ("args", ("r", "s")),
    5: ("workingDir", "s"),
    6: (
        "ports",
        (
            "r",
            _m(
                {
                    1: ("name", "s"),
                    2: ("hostPort", "i"),
                    3: ("containerPort", "i"),
                    4: ("protocol", "s"),
                    5: ("hostIP", "s"),
                }
            ),
        ),
    ),  # fmt: skip
    7: ("env", ("r", _m({1: ("name", "s"), 2: ("value", "s")}))),
    8: ("resources", _m({1: ("limits", ("map", "q")), 2: ("requests", ("map", "q"))})),
    13: ("terminationMessagePath", "s"),
    14: ("imagePullPolicy", "s"),
    16: ("stdin", "b"),
    17: ("stdinOnce", "b"),
    18: ("tty", "b"),
    20: ("terminationMessagePolicy", "s"),
}
POD_SPEC: Message = {
    2: ("containers", ("r", _m(CONTAINER))),
    3: ("restartPolicy", "s"),
    4: ("terminationGracePeriodSeconds", "p"),
    5: ("activeDeadlineSeconds", "p"),
    6: ("dnsPolicy", "s"),
    7: ("nodeSelector", ("map", "s")),
    8: ("serviceAccountName", "s"),
    9: ("serviceAccount", "s"),
    10: ("nodeName", "s"),
    11: ("hostNetwork", "b"),
    12: ("hostPID", "b"),
    13: ("hostIPC", "b"),
    16: ("hostname", "s"),
    17: ("subdomain", "s"),
    19: ("schedulerName", "s"),
    20: ("initContainers", ("r", _m(CONTAINER))),
    21: ("automountServiceAccountToken", "pb"),
    24: ("priorityClassName", "s"),
}
DEPLOYMENT_SPEC: Message = {
    1: ("replicas", "p"),
    2: ("selector", _m({1: ("matchLabels", ("map", "s"))})),
    3: ("template", _m({1: ("metadata", _m(META)), 2: ("spec", _m(POD_SPEC))})),
    4: (
        "strategy",
        _m(
            {
                1: ("type", "s"),
                2: (
                    "rollingUpdate",
                    _m(
                        {
                            1: ("maxUnavailable", "ios"),
                            2: ("maxSurge", "ios"),
                        }
                    ),
                ),
            }
        ),
    ),  # fmt: skip
    5: ("minReadySeconds", "i"),
    6: ("revisionHistoryLimit", "p"),
    7: ("paused", "b"),
    9: ("progressDeadlineSeconds", "p"),
}
SERVICE_SPEC: Message = {
    1: (
        "ports",
        (
            "r",
            _m(
                {
                    1: ("name", "s"),
                    2: ("protocol", "s"),
                    3: ("port", "i"),
                    4: ("targetPort", "ios"),
                    5: ("nodePort", "i"),
                    6: ("appProtocol", "s"),
                }
            ),
        ),
    ),
    2: ("selector", ("map", "s")),
    3: ("clusterIP", "s"),
    4: ("type", "s"),
    5: ("externalIPs", ("r", "s")),
    7: ("sessionAffinity", "s"),
    8: ("loadBalancerIP", "s"),
    9: ("loadBalancerSourceRanges", ("r", "s")),
    10: ("externalName", "s"),
    11: ("externalTrafficPolicy", "s"),
    12: ("healthCheckNodePort", "i"),
    13: ("publishNotReadyAddresses", "b"),
}
_POLICY_RULE: Message = {
    1: ("verbs", ("r", "s")),
    2: ("apiGroups", ("r", "s")),
    3: ("resources", ("r", "s")),
    4: ("resourceNames", ("r", "s")),
    5: ("nonResourceURLs", ("r", "s")),
}
_BINDING: Message = {
    1: ("metadata", _m(META)),
    2: (
        "subjects",
        (
            "r",
            _m({1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")}),
        ),
    ),
    3: ("roleRef", _m({1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")})),
}
_RESOURCE_ATTRIBUTES: Message = {
    1: ("namespace", "s"),
    2: ("verb", "s"),
    3: ("group", "s"),
    4: ("version", "s"),
    5: ("resource", "s"),
    6: ("subresource", "s"),
    7: ("name", "s"),
}
_NON_RESOURCE_ATTRIBUTES: Message = {1: ("path", "s"), 2: ("verb", "s")}

# (apiVersion, kind) -> the object's top-level message (field 1 is always ObjectMeta)
KINDS: dict[tuple[str, str], Message] = {
    ("v1", "Namespace"): {1: ("metadata", _m(META)), 2: ("spec", "skip"), 3: ("status", "skip")},
    ("v1", "ConfigMap"): {
        1: ("metadata", _m(META)),
        2: ("data", ("map", "s")),
        3: ("binaryData", ("map", "y")),
        4: ("immutable", "pb"),
    },
    ("v1", "Secret"): {
        1: ("metadata", _m(META)),
        2: ("data", ("map", "y")),
        3: ("type", "s"),
        4: ("stringData", ("map", "s")),
        5: ("immutable", "pb"),
    },
    ("v1", "Service"): {
        1: ("metadata", _m(META)),
        2: ("spec", _m(SERVICE_SPEC)),
        3: ("status", "skip"),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", _m(META)),
        4: ("automountServiceAccountToken", "pb"),
    },
    ("rbac.authorization.k8s.io/v1", "Role"): {
        1: ("metadata", _m(META)),
        2: ("rules", ("r", _m(_POLICY_RULE))),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {
        1: ("metadata", _m(META)),
        2: ("rules", ("r", _m(_POLICY_RULE))),
    },
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _BINDING,
    ("apps/v1", "Deployment"): {
        1: ("metadata", _m(META)),
        2: ("spec", _m(DEPLOYMENT_SPEC)),
        3: ("status", "skip"),
    },
    ("autoscaling/v1", "HorizontalPodAutoscaler"): {
        1: ("metadata", _m(META)),
        2: (
            "spec",
            _m(
                {
                    1: (
                        "scaleTargetRef",
                        _m({1: ("kind", "s"), 2: ("name", "s"), 3: ("apiVersion", "s")}),
                    ),
                    2: ("minReplicas", "p"),
                    3: ("maxReplicas", "p"),
                    4: ("targetCPUUtilizationPercentage", "p"),
                }
            ),
        ),
        3: ("status", "skip"),
    },  # fmt: skip
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {
        1: ("metadata", _m(META)),
        2: ("status", "skip"),
    },
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", _m(META)),
        2: (
            "spec",
            _m(
                {
                    1: ("resourceAttributes", _m(_RESOURCE_ATTRIBUTES)),
                    2: ("nonResourceAttributes", _m(_NON_RESOURCE_ATTRIBUTES)),
                }
            ),
        ),
        3: ("status", "skip"),
    },
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", _m(META)),
        2: ("spec", _m({1: ("namespace", "s")})),
        3: ("status", "skip"),
    },
}


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a protobuf request body; ProtobufError when unsupported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf message")
    envelope = dict((n, v) for n, v in fields(body[len(MAGIC) :]) if isinstance(v, bytes))
    type_meta = dict((n, v) for n, v in fields(envelope.get(1, b"")) if isinstance(v, bytes))
    api_version = _text(type_meta.get(1, b""))
    kind = _text(type_meta.get(2, b""))
    desc = KINDS.get((api_version, kind))
    if desc is None:
        known = ", ".join(f"{v} {k}" for v, k in KINDS)
        raise ProtobufError(
            f"protobuf bodies are decoded for {known} only, not {api_version} {kind}"
        )
    obj = message(envelope.get(2, b""), desc)
    return {"apiVersion": api_version, "kind": kind, **obj, "metadata": obj.get("metadata", {})}
