"""Who am I, and may I: the answers to SelfSubjectReview (authentication.k8s.io/v1,
`kubectl auth whoami`), SelfSubjectAccessReview and SelfSubjectRulesReview
(authorization.k8s.io/v1, `kubectl auth can-i [--list]`). The plane's token is the cluster's
admin (system:masters: everything); a pod's service-account token has the rights
tidal.pods.serviceaccount gives it (one home: `serviceaccount.may`). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidal.api.resources import RESOURCES
from tidal.pods import serviceaccount

Obj = dict[str, Any]
ADMIN_USER = "tidal-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")


@dataclass(frozen=True, slots=True)
class Requester:
    """The authenticated caller: the admin (claims None) or a pod's service account."""

    claims: serviceaccount.Claims | None = None

    @property
    def user_info(self) -> Obj:
        c = self.claims
        if c is None:
            return {"username": ADMIN_USER, "groups": list(ADMIN_GROUPS)}
        return {
            "username": c.user,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{c.namespace}",
                "system:authenticated",
            ],
            "extra": {
                "authentication.kubernetes.io/pod-name": [c.pod],
                "authentication.kubernetes.io/pod-uid": [c.pod_uid],
            },
        }


def _spec(body: Obj) -> Obj:
    spec = body.get("spec")
    return spec if isinstance(spec, dict) else {}


def access(who: Requester, spec: Obj) -> Obj:
    """SelfSubjectAccessReview status for `spec`."""
    if who.claims is None:
        return {"allowed": True, "reason": "the plane's token is the cluster admin"}
    res = spec.get("resourceAttributes")
    non = spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        resource = str(res.get("resource") or "")
        if res.get("subresource"):
            resource += "/" + str(res["subresource"])
        allowed = serviceaccount.may(
            who.claims,
            str(res.get("verb") or ""),
            str(res.get("group") or ""),
            resource,
            str(res.get("namespace") or "") or None,
        )
    elif isinstance(non, dict):
        path = str(non.get("path") or "")
        allowed = str(non.get("verb") or "").lower() == "get" and any(
            path.startswith(p) for p in serviceaccount.NON_RESOURCE
        )
    else:
        allowed = False
    return {"allowed": allowed} if allowed else {"allowed": False}


def rules(who: Requester, namespace: str) -> Obj:
    """SelfSubjectRulesReview status: what the caller may do in `namespace`."""
    reviews = [
        {"verbs": ["create"], "apiGroups": [g], "resources": [r], "resourceNames": []}
        for g, r in serviceaccount.SELF_REVIEWS
    ]
    if who.claims is None:
        return {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    viewer: list[Obj] = []
    if namespace == who.claims.namespace:
        by_group: dict[str, list[str]] = {}
        for r in RESOURCES:
            if r.namespaced and r.plural != "secrets":
                by_group.setdefault(r.group, []).append(r.plural)
        viewer = [
            {"verbs": ["get", "list", "watch"], "apiGroups": [g], "resources": sorted(rs)}
            for g, rs in by_group.items()
        ]
    return {
        "resourceRules": reviews + viewer,
        "nonResourceRules": [
            {"verbs": ["get"], "nonResourceURLs": [p + "*" for p in serviceaccount.NON_RESOURCE]}
        ],
        "incomplete": False,
    }


def answer(who: Requester, kind: str, body: Obj) -> Obj:
    """The review object the API server answers for a created `kind`."""
    group = "authentication.k8s.io/v1" if kind == "SelfSubjectReview" else "authorization.k8s.io/v1"
    out: Obj = {"kind": kind, "apiVersion": group, "metadata": {"creationTimestamp": None}}
    if kind == "SelfSubjectReview":
        out["status"] = {"userInfo": who.user_info}
    elif kind == "SelfSubjectAccessReview":
        out["spec"] = _spec(body)
        out["status"] = access(who, _spec(body))
    else:
        out["spec"] = _spec(body)
        out["status"] = rules(who, str(_spec(body).get("namespace") or ""))
    return out
