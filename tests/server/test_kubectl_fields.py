"""Issue 17, server side, with the real kubectl 1.32 (fresh HOME) against the API server alone:
stored objects keep every field the user gave (the seed's CronHPA applied twice is `unchanged`),
and unknown fields are pruned with a warning under `--validate=warn`, refused under kubectl's
default strict validation, so a later `replace` of the same file works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.apiserver import ApiServerProcess, run_api_server

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

# the seed's CronHPA manifest as the example ships it (comments and odd indentation included)
SEED_CRONHPA = (
    Path(__file__).resolve().parents[2] / "examples" / "cronhpa" / "cronhpa.yaml"
).read_text()

UNKNOWN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: odd
spec:
  replicas: 1
  foo: bar
  selector:
    matchLabels: {app: odd}
  template:
    metadata:
      labels: {app: odd}
    spec:
      containers:
      - name: main
        image: nginx:1.26
        bogus: 1
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with run_api_server(tmp_path_factory.mktemp("home")) as s:
        yield s


@pytest.fixture()
def env(server: ApiServerProcess, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "userhome"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "KUBECONFIG": str(server.kubeconfig)}


def kubectl(env: dict[str, str], *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_the_seed_cronhpa_applied_twice_is_unchanged(env: dict[str, str]) -> None:
    first = kubectl(env, "apply", "-f", "-", stdin=SEED_CRONHPA)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("qwen-cronhpa created")
    second = kubectl(env, "apply", "-f", "-", stdin=SEED_CRONHPA)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith("qwen-cronhpa unchanged")
    got = kubectl(env, "get", "cronhpa", "qwen-cronhpa", "-o", "json", stdin="")
    obj = json.loads(got.stdout)
    assert [j.get("runOnce") for j in obj["spec"]["jobs"]] == [False, False]
    assert obj["metadata"]["generation"] == 1


def test_unknown_fields_are_pruned_with_a_warning_or_refused(env: dict[str, str]) -> None:
    strict = kubectl(env, "apply", "-f", "-", stdin=UNKNOWN)  # kubectl's default: Strict
    assert strict.returncode != 0
    assert 'strict decoding error: unknown field "spec.foo"' in strict.stderr
    assert 'unknown field "spec.template.spec.containers[0].bogus"' in strict.stderr
    gone = kubectl(env, "get", "deploy", "odd", stdin="")
    assert gone.returncode != 0 and "NotFound" in gone.stderr  # nothing was written

    warn = kubectl(env, "apply", "--validate=warn", "-f", "-", stdin=UNKNOWN)
    assert warn.returncode == 0, warn.stderr
    assert 'Warning: unknown field "spec.foo"' in warn.stderr
    assert 'Warning: unknown field "spec.template.spec.containers[0].bogus"' in warn.stderr
    obj = json.loads(kubectl(env, "get", "deploy", "odd", "-o", "json", stdin="").stdout)
    assert "foo" not in obj["spec"]
    assert "bogus" not in obj["spec"]["template"]["spec"]["containers"][0]
    assert obj["spec"]["replicas"] == 1

    again = kubectl(env, "replace", "--validate=warn", "-f", "-", stdin=UNKNOWN)
    assert again.returncode == 0, again.stderr
    assert 'Warning: unknown field "spec.foo"' in again.stderr
    quiet = kubectl(env, "replace", "--validate=false", "-f", "-", stdin=UNKNOWN)
    assert quiet.returncode == 0, quiet.stderr
    assert "unknown field" not in quiet.stderr


def test_every_kind_applied_twice_is_unchanged(env: dict[str, str]) -> None:
    """One object of every kind the fuzz test has a valid example of, applied twice."""
    from tests.server.test_fuzz import SPECS, valid
    from tidal.api.resources import RESOURCES

    kinds = [r for r in RESOURCES if r.kind in SPECS or r.kind == "Namespace"]
    docs = [json.dumps(valid(r, f"twice-{r.singular}", "default")) for r in kinds]
    manifest = "\n".join(docs)  # a JSON stream
    first = kubectl(env, "apply", "-f", "-", stdin=manifest)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" created") == len(kinds), first.stdout
    second = kubectl(env, "apply", "-f", "-", stdin=manifest)
    assert second.returncode == 0, second.stderr
    lines = second.stdout.strip().splitlines()
    assert len(lines) == len(kinds), lines
    assert [line for line in lines if not line.endswith(" unchanged")] == []
