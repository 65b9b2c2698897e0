"""Issue 7's acceptance on the FULL local plane, tried as a new user would: a fresh TIDAL_HOME,
`tidal up`, `KUBECONFIG=$TIDAL_HOME/kubeconfig` and the plain kubectl binary with a fresh HOME (no
discovery cache). Every `kubectl` command of the seed runs unchanged (the iris service, the
ingress Service `nginx-ingress-lb`, `describe hpa` in the seed's layout, the seed's CronHPA YAML),
then the rest of issue 7's list against real pods: get/describe of every kind, apply twice,
delete, scale with `get pods -w` watching, logs [-f], top pods, api-resources and version.

One plane for the module (starting it is the slow part); the tests run in file order and build
on each other, as a user's session would."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.kubectl import Shell, plane_up, user_env
from tests.plane import train_iris
from tests.seed_outputs import SEED_BEHAVIOR
from tests.support import free_port, stop_process, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
NAME = "sklearn-iris"
PREDICTOR = f"{NAME}-predictor"
INPUT = ROOT / "examples" / "iris" / "iris-input.json"

# The seed's CronHPA manifest verbatim (odd indentation and comments included), with the target
# renamed from `qwen-cronhpa-predictor` to the local iris predictor.
SEED_CRONHPA = """\
apiVersion: autoscaling.alibabacloud.com/v1beta1
kind: CronHorizontalPodAutoscaler
metadata:
  name: qwen-cronhpa
  namespace: default 
spec:
   scaleTargetRef:
      apiVersion: apps/v1
      kind: Deployment
      name: sklearn-iris-predictor
   jobs:
   # Perform a scale-up at 10:30 every day.
   - name: "scale-down"
     schedule: "0 0 12 * * *"
     targetSize: 1
     runOnce: false
  # Perform a scale-down at 12:00 every day.
   - name: "scale-up"
     schedule: "0 30 10 * * *"
     targetSize: 2
     runOnce: false
"""

# A pod that writes a numbered line five times a second: something for `logs -f` to follow.
TICKER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ticker
  labels: {app: ticker}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ticker}
  template:
    metadata:
      labels: {app: ticker}
    spec:
      containers:
      - name: main
        image: python:3.11-slim
        command: [sh, -c, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
        resources:
          requests: {cpu: 100m, memory: 50Mi}
"""

# KServe's HPA is `behavior: {}` filled with the API's defaults (reference/kserve.md); this one
# says so explicitly, on a target of our own, so `describe hpa` must print the seed's Behavior.
TICKER_HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ticker
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ticker}
  minReplicas: 1
  maxReplicas: 1
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 10}}
  behavior: {}
