"""Issue 17's daily commands that need more than the table (item 6 and `kubectl create`), with the
real kubectl 1.32 against a real plane, as a new user types them (fresh TIDAL_HOME and HOME,
KUBECONFIG=$TIDAL_HOME/kubeconfig): `auth whoami`, `auth can-i [--list]` for the admin and for
a pod's own service-account token, `create configmap|secret generic|deployment` (protobuf bodies),
`autoscale` (autoscaling/v1, stored as v2), `get --raw /metrics` and `explain`.

One plane for the module; the tests run in file order and build on each other."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kubectl import Shell, plane_up, user_env
from tests.support import free_port, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]


# an HPA with a metric autoscaling/v1 cannot say: kept in the v1 view's annotations
TWO_METRICS = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: two}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  - type: Pods
    pods:
      metric: {name: requests_per_second}
      target: {type: AverageValue, averageValue: "10"}
"""

V1_MANIFEST = """\
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: old}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  targetCPUUtilizationPercentage: 40
"""


@dataclass
class Session(Shell):
    files: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("tidal-home")
    user = tmp_path_factory.mktemp("user-home")
    env = user_env(home, user)
    s = Session(home, env, tmp_path_factory.mktemp("manifests"))
    with plane_up(s, free_port()):
        yield s


def test_auth_whoami_and_can_i_for_the_admin(session: Session) -> None:
    s = session
    who = s.out("auth", "whoami")
    assert who.split("\n")[0].split() == ["ATTRIBUTE", "VALUE"]
    assert "Username    tidal-admin" in who
    assert "system:masters" in who
    assert s.out("auth", "can-i", "create", "deployments") == "yes\n"
    assert s.out("auth", "can-i", "delete", "secrets", "-n", "kube-system") == "yes\n"
    assert s.out("auth", "can-i", "get", "/metrics") == "yes\n"
    # no users to act as: refused, never answered as the caller
    bob = s.kubectl("auth", "can-i", "create", "deployments", "--as=bob", ok=False)
    assert bob.returncode != 0 and "impersonation" in bob.stderr and "yes" not in bob.stdout
    rules = s.out("auth", "can-i", "--list")
    assert rules.splitlines()[1].split()[:2] == ["*.*", "[]"]


def test_create_configmap_secret_deployment_and_service(session: Session) -> None:
    s = session
    assert s.out("create", "configmap", "conf", "--from-literal=a=b") == "configmap/conf created\n"
    assert s.out("get", "cm", "conf", "-o", "jsonpath={.data.a}") == "b"
    assert s.out("create", "secret", "generic", "pw", "--from-literal=a=b") == "secret/pw created\n"
    secret = s.json("get", "secret", "pw", "-o", "json")
    assert secret["data"] == {"a": "Yg=="} and secret["type"] == "Opaque"
    made = s.out("create", "deployment", "web", "--image=busybox", "--", "sleep", "100")
    assert made == "deployment.apps/web created\n"
    deploy = s.json("get", "deploy", "web", "-o", "json")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "busybox" and container["command"] == ["sleep", "100"]
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    made = s.out("create", "service", "clusterip", "web", "--tcp=80:8080")
    assert made == "service/web created\n"
    svc = s.json("get", "svc", "web", "-o", "json")["spec"]
    assert svc["ports"][0]["port"] == 80 and svc["ports"][0]["targetPort"] == 8080
    assert svc["selector"] == {"app": "web"} and svc["type"] == "ClusterIP"
    assert s.out("create", "serviceaccount", "bot") == "serviceaccount/bot created\n"
    made = s.out("create", "role", "reader", "--verb=get,list", "--resource=pods")
    assert made == "role.rbac.authorization.k8s.io/reader created\n"
    made = s.out(
        "create", "rolebinding", "bot-reads", "--role=reader", "--serviceaccount=default:bot"
    )
    assert made == "rolebinding.rbac.authorization.k8s.io/bot-reads created\n"
    binding = s.json("get", "rolebinding", "bot-reads", "-o", "json")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "bot", "namespace": "default"}
    ]
    again = s.kubectl("create", "configmap", "conf", "--from-literal=a=c", ok=False)
    assert again.returncode != 0 and 'configmaps "conf" already exists' in again.stderr
    assert s.out("get", "cm", "conf", "-o", "jsonpath={.data.a}") == "b"


def _pod_token(s: Session) -> str | None:
    pods = s.json("get", "pods", "-l", "app=web", "-o", "json")["items"]
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    if not running:
        return None
    name = running[0]["metadata"]["name"]
    token = s.home / "pods" / "default" / name / "serviceaccount" / "token"
    return token.read_text() if token.exists() else ""


def test_a_pods_token_has_a_namespace_viewers_rights(session: Session) -> None:
    s = session
    token = wait_until(lambda: _pod_token(s) is not None and _pod_token(s), 120, 0.5,
                       what="a Running web pod")  # fmt: skip
    if not token:
        pytest.skip("pods get no service-account token where isolation is unavailable")
    as_pod = ("--token", token)
    who = s.out(*as_pod, "auth", "whoami")
    assert "system:serviceaccount:default:default" in who
    assert "authentication.kubernetes.io/pod-name" in who
    assert s.out(*as_pod, "auth", "can-i", "list", "pods") == "yes\n"
    for denied in (
        ("get", "secrets"),
        ("create", "deployments"),
        ("list", "pods", "-n", "kube-system"),
    ):
        proc = s.kubectl(*as_pod, "auth", "can-i", *denied, ok=False)
        assert (proc.returncode, proc.stdout) == (1, "no\n"), denied
    rules = {line.split()[0]: line for line in s.out(*as_pod, "auth", "can-i", "--list")
             .splitlines()[1:] if line.strip()}  # fmt: skip
    assert rules["pods"].split()[-3:] == ["[get", "list", "watch]"]
    assert "secrets" not in rules
    metrics = s.kubectl(*as_pod, "get", "--raw", "/metrics", ok=False)
    assert metrics.returncode != 0 and "Forbidden" in metrics.stderr


