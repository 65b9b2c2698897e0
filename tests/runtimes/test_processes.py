"""The runtime commands as real processes: entry points, workers, start-up errors, a free loop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tests.runtimes.conftest import ROOT, SEED_INPUT, runtime
from tests.support import wait_until

pytestmark = pytest.mark.process

SEED_HEADERS = {"Content-Type": "application/json"}


def seed_predict(url: str, model: str = "sklearn-iris") -> httpx.Response:
    return httpx.post(
        f"{url}/v1/models/{model}:predict", content=SEED_INPUT.read_bytes(), headers=SEED_HEADERS
    )


def test_tidal_runtimes_sklearn_binds_pod_ip(iris_model_dir: Path) -> None:
    args = ["--model_name=sklearn-iris", f"--model_dir={iris_model_dir}"]
    with runtime("tidal.runtimes.sklearn", args) as (url, proc):
        assert seed_predict(url).content == b'{"predictions":[1,1]}'
        ip = url.split("//")[1].split(":")[0]
        bound = {
            c.laddr.ip for c in psutil.Process(proc.pid).net_connections() if c.status == "LISTEN"
        }
        assert bound == {ip}  # $POD_IP, not 0.0.0.0


def test_workers_share_one_port_and_their_metrics_add_up(iris_model_dir: Path) -> None:
    args = ["--model_name=sklearn-iris", f"--model_dir={iris_model_dir}", "--workers=2"]
    with runtime("sklearnserver", args) as (url, proc):

        def spawned() -> list[psutil.Process]:
            children = psutil.Process(proc.pid).children(recursive=True)
            return [p for p in children if "spawn_main" in " ".join(p.cmdline())]

        workers = wait_until(lambda: len(spawned()) == 2 and spawned(), what="two workers")
        assert len(workers) == 2
        with httpx.Client() as client:  # new connection each: the kernel spreads them
            for _ in range(20):
                r = client.post(
                    f"{url}/v1/models/sklearn-iris:predict",
                    content=SEED_INPUT.read_bytes(),
                    headers={**SEED_HEADERS, "Connection": "close"},
                )
                assert r.json() == {"predictions": [1, 1]}
        text = httpx.get(f"{url}/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("tidal_requests_total{"))
        assert float(line.rsplit(" ", 1)[1]) == 20  # summed over both workers


def test_custom_model_class(tmp_path: Path) -> None:
    args = ["--model-class", "tests.runtimes.custom_models:Doubler", "--model_name=double"]
    with runtime("tidal.runtimes.custom", args) as (url, _):
        r = httpx.post(f"{url}/v1/models/double:predict", json={"instances": [[1.5, 2]]})
        assert r.json() == {"predictions": [[3.0, 4.0]]}


def test_a_slow_sync_predict_does_not_block_the_loop(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = ["--model-class", "tests.runtimes.custom_models:FifoReader", "--model_name=fifo"]
    with runtime("tidal.runtimes.custom", args) as (url, _):
        for round_ in ("first", "second"):  # the second too: a blocked predict counts as slow
            answer: list[httpx.Response] = []
            body = {"instances": [str(fifo)]}
            caller = threading.Thread(
                target=lambda b=body, a=answer: a.append(
                    httpx.post(f"{url}/v1/models/fifo:predict", json=b, timeout=60)
                )
            )
            caller.start()
            try:
                # predict is now blocked reading the FIFO; the server still answers the rest
                wait_until(
                    lambda: (
                        'tidal_requests_in_flight{model_name="fifo"} 1.0'
                        in httpx.get(f"{url}/metrics").text
                    ),
                    what=f"the {round_} predict to be in flight",
                )
                assert httpx.get(f"{url}/v2/health/live", timeout=5).json() == {"live": True}
                assert not answer
            finally:
                with open(fifo, "w") as writer:
                    writer.write(round_)
                caller.join(timeout=60)
            assert answer[0].json() == {"predictions": [round_]}


def start_fails(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, "--http_port=0", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, POD_IP="127.0.0.1", PYTHONPATH=str(ROOT)),
        timeout=120,
    )


def test_empty_model_dir_exits_naming_the_folder(tmp_path: Path) -> None:
    done = start_fails("sklearnserver", "--model_name=m", f"--model_dir={tmp_path}")
    assert done.returncode == 1
    assert str(tmp_path) in done.stderr and "*.joblib, *.pkl or *.pickle" in done.stderr
    assert "Traceback" not in done.stderr


def test_two_model_files_exit_with_kserves_message(tmp_path: Path, iris_model_dir: Path) -> None:
    data = (iris_model_dir / "model.joblib").read_bytes()
    (tmp_path / "a.joblib").write_bytes(data)
    (tmp_path / "b.pkl").write_bytes(data)
    done = start_fails("tidal.runtimes.sklearn", "--model_name=m", f"--model_dir={tmp_path}")
    assert done.returncode == 1
    assert (
        "More than one model file is detected, Only one is allowed within model_dir" in done.stderr
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--model-class", "tests.runtimes.custom_models:NeverReady"],
            1,
            "Model with name model is not ready",
        ),
        (
            ["--model-class", "tests.runtimes.custom_models:LoadFails"],
            1,
            "tests.runtimes.custom_models:LoadFails: loading failed: FileNotFoundError: weights.bin",
        ),
        (
            ["--model-class", "tests.runtimes.custom_models:Missing"],
            1,
            "has no attribute 'Missing'",
        ),
        (["--model-class", "no_such_module:X"], 1, "cannot import module 'no_such_module'"),
        (
            ["--model-class", "json:JSONDecoder"],
            1,
            "json:JSONDecoder is not a subclass of tidal.Model",
        ),
        (["--model-class", "x", "--workers=0"], 2, "argument --workers: must be at least 1, got 0"),
        ([], 2, "the following arguments are required: --model_class/--model-class"),
    ],
)
def test_custom_runtime_start_errors(args: list[str], code: int, message: str) -> None:
    done = start_fails("tidal.runtimes.custom", *args)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
