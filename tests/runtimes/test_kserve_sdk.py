"""The kserve Python SDK's InferenceRESTClient (V1 and V2), unchanged, against the sklearn runtime.

The SDK lives in its own venv (`make kserve-venv`: kserve==0.21.0, about a minute to install on a
fresh machine, a no-op after). If that venv cannot be made (no package index), the test skips
and says why.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.runtimes.conftest import ROOT

pytestmark = pytest.mark.process

KSERVE_VENV = ROOT / ".venv-kserve"
CLIENT = Path(__file__).with_name("kserve_sdk_client.py")


@pytest.fixture(scope="module")
def kserve_python() -> Path:
    python = KSERVE_VENV / "bin" / "python"
    if not (KSERVE_VENV / ".installed").exists():
        try:
            made = subprocess.run(
                ["make", "-s", "kserve-venv"], cwd=ROOT, capture_output=True, text=True, timeout=600
            )
        except subprocess.TimeoutExpired:
            pytest.skip("kserve venv: `make kserve-venv` took over 10 minutes")
        if made.returncode != 0:
            tail = (made.stderr or made.stdout).strip().splitlines()[-3:]
            pytest.skip("kserve venv could not be made (`make kserve-venv`): " + " | ".join(tail))
    return python


def test_kserve_sdk_rest_client_v1_and_v2(kserve_python: Path, iris_server: str) -> None:
    done = subprocess.run(
        [str(kserve_python), str(CLIENT), iris_server, "sklearn-iris"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {
        "v1_live": True,
        "v1_model_ready": True,
        "v1_predict": {"predictions": [1, 1]},
        "v1_unknown": [404, {"error": "Model with name nope does not exist."}],
        "v2_live": True,
        "v2_ready": True,
        "v2_model_ready": True,
        "v2_id": "sdk-1",
        "v2_model_name": "sklearn-iris",
        "v2_outputs": [["output-0", [2], "INT64", [1, 1]]],
        "v2_dict_outputs": [[1]],
    }