def test_autoscale_speaks_autoscaling_v1(session: Session) -> None:
    s = session
    assert "autoscaling/v1" in s.out("api-versions").split()
    made = s.out("autoscale", "deployment", "web", "--min=1", "--max=3", "--cpu-percent=50")
    assert made == "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    v2 = s.json("get", "hpa", "web", "-o", "json")
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
    v1 = s.json(
        "get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web"
    )
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert (v1["spec"]["minReplicas"], v1["spec"]["maxReplicas"]) == (1, 3)
    listed = s.json(
        "get", "--raw", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
    )
    assert listed["apiVersion"] == "autoscaling/v1"
    assert [i["spec"]["targetCPUUtilizationPercentage"] for i in listed["items"]] == [50]
    watched = s.out(
        "get",
        "--raw",
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers?watch=1&timeoutSeconds=1",
    )
    event = json.loads(watched.splitlines()[0])
    assert event["type"] == "ADDED" and event["object"]["apiVersion"] == "autoscaling/v1"
    # a patch in v1 lands in the stored v2 object
    s.out("patch", "horizontalpodautoscalers.v1.autoscaling", "web", "--type=merge",
          "-p", '{"spec":{"targetCPUUtilizationPercentage":70}}')  # fmt: skip
    v2 = s.json("get", "hpa", "web", "-o", "json")
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    # a v2 metric v1 cannot say rides in the v1 object's annotations, in v1's shape
    (s.files / "two.yaml").write_text(TWO_METRICS)
    s.out("apply", "-f", str(s.files / "two.yaml"))
    two = s.json("get", "horizontalpodautoscalers.v1.autoscaling", "two", "-o", "json")
    assert two["spec"]["targetCPUUtilizationPercentage"] == 60
    others = json.loads(two["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/metrics"])
    assert others == [
        {"type": "Pods", "pods": {"metricName": "requests_per_second", "targetAverageValue": "10"}}
    ]
    assert s.out("delete", "horizontalpodautoscalers.v1.autoscaling", "two") == (
        'horizontalpodautoscaler.autoscaling "two" deleted\n'
    )
    # an autoscaling/v1 manifest: validated against its OpenAPI document, applied twice unchanged
    (s.files / "old.yaml").write_text(V1_MANIFEST)
    first = s.out("apply", "-f", str(s.files / "old.yaml"))
    assert first == "horizontalpodautoscaler.autoscaling/old created\n"
    again = s.out("apply", "-f", str(s.files / "old.yaml"))
    assert again == "horizontalpodautoscaler.autoscaling/old unchanged\n"
    stored = s.json("get", "hpa", "old", "-o", "json")
    assert stored["metadata"]["generation"] == 1
    assert stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 40
    s.out("delete", "-f", str(s.files / "old.yaml"))


def test_metrics_of_the_api_server(session: Session) -> None:
    s = session
    text = s.out("get", "--raw", "/metrics")
    assert "# TYPE apiserver_request_total counter" in text
    assert "# TYPE apiserver_request_duration_seconds histogram" in text
    created = (
        'apiserver_request_total{code="201",component="apiserver",dry_run="",group="",'
        'resource="configmaps",scope="namespace",subresource="",verb="POST",version="v1"}'
    )
    line = next(ln for ln in text.splitlines() if ln.startswith(created))
    assert int(line.split()[-1]) >= 1
    conflict = 'code="409",component="apiserver",dry_run="",group="",resource="configmaps"'
    assert conflict in text
    assert 'apiserver_request_duration_seconds_bucket{component="apiserver"' in text
    assert 'le="+Inf"' in text
    bad = s.kubectl("get", "--raw", "/metrics", "--token", "not-the-token", ok=False)
    assert bad.returncode != 0 and "Unauthorized" in bad.stderr


def test_explain(session: Session) -> None:
    s = session
    out = s.out("explain", "deployment.spec.replicas")
    assert out.splitlines()[:3] == ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"]
    assert "FIELD: replicas <integer>" in out and "Number of desired pods" in out
    out = s.out("explain", "isvc.spec.predictor")
    assert "KIND:       InferenceService" in out and "FIELD: predictor <Object>" in out
    assert "minReplicas\t<integer>" in out
    out = s.out("explain", "cronhpa.spec.jobs")
    assert "FIELD: jobs <[]Object>" in out
    assert "targetSize\t<integer> -required-" in out
    assert "schedule\t<string> -required-" in out
    out = s.out(
        "explain", "hpa.spec.targetCPUUtilizationPercentage", "--api-version=autoscaling/v1"
    )
    assert "VERSION:    v1" in out and "FIELD: targetCPUUtilizationPercentage <integer>" in out
    out = s.out("explain", "hpa.spec")
    assert "maxReplicas\t<integer>" in out
    assert "FIELD: data <map[string]string>" in s.out("explain", "configmap.data")
    assert "FIELD: type <string>" in s.out("explain", "secret.type")
    missing = s.kubectl("explain", "deployment.spec.nosuchfield", ok=False)
    assert missing.returncode != 0 and 'field "nosuchfield" does not exist' in missing.stderr
