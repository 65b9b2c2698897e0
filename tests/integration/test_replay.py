"""`tidal replay` and the PredictiveHorizontalPodAutoscaler on a real local plane: an iris
InferenceService behind the router, a request trace (the Azure trace's format) replayed at twice
its speed; every request answered or a 503 with its reason, the replicas sampled, the simulator's
report printed. Beside its HPA, a predictive autoscaler forecasts and sets the HPA's floor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.plane import run_cli, running_plane, train_iris
from tests.support import free_port, wait_until

pytestmark = pytest.mark.process

NAME = "iris-replay"
PREDICTOR = f"{NAME}-predictor"


@dataclass
class Plane:
    home: Path

    def cli(self, *argv: str) -> tuple[int, str, str]:
        return run_cli(self.home, *argv)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    with running_plane(home, free_port()):
        p = Plane(home)
        code, _, err = p.cli(
            "serve",
            "kserve",
            f"--name={NAME}",
            "--cpu=1",
            "--scale-metric=cpu",
            "--scale-target=50",
            "--min-replicas=1",
            "--max-replicas=3",
            f"python -m sklearnserver --model_name={NAME} --model_dir={model} --http_port=8080",
        )
        assert code == 0, err
        wait_until(lambda: _ready(p), 120, interval_s=0.2, what="the InferenceService Ready")
        yield p


def _ready(p: Plane) -> bool:
    code, out, _ = p.cli(
        "get", "isvc", NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
    )
    return code == 0 and out == "True"


def _trace(path: Path, n: int, over_s: float) -> Path:
    """`n` requests spread over `over_s` seconds in the Azure trace's format."""
    t0 = datetime(2023, 11, 16, 18, 15, 46, tzinfo=UTC)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(n):
        at = t0 + timedelta(seconds=over_s * i / n)
        lines.append(f"{at.strftime('%Y-%m-%d %H:%M:%S.%f')}0,{300 + i},{20 + i % 7}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_answers_every_request_and_reports(plane: Plane, tmp_path: Path) -> None:
    trace = _trace(tmp_path / "trace.csv", 80, 40.0)
    code, out, err = plane.cli(
        "replay", str(trace), "--service", NAME, "--speed", "2", "--capacity", "1", "-o", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    outcomes = data["outcomes"]
    assert len(outcomes) == 80  # every request of the trace, one outcome each
    for o in outcomes:
        assert o["status"] == 200 or (o["status"] == 503 and o["reason"]), o
    assert not [f for f in data["failures"] if f["status"] == 599]
    times = sorted(o["arrival_s"] for o in outcomes)
    assert times[0] == 0 and 19 < times[-1] <= 20  # 40 s of trace at speed 2
    rep = data["report"]
    assert rep["requests"] == 80 and rep["ok"] + rep["errors_503"] == 80
    assert rep["replica_seconds"] >= 19 and rep["bound_replica_seconds"] > 0
    assert data["replicas"] and all(r["pods"] >= 1 for r in data["replicas"])

    code, out, err = plane.cli(
        "replay", str(trace), "--service", NAME, "--max-requests", "5", "--slo", "5s"
    )
    assert code == 0, err
    assert out.startswith(f"replay {trace} -> {NAME} (predict, model {NAME}, host ")
    assert "requests: 5 sent, 5 answered, 0 errors with a reason, 0 without an answer" in out
    assert "latency report (SLO: p99 <= 5s):" in out and PREDICTOR in out


def test_replay_bad_input_names_the_flag(plane: Plane, tmp_path: Path) -> None:
    trace = _trace(tmp_path / "trace.csv", 3, 3.0)
    for argv, says in (
        (["--speed", "-1"], "--speed"),
        (["--duration", "soon"], "--duration"),
        (["--start", "1h"], "--start/--duration: no request"),
    ):
        code, out, err = plane.cli("replay", str(trace), "--service", NAME, *argv)
        assert code == 1 and out == "" and says in err, err
    code, _, err = plane.cli("replay", str(trace), "--service", "nope")
    assert code == 1 and 'no InferenceService or Deployment "nope"' in err
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46,12\nyesterday,3\n")
    code, _, err = plane.cli("replay", str(bad), "--service", NAME)
    assert code == 1 and "line 3" in err


def test_predictive_autoscaler_beside_the_hpa(plane: Plane, tmp_path: Path) -> None:
    manifest = tmp_path / "phpa.json"
    obj = {
        "apiVersion": "autoscaling.tidal.dev/v1alpha1",
        "kind": "PredictiveHorizontalPodAutoscaler",
        "metadata": {"name": NAME},
        "spec": {"hpaRef": {"name": PREDICTOR}, "prediction": {"quantile": 300}},
    }
    manifest.write_text(json.dumps(obj))
    code, _, err = plane.cli("apply", "-f", str(manifest))
    assert code == 1 and "spec.prediction.quantile" in err  # admission: nothing created
    obj["spec"]["prediction"] = {"scaleUpForward": 5}
    manifest.write_text(json.dumps(obj))
    code, _, err = plane.cli("apply", "-f", str(manifest))
    assert code == 0, err

    def status() -> dict:
        code, out, _ = plane.cli("get", "phpa", NAME, "-o", "json")
        return json.loads(out).get("status") or {} if code == 0 else {}

    st = wait_until(
        lambda: "forecast" in status() and status(), 60, interval_s=0.5, what="a forecast"
    )
    assert st["floor"] >= 1 and st["baseMinReplicas"] == 1 and "floor" in st["reason"]
    code, out, _ = plane.cli("get", "hpa", PREDICTOR, "-o", "json")
    hpa = json.loads(out)
    assert hpa["metadata"]["annotations"]["autoscaling.tidal.dev/base-min-replicas"] == "1"
    assert hpa["spec"]["minReplicas"] == st["floor"]
    code, out, _ = plane.cli("get", "phpa")
    assert out.split("\n")[0].split() == [
        "NAME", "HPA", "STRATEGY", "MINPODS", "FLOOR", "FORECAST", "AGE"
    ]  # fmt: skip
    code, out, _ = plane.cli("describe", "phpa", NAME)
    assert code == 0 and "Forecast:" in out and "Reason:" in out and "Floor:" in out
