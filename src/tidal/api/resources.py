"""The resource table: every kind the API serves, as discovery, the router of REST paths and the
CLI's short names all need it. One row per resource; nothing else in tidal repeats these facts."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    list_kind: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of the collection, or of one object when `name` is given."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=ALL_VERBS[:1] + ALL_VERBS[2:],
        subresources=("status",),
    ),
    ResourceType(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        namespaced=False,
        short_names=("no",),
        subresources=("status",),
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        short_names=("po",),
        categories=("all",),
        subresources=("status", "log"),
    ),
    ResourceType(
        "",
        "v1",
        "Service",
        "services",
        "service",
        short_names=("svc",),
        categories=("all",),
        subresources=("status",),
    ),
    ResourceType("", "v1", "Endpoints", "endpoints", "endpoints", short_names=("ep",)),
    ResourceType("", "v1", "Event", "events", "event", short_names=("ev",)),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice"),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", short_names=("cm",)),
    ResourceType("", "v1", "Secret", "secrets", "secret"),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    ResourceType(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        short_names=("rs",),
        categories=("all",),
        subresources=("scale", "status"),
    ),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision"),
    ResourceType(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
    ),
    ResourceType(
        "serving.kserve.io",
        "v1beta1",
        "InferenceService",
        "inferenceservices",
        "inferenceservice",
        short_names=("isvc",),
        subresources=("status",),
    ),
    # KServe's serving runtimes (tidal.kserve.runtimes): which server runs a model format
    ResourceType(
        "serving.kserve.io", "v1alpha1", "ServingRuntime", "servingruntimes", "servingruntime"
    ),
    ResourceType(
        "serving.kserve.io",
        "v1alpha1",
        "ClusterServingRuntime",
        "clusterservingruntimes",
        "clusterservingruntime",
        namespaced=False,
    ),
    ResourceType(
        "autoscaling.alibabacloud.com",
        "v1beta1",
        "CronHorizontalPodAutoscaler",
        "cronhorizontalpodautoscalers",
        "cronhorizontalpodautoscaler",
        short_names=("cronhpa",),
        subresources=("status",),
    ),
    ResourceType(
        "autoscaling.internal.knative.dev",
        "v1alpha1",
        "PodAutoscaler",
        "podautoscalers",
        "podautoscaler",
        short_names=("kpa", "pa"),
        subresources=("status",),
    ),
    # What a cluster needs to run `tidal controllers` (tidal manifests controllers): the plane
    # stores them as a cluster does; it does not enforce RBAC (one admin token) nor serve new
    # APIs from a CustomResourceDefinition (its kinds are this table's).
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease"),
    ResourceType(
        "", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", short_names=("sa",)
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        "clusterrole",
        namespaced=False,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        "clusterrolebinding",
        namespaced=False,
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        subresources=("status",),
    ),
    ResourceType(
        "autoscaling.tidal.dev",
        "v1alpha1",
        "PredictiveHorizontalPodAutoscaler",
        "predictivehorizontalpodautoscalers",
        "predictivehorizontalpodautoscaler",
        short_names=("phpa",),
        subresources=("status",),
    ),
)

_BY_KIND = {r.kind: r for r in RESOURCES}


def by_kind(kind: str) -> ResourceType:
    """The resource for a kind name (`Deployment`); KeyError when tidal does not serve it."""
    return _BY_KIND[kind]


def lookup(word: str) -> ResourceType | None:
    """Resolve what a user types (`hpa`, `pods`, `deployment.apps`, `Deployment`) as kubectl does."""
    w = word.lower()
    name, _, group = w.partition(".")
    for r in RESOURCES:
        if group and r.group != group and not r.group.startswith(group):
            continue
        if name in (r.plural, r.singular, r.kind.lower(), *r.short_names):
            return r
    return None
