"""The wire vocabulary several packages must spell alike: API groups, labels and annotations
(spelled out, so a search for the string finds its home).

One home, so the controller that writes a label and the router, metrics adapter or CLI that
reads it cannot drift apart. Names Knative defines for its own annotations live with the code
that reads them (`tidal.autoscaling.kpa.annotations`); only those read elsewhere are here too.
"""

from __future__ import annotations

# ---- KServe ---------------------------------------------------------------------------------------
KSERVE_GROUP = "serving.kserve.io"
ISVC_API_VERSION = "serving.kserve.io/v1beta1"
# on everything an InferenceService owns (Deployment, Service, HPA, PodAutoscaler, pods)
ISVC_LABEL = "serving.kserve.io/inferenceservice"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
STOP_ANNOTATION = "serving.kserve.io/stop"

# ---- Knative (read by the InferenceService rendering as well as the KPA) -------------------------
KNATIVE_AUTOSCALING_GROUP = "autoscaling.knative.dev"
KNATIVE_CLASS = "autoscaling.knative.dev/class"
KPA_CLASS = "kpa.autoscaling.knative.dev"

# ---- tidal's own ----------------------------------------------------------------------------------
# on the predictor Service: the hosts the router routes to it (`<name>-<ns>.<domain>,...`)
HOSTS_ANNOTATION = "serving.tidal.dev/hosts"
# on the HPA rendered for an External `autoScaling` entry: which entry the metric adapter reads
METRIC_INDEX_LABEL = "serving.tidal.dev/metric-index"

# per HPA: the autoscaling profile and the controller's sync period
PROFILE_ANNOTATION = "autoscaling.tidal.dev/profile"
SYNC_PERIOD_ANNOTATION = "autoscaling.tidal.dev/sync-period"
# per PodAutoscaler: how many requests the router holds at zero, and for how long
MAX_HELD_ANNOTATION = "autoscaling.tidal.dev/max-held-requests"
ACTIVATION_TIMEOUT_ANNOTATION = "autoscaling.tidal.dev/activation-timeout"
# set by the router on the PodAutoscaler (same name as the Service) to the Unix time of a held
# request; the KPA controller takes a new value as Knative's Poke
POKE_ANNOTATION = "autoscaling.tidal.dev/activation-requested"
