"""`tidal serve kserve --dry-run=client`: the objects arena would submit, printed, nothing sent
(no plane needed: the kubeconfig is never read)."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from tidal.cli.env import Env
from tidal.cli.main import main


def serve(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--home", str(tmp_path), "serve", "kserve", *argv], Env(out, err, io.StringIO()))
    return code, out.getvalue(), err.getvalue()


def test_seed_command_prints_the_inference_service(tmp_path: Path) -> None:
    code, out, err = serve(
        tmp_path,
        "--name=sklearn-iris",
        "--cpu=1",
        "--memory=200Mi",
        "--scale-metric=cpu",
        "--scale-target=10",
        "--min-replicas=1",
        "--max-replicas=10",
        "--dry-run=client",
        "python -m sklearnserver --model_name=sklearn-iris --model_dir=/models --http_port=8080",
    )
    assert code == 0, err
    [isvc] = list(yaml.safe_load_all(out))
    assert isvc["kind"] == "InferenceService"
    pred = isvc["spec"]["predictor"]
    assert (pred["minReplicas"], pred["maxReplicas"], pred["scaleTarget"]) == (1, 10, 10)
    assert pred["containers"][0]["command"][:2] == ["sh", "-c"]
    assert not (tmp_path / "kubeconfig").exists()


def test_custom_metric_prints_the_hpa_too(tmp_path: Path) -> None:
    code, out, err = serve(
        tmp_path,
        "--name=qwen",
        "--scale-metric=DCGM_CUSTOM_PROCESS_SM_UTIL",
        "--scale-target=50",
        "--max-replicas=2",
        "--dry-run=client",
        "sleep 1",
    )
    assert code == 0, err
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["InferenceService", "HorizontalPodAutoscaler"]


def test_bad_flags_still_fail(tmp_path: Path) -> None:
    code, out, err = serve(tmp_path, "--name=x", "--cpu=abc", "--dry-run=client", "sleep 1")
    assert code == 1 and out == "" and "--cpu is invalid" in err
