"""Pods on the full plane with the real kubectl (fresh HOME): isolation from the plane's token,
per-container and previous logs with times, ConfigMaps and Secrets as env and files, and a
missing Secret's CreateContainerConfigError. One plane, one session: starting it is the slow
part."""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator

import pytest

from tests.integration.test_kubectl_plane import Session
from tests.kubectl import plane_up, user_env
from tests.support import free_port, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

MANIFESTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: app}}
data: {{greeting: hello, mode: fast}}
---
apiVersion: v1
kind: Secret
metadata: {{name: db}}
stringData: {{password: s3cret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: two}}
spec:
  containers:
  - name: a
    image: busybox
    command: [sh, -c, "echo from-a; cat {token} || echo token-unreadable; echo home=${{TIDAL_HOME:-none}}; cat /etc/app/greeting; echo; echo mode=$MODE pw=$DB_password; exec sleep 600"]
    env:
    - name: MODE
      valueFrom: {{configMapKeyRef: {{name: app, key: mode}}}}
    envFrom:
    - secretRef: {{name: db}}
      prefix: DB_
    volumeMounts: [{{name: conf, mountPath: /etc/app}}]
  - name: b
    image: busybox
    command: [sh, -c, "if [ -e {marker} ]; then echo second-b; exec sleep 600; fi; touch {marker}; echo first-b; exit 3"]
  volumes:
  - name: conf
    configMap: {{name: app}}
---
apiVersion: v1
kind: Pod
metadata: {{name: missing}}
spec:
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "exec sleep 600"]
    env:
    - name: PW
      valueFrom: {{secretKeyRef: {{name: nope, key: password}}}}
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("tidal-home")
    user = tmp_path_factory.mktemp("user-home")
    env = user_env(home, user)
    files = tmp_path_factory.mktemp("manifests")
    s = Session(home, env, free_port(), files, files)
    with plane_up(s, s.ingress):
        yield s


def test_pods_logs_configmaps_secrets_and_isolation(session: Session) -> None:
    s = session
    manifest = MANIFESTS.format(token=s.home / "token", marker=s.files / "b-crashed-once")
    out = s.out("apply", "-f", str(s.write("pods.yaml", manifest)))
    assert "configmap/app created" in out and "secret/db created" in out

    def b_restarted() -> bool:
        jp = "{.status.containerStatuses[?(@.name=='b')].restartCount}"
        n = s.kubectl("get", "pod", "two", "-o", f"jsonpath={jp}").stdout
        return (
            n.isdigit() and int(n) >= 1 and "second-b" in s.kubectl("logs", "two", "-c", "b").stdout
        )

    wait_until(b_restarted, timeout_s=120, what="container b restarted once")

    # -c picks the container; --previous is the instance before the restart
    a_log = s.out("logs", "two", "-c", "a")
    assert a_log.startswith("from-a\n") and "second-b" not in a_log
    assert s.out("logs", "two", "-c", "b") == "second-b\n"
    assert s.out("logs", "two", "-c", "b", "--previous") == "first-b\n"
    none = s.kubectl("logs", "two", "-c", "a", "--previous", ok=False)
    assert none.returncode != 0 and 'previous terminated container "a"' in none.stderr

    # the plane's token is out of reach, the home unnamed; env and files from the objects
    assert "token-unreadable" in a_log and "No such file or directory" in a_log
    assert (s.home / "token").read_text().strip() not in a_log
    assert "home=none" in a_log
    assert "hello" in a_log and "mode=fast pw=s3cret" in a_log

    # times: --timestamps, --since, --since-time
    stamped = s.out("logs", "two", "-c", "a", "--timestamps").splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z from-a$", stamped)
    assert s.out("logs", "two", "-c", "a", "--since=1h").startswith("from-a")
    assert s.out("logs", "two", "-c", "a", "--since-time=2999-01-01T00:00:00Z") == ""
    assert s.out("logs", "two", "-c", "a", "--tail=1") == a_log.splitlines(keepends=True)[-1]

    # the kinds as kubectl prints them; the Secret's stringData stored as data
    cm = s.out("get", "cm", "app").splitlines()
    assert re.split(r"\s{2,}", cm[0].strip()) == ["NAME", "DATA", "AGE"]
    assert cm[1].split()[:2] == ["app", "2"]
    secret = s.out("get", "secret", "db").splitlines()
    assert re.split(r"\s{2,}", secret[0].strip()) == ["NAME", "TYPE", "DATA", "AGE"]
    assert secret[1].split()[:3] == ["db", "Opaque", "1"]
    password = s.out("get", "secret", "db", "-o", "jsonpath={.data.password}")
    assert base64.b64decode(password) == b"s3cret"

    # a Secret that does not exist: the pod waits, as on a cluster
    def config_error() -> bool:
        return "CreateContainerConfigError" in s.out("get", "pod", "missing")

    wait_until(config_error, timeout_s=60, what="CreateContainerConfigError")
    events = s.out("get", "events", "--field-selector", "involvedObject.name=missing")
    assert 'Error: secret "nope" not found' in events
