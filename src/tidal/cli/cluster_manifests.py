"""What a Kubernetes cluster needs to run `tidal controllers`: the CustomResourceDefinitions of the
kinds tidal adds (CronHPA, PredictiveHorizontalPodAutoscaler) with their OpenAPI schemas (one
home: tidal.api.openapi_schemas, which the API server serves too) and
printer columns, least-privilege RBAC (built from each controller's `PERMISSIONS`), and a
Deployment; plus a Dockerfile to build the image with the user's own tools. Pure builders."""

from __future__ import annotations

from typing import Any

from tidal import __version__
from tidal.api import openapi_schemas
from tidal.controllers.manager import PERMISSIONS, election_permissions

Obj = dict[str, Any]
NAME = "tidal-controllers"
NAMESPACE = "kube-system"  # as metrics-server and cluster-autoscaler install: it always exists
IMAGE = f"tidal-controllers:{__version__}"


def _crd(
    group: str,
    version: str,
    kind: str,
    plural: str,
    short: list[str],
    spec_schema: Obj,
    columns: list[Obj],
) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": openapi_schemas.crd_schema(spec_schema)},
                }
            ],
        },
    }


def _col(name: str, path: str, type_: str = "string") -> Obj:
    return {"name": name, "type": type_, "jsonPath": path}


AGE = _col("Age", ".metadata.creationTimestamp", "date")


def cronhpa_crd() -> Obj:
    spec = openapi_schemas.cronhpa_spec()
    columns = [
        _col("Target", ".spec.scaleTargetRef.name"),
        _col("Zone", ".spec.timeZone"),
        AGE,
    ]
    return _crd(
        "autoscaling.alibabacloud.com",
        "v1beta1",
        "CronHorizontalPodAutoscaler",
        "cronhorizontalpodautoscalers",
        ["cronhpa"],
        spec,
        columns,
    )


def predictive_crd() -> Obj:
    spec = openapi_schemas.predictive_spec()
    columns = [
        _col("HPA", ".spec.hpaRef.name"),
        _col("Strategy", ".spec.scaleStrategy"),
        _col("MinPods", ".status.baseMinReplicas", "integer"),
        _col("Floor", ".status.floor", "integer"),
        AGE,
    ]
    return _crd(
        "autoscaling.tidal.dev",
        "v1alpha1",
        "PredictiveHorizontalPodAutoscaler",
        "predictivehorizontalpodautoscalers",
        ["phpa"],
        spec,
        columns,
    )


def rbac(names: tuple[str, ...], namespace: str = NAMESPACE) -> list[Obj]:
    """A ServiceAccount, a ClusterRole with only the verbs the named controllers use, its
    binding, and the Lease rights in the controllers' own namespace (a Role)."""
    rules: list[Obj] = []
    for name in names:
        for rule in PERMISSIONS[name]:
            if rule not in rules:
                rules.append(rule)
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}]
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": namespace},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": f"{NAME}-leader-election", "namespace": namespace},
            "rules": election_permissions(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"{NAME}-leader-election", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": f"{NAME}-leader-election",
            },
            "subjects": subject,
        },
    ]


def deployment(
    names: tuple[str, ...], image: str = IMAGE, namespace: str = NAMESPACE, replicas: int = 2
) -> Obj:
    labels = {"app.kubernetes.io/name": NAME}
    args = [
        "controllers",
        f"--only={','.join(names)}",
        f"--lease-namespace={namespace}",
        "--health-address=0.0.0.0",
    ]
    probe = {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,  # one leads, the other stands by
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "containers": [
                        {
                            "name": "controllers",
                            "image": image,
                            "args": args,
                            "env": [
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                }
                            ],
                            "ports": [{"name": "health", "containerPort": 10258}],
                            "livenessProbe": probe,
                            "readinessProbe": probe,
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                        }
                    ],
                },
            },
        },
    }


def controller_manifests(names: tuple[str, ...], image: str = IMAGE) -> list[Obj]:
    crds = []
    if "cronhpa" in names:
        crds.append(cronhpa_crd())
    if "predictive" in names:
        crds.append(predictive_crd())
    return [*crds, *rbac(names), deployment(names, image)]


DOCKERFILE = """\
# tidal's controllers for a Kubernetes cluster (`tidal manifests controllers` applies it).
# Build from the tidal source folder:
#   pip wheel --no-deps -w dist . && docker build -t {image} -f {dockerfile} .
FROM python:3.11-slim
COPY dist/tidal-*.whl /tmp/
RUN pip install --no-cache-dir /tmp/tidal-*.whl && rm /tmp/tidal-*.whl
USER 65532:65532
ENTRYPOINT ["tidal"]
CMD ["controllers"]
"""
