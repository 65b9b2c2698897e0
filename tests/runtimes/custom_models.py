"""`tidal.Model` subclasses the custom-runtime tests serve (`--model-class tests.runtimes.custom_models:X`)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

import tidal
from tidal.runtimes.errors import InvalidInput


class Doubler(tidal.Model):
    """Sync and batchable: each row times two."""

    batchable = True

    def predict(self, instances: Any) -> Any:
        return np.asarray(instances) * 2


class AsyncLabeller(tidal.Model):
    """Async load and predict; refuses negative numbers with its own 400."""

    async def load(self) -> bool:
        await asyncio.sleep(0)
        self.labels = {0: "zero", 1: "one"}
        self.ready = True
        return True

    async def predict(self, instances: Any) -> Any:
        await asyncio.sleep(0)
        if any(x < 0 for x in np.ravel(instances)):
            raise InvalidInput("negative numbers have no label")
        return [self.labels.get(int(x), "many") for x in np.ravel(instances)]


class DictAnswer(tidal.Model):
    """Returns a dict: V1 sends it back as the whole body, as KServe does."""

    def predict(self, instances: Any) -> Any:
        return {"predictions": [len(instances)], "model": self.name}


class Broken(tidal.Model):
    """A model with a bug: its own failure is a 500, and the server lives on."""

    def predict(self, instances: Any) -> Any:
        raise RuntimeError("boom")


class NeverReady(tidal.Model):
    def load(self) -> bool:
        self.ready = False
        return False


class LoadFails(tidal.Model):
    def load(self) -> bool:
        raise FileNotFoundError("weights.bin")


class FifoReader(tidal.Model):
    """predict blocks reading a FIFO named by the request, until the test writes to it."""

    def predict(self, instances: Any) -> Any:
        with open(instances[0]) as fifo:
            return [fifo.read()]