"""


@dataclass
class Session(Shell):
    """A new user's shell (tests.kubectl) with the plane's ingress port, the iris model and a
    folder for manifests."""

    ingress: int
    model: Path
    files: Path

    def write(self, name: str, text: str) -> Path:
        path = self.files / name
        path.write_text(text)
        return path

    def follow(self, *args: str) -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
        """Start a long-running kubectl (`-w`, `logs -f`) and collect its lines as they come."""
        proc = subprocess.Popen(
            ["kubectl", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        assert proc.stdout is not None
        reader = threading.Thread(
            target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        return proc, lines, reader


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("tidal-home")
    user = tmp_path_factory.mktemp("user-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    env = user_env(home, user)
    s = Session(home, env, free_port(), model, tmp_path_factory.mktemp("manifests"))
    with plane_up(s, s.ingress):
        yield s


def _ready(s: Session) -> bool:
    return (
        s.kubectl(
            "get", "isvc", NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        ).stdout
        == "True"
    )


def header(out: str) -> list[str]:
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def test_version_and_api_resources(session: Session) -> None:
    out = session.out("version")
    assert "Client Version: v1.32" in out and "Server Version: v1.32.4" in out
    out = session.out("api-resources")
    assert header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {(r.split()[0], r.split()[-1]): r.split() for r in out.splitlines()[1:]}
    expected = {
        ("inferenceservices", "InferenceService"): "isvc serving.kserve.io/v1beta1",
        ("horizontalpodautoscalers", "HorizontalPodAutoscaler"): "hpa autoscaling/v2",
        ("cronhorizontalpodautoscalers", "CronHorizontalPodAutoscaler"): (
            "cronhpa autoscaling.alibabacloud.com/v1beta1"
        ),
        ("deployments", "Deployment"): "deploy apps/v1",
        ("pods", "Pod"): "po v1",
        ("services", "Service"): "svc v1",
        ("endpoints", "Endpoints"): "ep v1",
        ("events", "Event"): "ev v1",
        ("namespaces", "Namespace"): "ns v1",
    }
    for key, short_and_version in expected.items():
        assert key in rows, f"{key} missing from api-resources:\n{out}"
        assert " ".join(rows[key][1:3]) == short_and_version
    # `top` needs metrics.k8s.io in discovery
    assert rows[("pods", "PodMetrics")][1:3] == ["metrics.k8s.io/v1beta1", "true"]


def test_seed_kubectl_commands(session: Session) -> None:
    s = session
    served = s.tidal(
        "serve",
        "kserve",
        f"--name={NAME}",
        "--image=kube-ai-registry.cn-shanghai.cr.aliyuncs.com/ai-sample/kserve-sklearn-server:v0.12.0",
        "--cpu=1",
        "--memory=200Mi",
        "--scale-metric=cpu",
        "--scale-target=10",
        "--min-replicas=1",
        "--max-replicas=10",
        f"python -m sklearnserver --model_name={NAME} --model_dir={s.model} --http_port=8080",
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout == f"inferenceservice.serving.kserve.io/{NAME} created\n"
    wait_until(lambda: _ready(s), 120, interval_s=0.3, what="the InferenceService Ready")

    # NGINX_INGRESS_IP=`kubectl -n kube-system get svc nginx-ingress-lb -ojsonpath=...`
    ip = s.out(
        "-n",
        "kube-system",
        "get",
        "svc",
        "nginx-ingress-lb",
        "-ojsonpath={.status.loadBalancer.ingress[0].ip}",
    )
    assert ip == "127.0.0.1"
    lb = json.loads(s.out("-n", "kube-system", "get", "svc", "nginx-ingress-lb", "-o", "json"))
    assert lb["spec"]["type"] == "LoadBalancer"
    port = lb["spec"]["ports"][0]["port"]
    # SERVICE_HOSTNAME=$(kubectl get inferenceservice sklearn-iris -o jsonpath='{.status.url}' | cut ...)
    url = s.out("get", "inferenceservice", NAME, "-o", "jsonpath={.status.url}")
    assert url == f"http://{NAME}-default.example.com"
    resp = httpx.post(
        f"http://{ip}:{port}/v1/models/{NAME}:predict",
        headers={"Host": url.split("/")[2], "Content-Type": "application/json"},
        content=INPUT.read_bytes(),
        timeout=10,
    )
    assert resp.status_code == 200 and resp.json() == {"predictions": [1, 1]}

    # kubectl describe hpa sklearn-iris-predictor, once the HPA has read the pod's CPU
    wait_until(
        lambda: s.out(
            "get",
            "hpa",
            PREDICTOR,
            "-o",
            "jsonpath={.status.currentMetrics[0].resource.current.averageValue}",
        ),
        60,
        interval_s=0.3,
        what="the HPA's current CPU metric",
    )
    described = s.out("describe", "hpa", PREDICTOR)
    check_describe_hpa(described, json.loads(s.out("get", "hpa", PREDICTOR, "-o", "json")))


def check_describe_hpa(out: str, hpa: dict) -> None:
    """The seed's layout: the same fields in the same order, aligned as kubectl's tabwriter
    aligns them, the seed's Metrics line, the Behavior block when the spec has one, the
    conditions table and the events table."""
    lines = out.splitlines()
    fields = [line.split(":")[0] for line in lines if re.match(r"^[A-Z][\w ]*:", line)]
    expected = [
        "Name",
        "Namespace",
        "Labels",
        "Annotations",
        "CreationTimestamp",
        "Reference",
        "Metrics",
        "Min replicas",
        "Max replicas",
        *(["Behavior"] if hpa["spec"].get("behavior") is not None else []),
        "Deployment pods",
        "Conditions",
        "Events",
    ]
    assert fields == expected, out
    top = lines[: lines.index(next(x for x in lines if x.startswith("Max replicas:"))) + 1]
    cols = {
        len(m.group(0))
        for x in top
        if (m := re.match(r"^[A-Z][\w ]*:\s+|^  resource .*?\):\s+|^\s+(?!resource )", x))
    }
    assert len(cols) == 1, f"the header block is not aligned:\n{out}"
    assert re.search(rf"^Name:\s+{PREDICTOR}$", out, re.M)
    assert re.search(r"^Namespace:\s+default$", out, re.M)
    assert re.search(rf"^Labels:\s+app=isvc\.{PREDICTOR}$", out, re.M)
    assert re.search(rf"^\s+serving\.kserve\.io/inferenceservice={NAME}$", out, re.M)
    assert re.search(r"^Annotations:\s+arena\.kubeflow\.org/username: \S+$", out, re.M)
    assert re.search(r"^\s+serving\.kserve\.io/deploymentMode: RawDeployment$", out, re.M)
    # RFC 1123Z as the seed's `Sat, 11 May 2024 17:15:47 +0800`
    assert re.search(
        r"^CreationTimestamp:\s+\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$", out, re.M
    )
    assert re.search(rf"^Reference:\s+Deployment/{PREDICTOR}$", out, re.M)
    assert re.search(r"^Metrics:\s+\( current / target \)$", out, re.M)
    assert re.search(
        r"^  resource cpu on pods  \(as a percentage of request\):  \d+% \(\d+m?\) / 10%$",
        out,
        re.M,
    ), out
    assert re.search(r"^Min replicas:\s+1$", out, re.M)
    assert re.search(r"^Max replicas:\s+10$", out, re.M)
    if hpa["spec"].get("behavior") is not None:
        assert SEED_BEHAVIOR in out
    assert re.search(r"^Deployment pods:\s+\d+ current / \d+ desired$", out, re.M), out
    conditions = lines[lines.index("Conditions:") + 1 :]
    assert conditions[0].split() == ["Type", "Status", "Reason", "Message"]
    assert conditions[1].split() == ["----", "------", "------", "-------"]
    kinds = [c.split()[0] for c in conditions[2:5]]
    assert kinds == ["AbleToScale", "ScalingActive", "ScalingLimited"], out
    assert re.search(r"^  ScalingActive\s+True\s+ValidMetricFound\s+the HPA was able", out, re.M)
    events = out[out.index("\nEvents:") + 1 :]
    assert events.startswith("Events:") and (
        events.strip() == "Events:           <none>"
        or events.splitlines()[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    ), events


def test_seed_cronhpa_apply_and_describe(session: Session) -> None:
    s = session
    f = s.write("cronhpa.yaml", SEED_CRONHPA)
    # kubectl apply -f- <<EOF ... EOF
    out = s.kubectl("apply", "-f-", stdin=SEED_CRONHPA).stdout
    assert out == "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com/qwen-cronhpa created\n"
    wait_until(
        lambda: (
            s.out("get", "cronhpa", "qwen-cronhpa", "-o", "jsonpath={.status.conditions[*].state}")
            == "Submitted Submitted"
        ),
        30,
        interval_s=0.2,
        what="both CronHPA jobs Submitted",
    )
    out = s.out("describe", "cronhpa", "qwen-cronhpa")
    for pattern in [
        r"^Name:         qwen-cronhpa$",
        r"^Namespace:    default$",
        r"^API Version:  autoscaling\.alibabacloud\.com/v1beta1$",
        r"^Kind:         CronHorizontalPodAutoscaler$",
        r"^  Creation Timestamp:  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
        r"^  Jobs:\n    Name:         scale-down\n    Schedule:     0 0 12 \* \* \*\n"
        r"    Target Size:  1\n    Name:         scale-up\n",
        r"^    Job Id:           [0-9a-f-]{36}$",
        r"^    State:            Submitted$",
        r"^    Name:             scale-up$",
        r"^  Scale Target Ref:\n    API Version:  apps/v1\n    Kind:         Deployment\n"
        rf"    Name:         {PREDICTOR}$",
        r"^Events:           <none>$",
    ]:
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"
    assert out.count("State:            Submitted") == 2
    # the second apply: `configured`, since the controller wrote the spec back without
    # `runOnce: false` as the original does (the seed's object is at Generation 2), or unchanged
    again = s.out("apply", "-f", str(f))
    assert again in (
        "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com/qwen-cronhpa configured\n",
        "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com/qwen-cronhpa unchanged\n",
    )
    out = s.out("get", "cronhpa")
    assert header(out) == ["NAME", "TARGET", "JOBS", "NEXT FIRING", "AGE"]
    assert out.splitlines()[1].split()[:3] == ["qwen-cronhpa", f"Deployment/{PREDICTOR}", "2"]
    described = s.out("describe", "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com")
    assert "qwen-cronhpa" in described
    out = s.out("delete", "-f", str(f))
    assert out == (
        'cronhorizontalpodautoscaler.autoscaling.alibabacloud.com "qwen-cronhpa" deleted\n'
    )
    gone = s.kubectl("get", "cronhpa", "qwen-cronhpa", ok=False)
    assert gone.returncode == 1 and "(NotFound)" in gone.stderr


COLUMNS = {
    "isvc": [
        "NAME",
        "URL",
        "READY",
        "PREV",
        "LATEST",
        "PREVROLLEDOUTREVISION",
        "LATESTREADYREVISION",
        "AGE",
    ],
    "pods": ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    "deploy": ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
    "svc": ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    "ep": ["NAME", "ENDPOINTS", "AGE"],
    "hpa": ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
    "events": ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
}
WIDE = {  # the full `-o wide` header: kubectl keeps the server's column order
    "pods": [*COLUMNS["pods"], "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    "deploy": [*COLUMNS["deploy"], "CONTAINERS", "IMAGES", "SELECTOR"],
    "svc": [*COLUMNS["svc"], "SELECTOR"],
    "events": [
        *["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE"],
        *["FIRST SEEN", "COUNT", "NAME"],
    ],
}


def test_get_every_kind_and_format(session: Session) -> None:
    s = session
    for kind, cols in COLUMNS.items():
        out = s.out("get", kind)
        assert header(out) == cols, f"get {kind}:\n{out}"
        wide = s.out("get", kind, "-o", "wide")
        assert header(wide) == WIDE.get(kind, cols), f"get {kind} -o wide:\n{wide}"
    row = lambda kind: s.out("get", kind, PREDICTOR).splitlines()[1].split()  # noqa: E731
    isvc = s.out("get", "isvc", NAME).splitlines()[1].split()
    assert isvc[:3] == [NAME, f"http://{NAME}-default.example.com", "True"]
    deploy = row("deploy")
    assert deploy[0] == PREDICTOR and re.fullmatch(r"\d+/\d+", deploy[1]), deploy
    svc = row("svc")  # each row read once: the HPA's current CPU moves between two reads
    assert svc[1:5] == ["ClusterIP", svc[2], "<none>", "80/TCP"]
    assert re.fullmatch(r"127\.\d+\.\d+\.\d+:8080", row("ep")[1])
    hpa = row("hpa")
    assert hpa[1:6] == [f"Deployment/{PREDICTOR}", "cpu:", hpa[3], "1", "10"]
    assert re.fullmatch(r"\d+%/10%", hpa[3])
    pod = s.out("get", "pods", "-o", "wide").splitlines()[1]
    m = re.search(r"\s1/1\s+Running\s.*\s(127\.\d+\.\d+\.\d+)\s+tidal-node\s+<none>\s+<none>$", pod)
    assert m, pod
    ips = s.out("get", "ep", PREDICTOR, "-o", "jsonpath={.subsets[*].addresses[*].ip}").split()
    assert m.group(1) in ips
    described = s.out("describe", "svc", PREDICTOR)  # kubectl 1.32 reads EndpointSlices here
    assert re.search(rf"^Endpoints:\s+{re.escape(m.group(1))}:8080$", described, re.M), described
    slices = s.out("get", "endpointslices", "-l", f"kubernetes.io/service-name={PREDICTOR}")
    assert header(slices) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], slices
    assert re.search(rf"^{PREDICTOR}-\S+\s+IPv4\s+8080\s+{re.escape(m.group(1))}\s", slices, re.M)
    events = s.out("get", "events")
    assert re.search(rf"Normal\s+ScalingReplicaSet\s+deployment/{PREDICTOR}\s+Scaled up", events)
    assert re.search(r"Normal\s+Scheduled\s+pod/\S+\s+Successfully assigned default/", events)

    everything = s.out("get", "all")
    for prefix in (
        "pod/",
        "service/",
        "deployment.apps/",
        "replicaset.apps/",
        "horizontalpodautoscaler.autoscaling/",
    ):
        assert re.search(rf"^{re.escape(prefix)}{PREDICTOR}", everything, re.M), everything

    assert s.out("get", "isvc", "-o", "name") == (f"inferenceservice.serving.kserve.io/{NAME}\n")
    assert s.out("get", "hpa", "-o", "name") == (
        f"horizontalpodautoscaler.autoscaling/{PREDICTOR}\n"
    )
    as_json = json.loads(s.out("get", "deploy", "-o", "json"))
    assert as_json["kind"] == "List" and as_json["items"][0]["kind"] == "Deployment"
    as_yaml = s.out("get", "isvc", NAME, "-o", "yaml")
    assert as_yaml.startswith("apiVersion: serving.kserve.io/v1beta1\n")
    assert "kind: InferenceService" in as_yaml and f"url: http://{NAME}-default" in as_yaml
    missing = s.kubectl("get", "isvc", "nope", ok=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        'Error from server (NotFound): inferenceservices.serving.kserve.io "nope" not found'
    )


def test_apply_twice_describe_and_delete(session: Session) -> None:
    s = session
    deploy, hpa = s.write("ticker.yaml", TICKER), s.write("ticker-hpa.yaml", TICKER_HPA)
    assert s.out("apply", "-f", str(deploy)) == "deployment.apps/ticker created\n"
    assert s.out("apply", "-f", str(hpa)) == "horizontalpodautoscaler.autoscaling/ticker created\n"
    assert s.out("apply", "-f", str(deploy)) == "deployment.apps/ticker unchanged\n"
    assert s.out("apply", "-f", str(hpa)) == (
        "horizontalpodautoscaler.autoscaling/ticker unchanged\n"
    )
    s.write(
        "ticker-hpa.yaml", TICKER_HPA.replace("averageUtilization: 10", "averageUtilization: 20")
    )
    assert s.out("apply", "-f", str(hpa)) == (
        "horizontalpodautoscaler.autoscaling/ticker configured\n"
    )
    wait_until(
        lambda: s.out("get", "deploy", "ticker", "-o", "jsonpath={.status.readyReplicas}") == "1",
        60,
        interval_s=0.2,
        what="the ticker pod ready",
    )
    out = s.out("describe", "hpa", "ticker")
    assert SEED_BEHAVIOR in out, out  # the API server's defaults for `behavior: {}`
    assert re.search(
        r"^  resource cpu on pods  \(as a percentage of request\):  .* / 20%$", out, re.M
    )

    out = s.out("describe", "deploy", "ticker")
    for pattern in [
        r"^Name:\s+ticker$",
        r"^Selector:\s+app=ticker$",
        r"^Replicas:\s+1 desired \| 1 updated \| 1 total \| 1 available \| 0 unavailable$",
        r"^StrategyType:\s+RollingUpdate$",
        r"^  Available\s+True\s+MinimumReplicasAvailable$",
        r"^  Normal\s+ScalingReplicaSet\s+\S+\s+deployment-controller\s+Scaled up replica set ticker-\w+ from 0 to 1$",
    ]:
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"

    pod = s.out("get", "pods", "-l", "app=ticker", "-o", "name").strip()
    out = s.out("describe", pod)
    for pattern in [
        rf"^Name:\s+{pod.split('/')[1]}$",
        r"^Node:\s+tidal-node/127\.0\.0\.1$",
        r"^Status:\s+Running$",
        r"^Controlled By:\s+ReplicaSet/ticker-\w+$",  # the Deployment's ReplicaSet
        r"^    State:\s+Running$",
        r"^    Ready:\s+True$",
        r"^    Restart Count:\s+0$",
        r"^QoS Class:\s+Burstable$",
        r"^  Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned default/",
        r"^  Normal\s+Started\s+\S+\s+kubelet\s+Started container main$",
    ]:
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"

    assert (
        s.out("delete", "-f", str(hpa)) == 'horizontalpodautoscaler.autoscaling "ticker" deleted\n'
    )
    assert s.kubectl("get", "hpa", "ticker", ok=False).returncode == 1


def test_watch_sees_scale_up(session: Session) -> None:
    s = session
    watch, lines, reader = s.follow("get", "pods", "-w", "-l", "app=ticker")
    try:
        wait_until(lambda: any(x.startswith("ticker-") for x in lines), 30, what="the list")
        assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert (
            s.out("scale", "deploy", "ticker", "--replicas=3") == "deployment.apps/ticker scaled\n"
        )

        def three_running() -> bool:
            running = {x.split()[0] for x in lines if x.split()[1:3] == ["1/1", "Running"]}
            return len(running) >= 3

        wait_until(three_running, 60, interval_s=0.1, what="-w to show three Running pods")
    finally:
        stop_process(watch)
        reader.join(timeout=10)
    names = {x.split()[0] for x in lines if x.startswith("ticker-")}
    assert len(names) == 3
    # the new pods went through the states as they happened, one row per change
    assert any(x.split()[1:3] == ["0/1", "Pending"] for x in lines), lines
    out = s.out("get", "deploy", "ticker")
    assert out.splitlines()[1].split()[:4] == ["ticker", "3/3", "3", "3"]


def test_logs_and_follow(session: Session) -> None:
    s = session
    pod = sorted(s.out("get", "pods", "-l", "app=ticker", "-o", "name").split())[0]
    out = s.out("logs", pod, "--tail=2")
    assert [line.split()[0] for line in out.splitlines()] == ["tick", "tick"]
    last = int(out.splitlines()[-1].split()[1])
    follow, lines, reader = s.follow("logs", "-f", pod)
    try:
        wait_until(
            lambda: any(x.startswith("tick ") and int(x.split()[1]) > last + 3 for x in lines),
            30,
            interval_s=0.1,
            what="logs -f to show lines written after it started",
        )
    finally:
        stop_process(follow)
        reader.join(timeout=10)
    numbers = [int(x.split()[1]) for x in lines if x.startswith("tick ")]
    assert numbers[0] == 0 and numbers == list(range(numbers[0], numbers[-1] + 1))


def test_top_pods(session: Session) -> None:
    s = session
    expected = set(s.out("get", "pods", "-o", "name").replace("pod/", "").split())

    def listed() -> list[list[str]] | None:
        out = s.kubectl("top", "pods", ok=False)
        rows = [x.split() for x in out.stdout.splitlines()]
        return rows if out.returncode == 0 and {r[0] for r in rows[1:]} >= expected else None

    rows = wait_until(listed, 60, interval_s=0.5, what="top pods to list every pod")
    assert rows[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    for row in rows[1:]:
        assert re.fullmatch(r"\d+m", row[1]) and re.fullmatch(r"\d+Mi", row[2]), row
    iris = next(r for r in rows if r[0].startswith(PREDICTOR))
    assert int(iris[2][:-2]) > 20  # a Python process with scikit-learn loaded


def test_the_node(session: Session) -> None:
    """One node, this machine: get, describe (its pods and what they request), top."""
    s = session
    nodes = s.out("get", "nodes")
    assert header(nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], nodes
    assert re.search(r"^tidal-node\s+Ready\s+control-plane\s+\S+\s+v1\.32\.4$", nodes, re.M)
    wide = s.out("get", "nodes", "-o", "wide")
    assert "INTERNAL-IP" in wide and "127.0.0.1" in wide and "tidal://" in wide
    described = s.out("describe", "node", "tidal-node")
    assert re.search(r"^Conditions:", described, re.M), described
    assert re.search(r"Ready\s+True\s.*KubeletReady\s+kubelet is posting ready status", described)
    assert re.search(r"^Non-terminated Pods:\s+\(\d+ in total\)", described, re.M), described
    assert PREDICTOR in described  # the pods bound to the node, found by spec.nodeName

    def topped() -> list[str] | None:
        out = s.kubectl("top", "nodes", ok=False)
        lines = out.stdout.splitlines()
        return lines if out.returncode == 0 and len(lines) == 2 else None

    lines = wait_until(topped, 60, interval_s=0.5, what="top nodes")
    assert lines[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert re.fullmatch(r"tidal-node\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%", lines[1].strip()), lines


def test_delete_deployment_stops_its_pods(session: Session) -> None:
    s = session
    out = s.out("delete", "-f", str(s.files / "ticker.yaml"))
    assert out == 'deployment.apps "ticker" deleted\n'
    wait_until(
        lambda: "No resources found" in s.kubectl("get", "pods", "-l", "app=ticker").stderr,
        60,
        interval_s=0.2,
        what="the ticker pods gone",
    )
    assert s.out("get", "deploy").splitlines()[1].split()[0] == PREDICTOR
