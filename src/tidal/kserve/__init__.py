"""KServe's InferenceService semantics as PURE functions, apart from any controller: serving
runtime selection and the built-in ClusterServingRuntimes (`runtimes.py`), the predictor's
container (`container.py`), and the Deployment/Service/HPA/status renderings (`render.py`).
The InferenceService controller, the CLI and the simulator import these."""
