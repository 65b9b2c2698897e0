"""OpenAPI v3 schemas with descriptions: one home for what `kubectl explain` prints, the
CustomResourceDefinitions `tidal manifests controllers` writes (tidal.cli.cluster_manifests) and
the API server's `/openapi/v3` documents (tidal.server.openapi).

tidal's own kinds have full schemas here (`SPECS`). Built-in kinds take their field names from
the strict field validation (tidal.server.schema, so the two never disagree) and their types and
descriptions from `FIELDS` (Kubernetes' wording, shortened), by kind and dotted path. Pure data."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

# tidal.autoscaling.predictive.spec's STRATEGIES and SEASONS (api cannot import autoscaling; a
# test keeps them equal)
PREDICTIVE_STRATEGIES = ("auto", "observer")
PREDICTIVE_SEASONS = ("daily", "weekly")


def _s(description: str, type_: str = "string", **more: Any) -> Obj:
    return {"type": type_, "description": description, **more}


def _int(description: str, **more: Any) -> Obj:
    return {"type": "integer", "format": "int32", "description": description, **more}


def _ref(description: str) -> Obj:
    return {
        "type": "object",
        "description": description,
        "required": ["kind", "name"],
        "properties": {
            "apiVersion": _s("API version of the referent."),
            "kind": _s('Kind of the referent (e.g. "Deployment").'),
            "name": _s("Name of the referent."),
        },
    }


def cronhpa_spec() -> Obj:
    job = {
        "type": "object",
        "description": "A scheduled resize of the target.",
        "required": ["name", "schedule", "targetSize"],
        "properties": {
            "name": _s("The job's name, unique within the CronHPA."),
            "schedule": _s(
                "When to resize: a cron expression with seconds "
                '("second minute hour day-of-month month day-of-week", e.g. "0 30 10 * * *").'
            ),
            "targetSize": _int(
                "The replica count to set (through the HPA's minReplicas when an HPA "
                "targets the same workload)."
            ),
            "runOnce": _s("Run the job once, then never again.", "boolean"),
        },
    }
    return {
        "type": "object",
        "description": "What to resize, and when.",
        "required": ["scaleTargetRef", "jobs"],
        "properties": {
            "scaleTargetRef": _ref("The workload (or HPA) the jobs resize."),
            "excludeDates": {
                "type": "array",
                "description": "Cron expressions of dates on which no job runs.",
                "items": {"type": "string"},
            },
            "timeZone": _s('IANA time zone of the schedules (tidal\'s addition; default "UTC").'),
            "jobs": {"type": "array", "description": "The scheduled resizes.", "items": job},
        },
    }


def predictive_spec() -> Obj:
    prediction = {
        "type": "object",
        "description": "How the load is forecast.",
        "properties": {
            "quantile": {
                "type": "number",
                "minimum": 50,
                "exclusiveMaximum": True,
                "maximum": 100,
                "description": "The forecast's upper bound, in percent, that the floor covers.",
            },
            "scaleUpForward": {
                "type": "integer",
                "minimum": 0,
                "maximum": 3600,
                "description": "Seconds ahead to forecast: the pods' cold start.",
            },
            "trendWindow": {
                "type": "integer",
                "minimum": 1,
                "maximum": 86400,
                "description": "Seconds of recent samples the level and trend are fitted on.",
            },
            "seasons": {
                "type": "array",
                "description": "Seasonal periods of the load.",
                "items": {"type": "string", "enum": sorted(PREDICTIVE_SEASONS)},
            },
        },
    }
    return {
        "type": "object",
        "description": "The HPA to give a predicted floor, and how to predict.",
        "required": ["hpaRef"],
        "properties": {
            "hpaRef": {
                "type": "object",
                "description": "The HorizontalPodAutoscaler whose minReplicas is raised.",
                "required": ["name"],
                "properties": {"name": _s("Name of the HPA, in this namespace.")},
            },
            "scaleStrategy": _s(
                "auto: set the HPA's floor; observer: forecast only.",
                enum=list(PREDICTIVE_STRATEGIES),
            ),
            "minReplicas": _int("The floor never goes below this.", minimum=0),
            "prediction": prediction,
        },
    }


_COMPONENT = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
}


def _component(description: str) -> Obj:
    props = {
        "model": {
            "type": "object",
            "description": "The model to serve: its format, storage and runtime.",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "modelFormat": {
                    "type": "object",
                    "description": "The model's format (name, version): it picks the runtime.",
                    "properties": {"name": _s("Format name."), "version": _s("Version.")},
                },
                "storageUri": _s("Where the model is (file://, http(s)://, s3://, hf://...)."),
                "runtime": _s("The ServingRuntime to use (default: chosen by format)."),
                "protocolVersion": _s("Inference protocol (v1 or v2)."),
                "args": {"type": "array", "items": {"type": "string"}, "description": "Args."},
            },
        },
        "containers": {
            "type": "array",
            "description": "Custom containers: the command that serves (when no model).",
            "items": _COMPONENT,
        },
        "minReplicas": _int("Minimum replicas (0 allows scale to zero)."),
        "maxReplicas": _int("Maximum replicas."),
        "scaleTarget": _int("The autoscaler's target value for scaleMetric."),
        "scaleMetric": _s("cpu, memory, concurrency or rps: what the autoscaler watches."),
        "scaleMetricType": _s("Utilization or AverageValue (cpu, memory)."),
        "containerConcurrency": {
            "type": "integer",
            "format": "int64",
            "description": "Requests one pod takes at a time (0: unlimited).",
        },
        "timeout": {"type": "integer", "format": "int64", "description": "Request timeout (s)."},
    }
    return {
        "type": "object",
        "description": description,
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": props,
    }


def inferenceservice_spec() -> Obj:
    return {
        "type": "object",
        "description": "The InferenceService's components.",
        "required": ["predictor"],
        "properties": {
            "predictor": _component(
                "Predictor defines the model serving spec: the model (or containers) that "
                "answers predictions, with its replicas and autoscaling."
            ),
            "explainer": _component("Explainer defines the model explanation service spec."),
            "transformer": _component(
                "Transformer defines the pre/post processing before and after the predictor."
            ),
        },
    }


def hpa_v1_spec() -> Obj:
    return {
        "type": "object",
        "description": "Behaviour of the autoscaler (autoscaling/v1: CPU only; other metrics "
        "live in the autoscaling.alpha.kubernetes.io/metrics annotation).",
        "required": ["scaleTargetRef", "maxReplicas"],
        "properties": {
            "scaleTargetRef": _ref("Reference to the scaled resource."),
            "minReplicas": _int("The lower limit for the number of pods. Defaults to 1."),
            "maxReplicas": _int("The upper limit for the number of pods."),
            "targetCPUUtilizationPercentage": _int(
                "The target average CPU utilization (a percentage of requested CPU) over all "
                "the pods; if not specified the default autoscaling policy is used (80%)."
            ),
        },
    }


def _string_map(description: str) -> Obj:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string"},
    }


# kind -> the top-level fields of built-in kinds that have no spec
TOP_FIELDS: dict[str, dict[str, Obj]] = {
    "ConfigMap": {
        "data": _string_map("Data contains the configuration data."),
        "binaryData": _string_map("BinaryData contains the binary data (base64)."),
        "immutable": _s(
            "If true, the data cannot be updated (only the object deleted).", "boolean"
        ),
    },
    "Secret": {
        "data": _string_map("Data contains the secret data, each value base64 encoded."),
        "stringData": _string_map(
            "stringData allows specifying non-binary secret data in string form; it is merged "
            "into data on write (write-only)."
        ),
        "type": _s('Used to facilitate programmatic handling of secret data (e.g. "Opaque").'),
        "immutable": _s(
            "If true, the data cannot be updated (only the object deleted).", "boolean"
        ),
    },
}

# (group, version, kind) -> the spec schema of tidal's own and KServe's kinds, and of the
# autoscaling/v1 view of HPAs
SPECS = {
    ("autoscaling.alibabacloud.com", "v1beta1", "CronHorizontalPodAutoscaler"): cronhpa_spec,
    ("autoscaling.tidal.dev", "v1alpha1", "PredictiveHorizontalPodAutoscaler"): predictive_spec,
    ("serving.kserve.io", "v1beta1", "InferenceService"): inferenceservice_spec,
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): hpa_v1_spec,
}

KIND_DOCS = {
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "Pod": "Pod is a collection of containers that can run on a host.",
    "Service": "Service is a named abstraction of software service (for example, mysql) "
    "consisting of local port (for example 3306) that the proxy listens on, and the selector "
    "that determines which pods will answer requests sent through the proxy.",
    "HorizontalPodAutoscaler": "HorizontalPodAutoscaler is the configuration for a horizontal "
    "pod autoscaler, which automatically manages the replica count of any resource "
    "implementing the scale subresource based on the metrics specified.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type.",
    "Namespace": "Namespace provides a scope for Names.",
    "InferenceService": "InferenceService is the Schema for the InferenceServices API.",
    "CronHorizontalPodAutoscaler": "CronHorizontalPodAutoscaler resizes a workload on "
    "schedules (Alibaba's kubernetes-cronhpa-controller).",
    "PredictiveHorizontalPodAutoscaler": "PredictiveHorizontalPodAutoscaler raises an HPA's "
    "minReplicas ahead of forecast load.",
}

_TOP = {
    "apiVersion": _s(
        "APIVersion defines the versioned schema of this representation of an object."
    ),
    "kind": _s("Kind is a string value representing the REST resource this object represents."),
    "metadata": {
        "type": "object",
        "description": "Standard object's metadata.",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "name": _s("Name must be unique within a namespace."),
            "namespace": _s("Namespace defines the space within which each name must be unique."),
            "labels": {
                "type": "object",
                "description": "Map of string keys and values to organize and select objects.",
                "additionalProperties": {"type": "string"},
            },
            "annotations": {
                "type": "object",
                "description": "Unstructured key value map stored with a resource.",
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "spec": {"type": "object", "description": "Specification of the desired behavior."},
    "status": {
        "type": "object",
        "description": "Most recently observed status. Populated by the system. Read-only.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
}


def top(name: str) -> Obj:
    """The schema of a top-level field every object has."""
    return _TOP[name]


def crd_schema(spec: Obj, description: str = "") -> Obj:
    """A CRD's openAPIV3Schema: the usual top level around `spec`."""
    out: Obj = {
        "type": "object",
        "properties": {
            "apiVersion": top("apiVersion"),
            "kind": top("kind"),
            "metadata": {"type": "object"},
            "spec": spec,
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    if description:
        out["description"] = description
    return out


_STR_LIST = {"type": "array", "items": {"type": "string"}}
_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJ_LIST = {
    "type": "array",
    "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}


def _open_list(**props: Obj) -> Obj:
    """An array of objects whose listed fields explain shows; any other field is kept."""
    return {
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": props,
        },
    }


_SERVICE_PORTS = _open_list(
    name=_s("The name of this port within the service (a DNS_LABEL)."),
    protocol=_s('The IP protocol for this port: "TCP" (default), "UDP" or "SCTP".'),
    port=_int("The port that will be exposed by this service."),
    targetPort={
        "x-kubernetes-int-or-string": True,
        "description": "Number or name of the port to access on the pods targeted by the service.",
    },
    nodePort=_int(
        "The port on each node on which this service is exposed (NodePort, LoadBalancer)."
    ),
)
_CONTAINER_PORTS = _open_list(
    name=_s("An IANA_SVC_NAME naming the port, unique within the pod."),
    containerPort=_int("Number of port to expose on the pod's IP address."),
    protocol=_s('Protocol for port: "TCP" (default), "UDP" or "SCTP".'),
)
_ENV = _open_list(
    name=_s("Name of the environment variable."),
    value=_s("Variable references $(VAR_NAME) are expanded using the previous variables."),
    valueFrom={
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "Source for the variable's value: configMapKeyRef, secretKeyRef, "
        "fieldRef or resourceFieldRef.",
    },
)
_RESOURCES = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "limits": _string_map("Limits describes the maximum amount of compute resources allowed."),
        "requests": _string_map(
            "Requests describes the minimum amount of compute resources required."
        ),
    },
}

