"""Run by the kserve venv's python (not by pytest): the kserve SDK's InferenceRESTClient, V1 and
V2, against a tidal runtime. Prints one JSON object of what it saw; test_kserve_sdk.py checks it.

    .venv-kserve/bin/python tests/runtimes/kserve_sdk_client.py http://127.0.0.1:8080 sklearn-iris
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

SEED = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


async def main(url: str, model: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with InferenceRESTClient(RESTConfig(protocol="v1", retries=0)) as v1:
        seen["v1_live"] = await v1.is_server_live(url)
        seen["v1_model_ready"] = await v1.is_model_ready(url, model)
        seen["v1_predict"] = await v1.infer(url, {"instances": SEED}, model_name=model)
        try:
            await v1.infer(url, {"instances": SEED}, model_name="nope")
        except httpx.HTTPStatusError as exc:
            seen["v1_unknown"] = [exc.response.status_code, exc.response.json()]
    async with InferenceRESTClient(RESTConfig(protocol="v2", retries=0)) as v2:
        seen["v2_live"] = await v2.is_server_live(url)
        seen["v2_ready"] = await v2.is_server_ready(url)
        seen["v2_model_ready"] = await v2.is_model_ready(url, model)
        tensor = InferInput(name="input-0", shape=[2, 4], datatype="FP32")
        tensor.set_data_from_numpy(np.array(SEED, dtype=np.float32), binary_data=False)
        request = InferRequest(model_name=model, infer_inputs=[tensor], request_id="sdk-1")
        response = await v2.infer(url, request, model_name=model)
        seen["v2_id"] = response.id
        seen["v2_model_name"] = response.model_name
        seen["v2_outputs"] = [
            [o.name, list(o.shape), o.datatype, o.as_numpy().tolist()] for o in response.outputs
        ]
        as_dict = await v2.infer(
            url,
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": SEED[0]}]},
            model_name=model,
        )
        seen["v2_dict_outputs"] = [o.as_numpy().tolist() for o in as_dict.outputs]
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
