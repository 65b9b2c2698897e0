"""The little of Kubernetes' protobuf encoding that kubectl's typed clients force on us:
`kubectl create namespace` POSTs `application/vnd.kubernetes.protobuf`. We decode the envelope
(`k8s\\0` + runtime.Unknown) and the Namespace's ObjectMeta (name, generateName, labels,
annotations); any other kind is a clear 415 (use `kubectl apply -f`, which sends JSON)."""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"


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


def _string_map(entries: list[bytes]) -> dict[str, str]:
    result = {}
    for entry in entries:
        kv = dict((n, v) for n, v in fields(entry) if isinstance(v, bytes))
        result[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
    return result


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    labels: list[bytes] = []
    annotations: list[bytes] = []
    for num, value in fields(data):
        if not isinstance(value, bytes):
            continue
        if num in (1, 2, 3) and value:
            meta[{1: "name", 2: "generateName", 3: "namespace"}[num]] = value.decode()
        elif num == 11:
            labels.append(value)
        elif num == 12:
            annotations.append(value)
    if labels:
        meta["labels"] = _string_map(labels)
    if annotations:
        meta["annotations"] = _string_map(annotations)
    return meta


def decode(body: bytes) -> dict[str, Any]:
    """A JSON-shaped object from a protobuf request body; ProtobufError when unsupported."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf message")
    envelope = dict((n, v) for n, v in fields(body[len(MAGIC) :]) if isinstance(v, bytes))
    type_meta = dict((n, v) for n, v in fields(envelope.get(1, b"")) if isinstance(v, bytes))
    api_version = type_meta.get(1, b"").decode()
    kind = type_meta.get(2, b"").decode()
    if (api_version, kind) != ("v1", "Namespace"):
        raise ProtobufError(
            f"protobuf bodies are decoded for v1 Namespace only, not {api_version} {kind}"
        )
    raw = dict((n, v) for n, v in fields(envelope.get(2, b"")) if isinstance(v, bytes))
    return {"apiVersion": api_version, "kind": kind, "metadata": _object_meta(raw.get(1, b""))}