# kind -> dotted path -> (schema fragment without description, description); "*" for every kind
FIELDS: dict[str, dict[str, tuple[Obj, str]]] = {
    "Deployment": {
        "spec": ({}, "Specification of the desired behavior of the Deployment."),
        "spec.replicas": (
            {"type": "integer", "format": "int32"},
            "Number of desired pods. This is a pointer to distinguish between explicit zero "
            "and not specified. Defaults to 1.",
        ),
        "spec.selector": (
            {"type": "object"},
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this "
            "will be the ones affected by this deployment. It must match the pod template's "
            "labels.",
        ),
        "spec.template": ({}, "Template describes the pods that will be created."),
        "spec.strategy": (
            {"type": "object"},
            "The deployment strategy to use to replace existing pods with new ones.",
        ),
        "spec.minReadySeconds": (
            {"type": "integer", "format": "int32"},
            "Minimum number of seconds for which a newly created pod should be ready without "
            "any of its container crashing, for it to be considered available.",
        ),
        "spec.revisionHistoryLimit": (
            {"type": "integer", "format": "int32"},
            "The number of old ReplicaSets to retain to allow rollback. Defaults to 10.",
        ),
        "spec.paused": ({"type": "boolean"}, "Indicates that the deployment is paused."),
        "spec.progressDeadlineSeconds": (
            {"type": "integer", "format": "int32"},
            "The maximum time in seconds for a deployment to make progress before it is "
            "considered to be failed. Defaults to 600s.",
        ),
    },
    "HorizontalPodAutoscaler": {
        "spec": ({}, "Behaviour of the autoscaler."),
        "spec.scaleTargetRef": (
            {},
            "The target resource to scale: the pods' metrics are read and its desired replicas "
            "set.",
        ),
        "spec.minReplicas": (
            {"type": "integer", "format": "int32"},
            "The lower limit for the number of replicas to which the autoscaler can scale "
            "down. It defaults to 1 pod.",
        ),
        "spec.maxReplicas": (
            {"type": "integer", "format": "int32"},
            "The upper limit for the number of replicas to which the autoscaler can scale up.",
        ),
        "spec.metrics": (
            {},
            "The specifications for which to use to calculate the desired replica count.",
        ),
        "spec.behavior": (
            {},
            "Configures the scaling behavior of the target in both Up and Down directions.",
        ),
    },
    "Service": {
        "spec": ({}, "Spec defines the behavior of a service."),
        "spec.ports": (_SERVICE_PORTS, "The list of ports that are exposed by this service."),
        "spec.selector": (_MAP, "Route service traffic to pods with label keys and values."),
        "spec.type": (
            {"type": "string"},
            "ClusterIP, NodePort, LoadBalancer or ExternalName: how the Service is exposed.",
        ),
        "spec.clusterIP": ({"type": "string"}, "The IP address of the service."),
    },
    "Pod": {
        "spec": ({}, "Specification of the desired behavior of the pod."),
    },
    "*": {
        "spec.template.metadata": ({"type": "object"}, "Standard object's metadata."),
        "spec.template.spec": ({}, "Specification of the desired behavior of the pod."),
        "containers": (
            {},
            "List of containers belonging to the pod. There must be at least one.",
        ),
        "initContainers": ({}, "List of initialization containers belonging to the pod."),
        "containers.name": ({"type": "string"}, "Name of the container as a DNS_LABEL."),
        "containers.image": ({"type": "string"}, "Container image name."),
        "containers.command": (
            _STR_LIST,
            "Entrypoint array. Not executed within a shell.",
        ),
        "containers.args": (_STR_LIST, "Arguments to the entrypoint."),
        "containers.workingDir": ({"type": "string"}, "Container's working directory."),
        "containers.env": (_ENV, "List of environment variables to set."),
        "containers.ports": (_CONTAINER_PORTS, "List of ports to expose from the container."),
        "containers.resources": (_RESOURCES, "Compute Resources required by this container."),
        "restartPolicy": (
            {"type": "string"},
            "Restart policy for all containers within the pod: Always, OnFailure, Never.",
        ),
        "nodeSelector": (_MAP, "A selector which must match a node's labels."),
        "serviceAccountName": ({"type": "string"}, "The ServiceAccount to run this pod."),
        "terminationGracePeriodSeconds": (
            {"type": "integer", "format": "int64"},
            "Duration in seconds the pod needs to terminate gracefully.",
        ),
        "scaleTargetRef.apiVersion": ({"type": "string"}, "API version of the referent."),
        "scaleTargetRef.kind": ({"type": "string"}, "Kind of the referent."),
        "scaleTargetRef.name": ({"type": "string"}, "Name of the referent."),
    },
}


def field_doc(kind: str, path: str) -> tuple[Obj, str] | None:
    """Type fragment and description of `path` in `kind`: by kind, then for every kind (by the
    path below a pod spec, then the full path)."""
    own = FIELDS.get(kind, {}).get(path)
    if own is not None:
        return own
    common = FIELDS["*"]
    for marker in ("spec.template.spec.", "spec."):
        if path.startswith(marker) and path[len(marker) :] in common:
            return common[path[len(marker) :]]
    return common.get(path)
