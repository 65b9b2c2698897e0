"""The seed's `kubectl describe` outputs (/work/shared/seed), letter for letter, held once for
every test that compares against them."""

from __future__ import annotations

# The seed's `kubectl describe cronhpa` (kubectl's generic describer) with the values that differ
# per object as fields: `CRONHPA_LAYOUT.format(...)`.
CRONHPA_LAYOUT = """\
Name:         qwen-cronhpa
Namespace:    default
Labels:       <none>
Annotations:  <none>
API Version:  autoscaling.alibabacloud.com/v1beta1
Kind:         CronHorizontalPodAutoscaler
Metadata:
  Creation Timestamp:  {created}
  Generation:          2
  Resource Version:    {rv}
  UID:                 {uid}
Spec:
  Jobs:
    Name:         scale-down
    Schedule:     0 0 12 * * *
    Target Size:  1
    Name:         scale-up
    Schedule:     0 30 10 * * *
    Target Size:  2
  Scale Target Ref:
    API Version:  apps/v1
    Kind:         Deployment
    Name:         {target}
Status:
  Conditions:
    Job Id:           {id0}
    Last Probe Time:  {t0}
    Message:          
    Name:             scale-down
    Run Once:         false
    Schedule:         0 0 12 * * *
    State:            Submitted
    Target Size:      1
    Job Id:           {id1}
    Last Probe Time:  {t1}
    Message:          
    Name:             scale-up
    Run Once:         false
    Schedule:         0 30 10 * * *
    State:            Submitted
    Target Size:      2
  Scale Target Ref:
    API Version:  apps/v1
    Kind:         Deployment
    Name:         {target}
Events:           <none>
"""

# The seed's `kubectl describe cronhpa qwen-cronhpa` output.
SEED_CRONHPA = CRONHPA_LAYOUT.format(
    created="2024-05-12T14:06:49Z",
    rv="9205625",
    uid="b9e72da7-262e-4042-b7f8-26586b75ecac",
    id0="3972f7cc-bab0-482e-8cbe-7c41661b07f5",
    t0="2024-05-12T14:06:49Z",
    id1="36a04605-0233-4420-967c-ac2615f43de6",
    t1="2024-05-12T14:06:49Z",
    target="qwen-cronhpa-predictor",
)

# The seed's `kubectl describe hpa sklearn-iris-predictor` output.
SEED_IRIS = """\
Name:                                                  sklearn-iris-predictor
Namespace:                                             default
Labels:                                                app=isvc.sklearn-iris-predictor
                                                       arena.kubeflow.org/uid=3399d840e8b371ed7ca45dda29debeb1
                                                       chart=kserve-0.1.0
                                                       component=predictor
                                                       heritage=Helm
                                                       release=sklearn-iris
                                                       serving.kserve.io/inferenceservice=sklearn-iris
                                                       servingName=sklearn-iris
                                                       servingType=kserve
Annotations:                                           arena.kubeflow.org/username: kubecfg:certauth:admin
                                                       serving.kserve.io/deploymentMode: RawDeployment
CreationTimestamp:                                     Sat, 11 May 2024 17:15:47 +0800
Reference:                                             Deployment/sklearn-iris-predictor
Metrics:                                               ( current / target )
  resource cpu on pods  (as a percentage of request):  0% (2m) / 10%
Min replicas:                                          1
Max replicas:                                          10
Behavior:
  Scale Up:
    Stabilization Window: 0 seconds
    Select Policy: Max
    Policies:
      - Type: Pods     Value: 4    Period: 15 seconds
      - Type: Percent  Value: 100  Period: 15 seconds
  Scale Down:
    Select Policy: Max
    Policies:
      - Type: Percent  Value: 100  Period: 15 seconds
Deployment pods:       10 current / 10 desired
Conditions:
  Type            Status  Reason               Message
  ----            ------  ------               -------
  AbleToScale     True    ScaleDownStabilized  recent recommendations were higher than current one, applying the highest recent recommendation
  ScalingActive   True    ValidMetricFound     the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)
  ScalingLimited  False   DesiredWithinRange   the desired count is within the acceptable range
Events:
  Type    Reason             Age   From                       Message
  ----    ------             ----  ----                       -------
  Normal  SuccessfulRescale  38m   horizontal-pod-autoscaler  New size: 8; reason: cpu resource utilization (percentage of request) above target
  Normal  SuccessfulRescale  28m   horizontal-pod-autoscaler  New size: 7; reason: All metrics below target
  Normal  SuccessfulRescale  27m   horizontal-pod-autoscaler  New size: 1; reason: All metrics below target
"""

# The seed's `kubectl describe hpa qwen-hpa` output.
SEED_QWEN = """\
Name:                                     qwen-hpa
Namespace:                                default
Labels:                                   <none>
Annotations:                              <none>
CreationTimestamp:                        Tue, 14 May 2024 14:57:03 +0800
Reference:                                Deployment/qwen-predictor
Metrics:                                  ( current / target )
  "DCGM_CUSTOM_PROCESS_SM_UTIL" on pods:  0 / 50
Min replicas:                             1
Max replicas:                             2
Deployment pods:                          1 current / 1 desired
Conditions:
  Type            Status  Reason            Message
  ----            ------  ------            -------
  AbleToScale     True    ReadyForNewScale  recommended size matches current size
  ScalingActive   True    ValidMetricFound  the HPA was able to successfully calculate a replica count from pods metric DCGM_CUSTOM_PROCESS_SM_UTIL
  ScalingLimited  True    TooFewReplicas    the desired replica count is less than the minimum replica count
Events:
  Type    Reason             Age   From                       Message
  ----    ------             ----  ----                       -------
  Normal  SuccessfulRescale  43m   horizontal-pod-autoscaler  New size: 2; reason: pods metric DCGM_CUSTOM_PROCESS_SM_UTIL above target
  Normal  SuccessfulRescale  34m   horizontal-pod-autoscaler  New size: 1; reason: All metrics below target
"""

# The Behavior block of SEED_IRIS: KServe's `behavior: {}` with the API server's defaults.
SEED_BEHAVIOR = SEED_IRIS[SEED_IRIS.index("Behavior:\n") : SEED_IRIS.index("Deployment pods:")]
