"""`tidal.Model`: the base class of every model a tidal runtime serves.

A subclass implements `load()` and `predict()`, each sync or async. The server calls `load()`
once before it listens (so "port open" means "model loaded"), then `predict(instances)` per
request (or per micro-batch, for `batchable` models). Synchronous `predict` runs on a worker
thread so the event loop keeps answering health checks and reading other requests meanwhile.

`instances` is what the client sent: V1's `"instances"`/`"inputs"` (a numpy array when it is a
rectangular array of numbers, else the decoded JSON list) or the first V2 input tensor as a numpy
array shaped and typed as declared. `predict` returns one prediction per instance (a list or a
numpy array); for V1 it may also return a dict, which is sent back as the whole response body.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Model:
    """Base class for custom models: override `load` and `predict` (sync or async)."""

    #: True when `predict` maps each row of a 2-D array to one output row independently, so the
    #: server may merge concurrent requests into one call and split the result back.
    batchable: ClassVar[bool] = False

    def __init__(self, name: str, model_dir: str | None = None) -> None:
        self.name = name
        self.model_dir = model_dir
        self.ready = False

    def load(self) -> Any:
        """Load weights; the default has nothing to load and marks the model ready."""
        self.ready = True
        return True

    def validate(self, instances: Any) -> Any:
        """Check (and may convert) one request's instances before `predict`; raise InvalidInput."""
        return instances

    def predict(self, instances: Any) -> Any:
        """Return one prediction per instance."""
        raise NotImplementedError(f"{type(self).__name__}.predict is not implemented")

    def input_types(self) -> list[dict[str, Any]]:
        """V2 model-metadata `inputs` (name, datatype, shape); KServe's default is empty."""
        return []

    def output_types(self) -> list[dict[str, Any]]:
        """V2 model-metadata `outputs`."""
        return []
