"""Service-account tokens for pods: a pod that needs the API gets a token of its own, never the
plane's.

As on a cluster, each pod (unless `automountServiceAccountToken: false`) finds `token`, `ca.crt`
and `namespace` in /var/run/secrets/kubernetes.io/serviceaccount and `KUBERNETES_SERVICE_HOST`/
`_PORT` in its environment, so in-cluster clients (kubectl, the Python client) work unchanged.
The token is a JWT (HS256) bound to the pod: it names the namespace, service account, pod and
pod uid, is signed with a key derived from the plane's token (so the API server checks it with
no state of its own), and stops working once that pod is gone.

Its rights are a namespace viewer's (`decide`, pure): discovery, and get/list/watch of the
objects of its own namespace except Secrets. Everything else is Kubernetes' 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidal.api.errors import ApiError, Forbidden, NotFound, Unauthorized

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ISSUER = "https://kubernetes.default.svc.cluster.local"
PREFIX = "eyJ"  # every JWT starts with a base64url '{"'
SELF_REVIEWS = (
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
)
NON_RESOURCE = ("/version", "/api", "/apis", "/openapi", "/healthz", "/livez", "/readyz")


@dataclass(frozen=True, slots=True)
class Claims:
    namespace: str
    service_account: str
    pod: str
    pod_uid: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


def signing_key(plane_token: str) -> bytes:
    """The key pods' tokens are signed with: derived, so a pod token never reveals the plane's."""
    return hmac.new(
        plane_token.encode(), b"tidal serviceaccount tokens v1", hashlib.sha256
    ).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, claims: Claims, now: float) -> str:
    header = {"alg": "HS256", "kid": "tidal", "typ": "JWT"}
    payload = {
        "aud": [ISSUER],
        "iat": int(now),
        "nbf": int(now),
        "iss": ISSUER,
        "sub": claims.user,
        "kubernetes.io": {
            "namespace": claims.namespace,
            "pod": {"name": claims.pod, "uid": claims.pod_uid},
            "serviceaccount": {"name": claims.service_account},
        },
    }
    signed = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    sig = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return signed + "." + _b64(sig)


def verify(key: bytes, token: str) -> Claims | None:
    """The claims of a token this plane signed; None for anything else."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        want = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _unb64(parts[2])):
            return None
        k8s = json.loads(_unb64(parts[1]))["kubernetes.io"]
        return Claims(
            str(k8s["namespace"]),
            str(k8s["serviceaccount"]["name"]),
            str(k8s["pod"]["name"]),
            str(k8s["pod"]["uid"]),
        )
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None


def _verb(method: str, name: str | None, query: str) -> str:
    if method == "GET":
        if name:
            return "get"
        return "watch" if "watch=true" in query or "watch=1" in query else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def may(claims: Claims, verb: str, group: str, resource: str, namespace: str | None) -> bool:
    """Whether the pod's token may `verb` `resource` (`pods`, `pods/log`) of `group` in
    `namespace` (None: cluster scope): a namespace viewer's rights, and, as every authenticated
    user, asking who it is and what it may do (`kubectl auth whoami|can-i`). PURE."""
    if verb == "create" and (group, resource) in SELF_REVIEWS:
        return True
    return (
        verb in ("get", "list", "watch")
        and namespace == claims.namespace
        and resource.split("/")[0] != "secrets"
    )


def decide(claims: Claims, method: str, path: str, query: str = "") -> str | None:
    """None when the pod's token may do this; else Kubernetes' Forbidden message. PURE."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        allowed = method == "GET" and any(path.startswith(p) for p in NON_RESOURCE)
        verb = method.lower()
        return None if allowed else (f'forbidden: User "{claims.user}" cannot {verb} path "{path}"')
    core = parts[0] == "api"
    group = "" if core else (parts[1] if len(parts) > 1 else "")
    rest = parts[2:] if core else parts[3:]
    if not rest:
        return (
            None
            if method == "GET"
            else f'forbidden: User "{claims.user}" cannot {method.lower()} path "{path}"'
        )
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource += "/" + rest[2]
    verb = _verb(method, name, query)
    if may(claims, verb, group, resource, namespace):
        return None
    what = f'{rest[0]} "{name}"' if name else rest[0]
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return (
        f'{what} is forbidden: User "{claims.user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {where}'
    )


class Reviewer:
    """The API server's check of a bearer token that is not the plane's own."""

    def __init__(self, plane_token: str, pod_uid: Callable[[str, str], str | None]) -> None:
        self.key = signing_key(plane_token)
        self.pod_uid = pod_uid  # (namespace, name) -> the uid of the pod now, None when gone

    def review(self, authorization: str, method: str, path: str, query: str) -> ApiError | None:
        """None: allowed; else the error to answer (401 not a live pod's token, 403 no right)."""
        scheme, _, given = authorization.partition(" ")
        claims = verify(self.key, given.strip()) if scheme.lower() == "bearer" else None
        if claims is None or self.pod_uid(claims.namespace, claims.pod) != claims.pod_uid:
            return Unauthorized("Unauthorized")
        message = decide(claims, method, path, query)
        return None if message is None else Forbidden(message)


def registry_lookup(get: Callable[..., Any]) -> Callable[[str, str], str | None]:
    """`pod_uid` over a registry's `get(kind, name, namespace)`."""

    def pod_uid(namespace: str, name: str) -> str | None:
        try:
            return (get("Pod", name, namespace).get("metadata") or {}).get("uid")
        except NotFound:
            return None

    return pod_uid
