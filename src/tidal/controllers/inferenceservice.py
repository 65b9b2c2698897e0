"""The InferenceService controller: gathers an InferenceService's inputs (the ServingRuntimes of
its namespace, the ClusterServingRuntimes, its predictor pods), asks the PURE renderings in
`tidal.kserve` what should exist, and applies that: creates what is missing, updates what
drifted (never the Deployment's replicas: the autoscaler owns them, as in KServe), deletes the HPA
it owns when it is no longer wanted, and leaves alone any object of the same name that it does
not own (a user's own HPA). When no runtime serves the model it writes KServe's
`modelStatus`/conditions and an `InternalError` event with KServe's error; a model that fails to
load (storage step or server) shows in the status and as a `ModelLoadFailed` event on the pod.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Callable, Iterable

from tidal.api.client import ApiClient, Obj
from tidal.api.conditions import keep_transition_times
from tidal.api.errors import ApiError, Conflict, NotFound
from tidal.api.events import make_event
from tidal.api.meta import controller_of, rfc3339
from tidal.api.wellknown import ISVC_LABEL, STOP_ANNOTATION
from tidal.controllers.kpa import render_podautoscaler as render_kpa
from tidal.controllers.loop import Key, Loop, Watch
from tidal.kserve.credentials import s3_env
from tidal.kserve.render import (
    DEFAULT_DOMAIN,
    autoscaler_class,
    covers,
    initial_replicas,
    predictor_name,
    render_deployment,
    render_hpa,
    render_service,
    spec_differs,
    uses_kpa,
)
from tidal.kserve.runtimes import NoRuntime, Selected, model_spec, select_runtime
from tidal.kserve.status import render_status

log = logging.getLogger(__name__)
COMPONENT = "inferenceservice-controller"


def render_podautoscaler(isvc: Obj) -> Obj | None:
    """The Knative PodAutoscaler of a KPA-scaled InferenceService; None for the others."""
    if not uses_kpa(isvc):
        return None
    return render_kpa(isvc, predictor_name(isvc), isvc["metadata"].get("uid"))


def _isvc_of(obj: Obj, _loop: Loop) -> Iterable[Key]:
    ref = controller_of(obj)
    if ref and ref.get("kind") == "InferenceService":
        yield ((obj.get("metadata") or {}).get("namespace") or "default", ref.get("name", ""))


def _pod_isvc(obj: Obj, _loop: Loop) -> Iterable[Key]:
    meta = obj.get("metadata") or {}
    name = (meta.get("labels") or {}).get(ISVC_LABEL)
    if name:
        yield (meta.get("namespace") or "default", name)


def _every_isvc(obj: Obj, loop: Loop) -> Iterable[Key]:
    """A runtime changed: every InferenceService may choose differently now."""
    ns = (obj.get("metadata") or {}).get("namespace")
    for isvc in loop.informer("InferenceService").list(ns):
        meta = isvc["metadata"]
        yield (meta.get("namespace") or "default", meta["name"])


class InferenceServiceController:
    name = "inferenceservice"
    watches = (
        Watch("InferenceService"),
        Watch("Deployment", _isvc_of),
        Watch("Service", _isvc_of),
        Watch("HorizontalPodAutoscaler", _isvc_of),
        Watch("Pod", _pod_isvc),
        Watch("ServingRuntime", _every_isvc),
        Watch("ClusterServingRuntime", _every_isvc),
    )

    def __init__(
        self,
        client: ApiClient,
        *,
        domain: str = DEFAULT_DOMAIN,
        python: str = sys.executable,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.domain = domain
        self.python = python
        self.clock = clock

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        try:
            isvc = await self.client.get("InferenceService", name, ns)
        except NotFound:
            return None
        if isvc["metadata"].get("deletionTimestamp"):
            return None
        uid = isvc["metadata"].get("uid", "")
        stopped = (isvc["metadata"].get("annotations") or {}).get(STOP_ANNOTATION) == "true"
        runtime = select_runtime(
            isvc,
            loop.informer("ServingRuntime").list(ns),
            loop.informer("ClusterServingRuntime").list(),
        )
        selected = runtime if isinstance(runtime, Selected) else None
        want = render_deployment(
            isvc, selected, python=self.python, storage_env=await self._storage_env(isvc)
        )
        deployment = None
        if want is not None:
            deployment = await self._ensure(
                want, uid, keys=("template", "selector", "strategy"), absent=stopped
            )
        if (
            deployment is not None
            and (autoscaler_class(isvc) == "none")
            and (deployment.get("spec") or {}).get("replicas") != initial_replicas(isvc)
        ):
            deployment = await self.client.patch(
                "Deployment",
                deployment["metadata"]["name"],
                {"spec": {"replicas": initial_replicas(isvc)}},
                ns,
            )
        service = await self._ensure(
            render_service(isvc, self.domain, selected), uid, keys=("selector", "ports")
        )
        hpa = render_hpa(isvc)
        await self._ensure(
            hpa
            or {
                "kind": "HorizontalPodAutoscaler",
                "apiVersion": "autoscaling/v2",
                "metadata": {"name": predictor_name(isvc), "namespace": ns},
            },
            uid,
            keys=("scaleTargetRef", "minReplicas", "maxReplicas", "metrics"),
            absent=hpa is None,
        )
        pa = render_podautoscaler(isvc)
        if pa is not None:
            await self._ensure(pa, uid, keys=("scaleTargetRef", "containerConcurrency"))
        pods = [
            p
            for p in loop.informer("Pod").list(ns)
            if ((p.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL) == name
        ]
        status = render_status(isvc, deployment, service, self.domain, runtime, pods)
        old = isvc.get("status") or {}
        status["conditions"] = keep_transition_times(
            old.get("conditions"), status["conditions"], rfc3339(self.clock())
        )
        await self._report(isvc, runtime, old, status, pods)
        if status != old:
            new = dict(isvc)
            new["status"] = status
            try:
                await self.client.update(new, subresource="status")
            except Conflict:
                return 0.0
        return None

    async def _storage_env(self, isvc: Obj) -> list[Obj]:
        """KServe's storage credentials: the predictor's ServiceAccount (`default` when unset)
        and the Secrets it lists (`tidal.kserve.credentials`)."""
        model = model_spec(isvc) or {}
        if not str(model.get("storageUri") or "").startswith("s3://"):
            return []
        ns = isvc["metadata"].get("namespace") or "default"
        p = (isvc.get("spec") or {}).get("predictor") or {}
        try:
            sa = await self.client.get(
                "ServiceAccount", p.get("serviceAccountName") or "default", ns
            )
        except (NotFound, KeyError):  # no such account (or no such kind on this API)
            return []
        except ApiError as exc:
            log.warning("service account of %s: %s", isvc["metadata"]["name"], exc)
            return []
        secrets: dict[str, Obj] = {}
        for ref in sa.get("secrets") or []:
            name = (ref or {}).get("name")
            if not name:
                continue
            try:
                secrets[name] = await self.client.get("Secret", name, ns)
            except (NotFound, KeyError):
                continue
        return s3_env(sa, secrets)

    async def _report(
        self, isvc: Obj, runtime: Selected | NoRuntime | None, old: Obj, new: Obj, pods: list[Obj]
    ) -> None:
        """Events for what changed: KServe's `InternalError` on the InferenceService when no
        runtime serves it; `ModelLoadFailed` on the pod whose model failed to load."""
        was = (old.get("modelStatus") or {}).get("lastFailureInfo") or {}
        now = (new.get("modelStatus") or {}).get("lastFailureInfo") or {}
        if not now or (was.get("message"), was.get("location")) == (
            now.get("message"),
            now.get("location"),
        ):
            return
        if isinstance(runtime, NoRuntime):
            involved, reason, message = isvc, "InternalError", runtime.error
        else:
            pod = next((p for p in pods if p["metadata"]["name"] == now.get("location")), None)
            involved = pod or isvc
            reason, message = "ModelLoadFailed", now.get("message", "")
        event = make_event(
            involved, reason, message, now=self.clock(), component=COMPONENT, type_="Warning"
        )
        try:
            await self.client.create(event)
        except ApiError as exc:  # an event is best effort
            log.warning("event %s for %s: %s", reason, isvc["metadata"]["name"], exc)

    async def _ensure(
        self, want: Obj, uid: str, *, keys: tuple[str, ...], absent: bool = False
    ) -> Obj | None:
        """Create `want`, update the listed spec keys and the labels/annotations if they drifted,
        or delete it when `absent` — only when this InferenceService controls the object."""
        kind, meta = want["kind"], want["metadata"]
        try:
            have = await self.client.get(kind, meta["name"], meta["namespace"])
        except NotFound:
            have = None
        if have is not None:
            ref = controller_of(have)
            if not ref or ref.get("uid") != uid:
                return have  # not ours (a user-applied HPA, say): leave it alone
        if absent:
            if have is not None:
                try:
                    await self.client.delete(kind, meta["name"], meta["namespace"])
                except NotFound:
                    pass
            return None
        if have is None:
            try:
                return await self.client.create(want)
            except Conflict:
                return await self.client.get(kind, meta["name"], meta["namespace"])
        hmeta = have.get("metadata") or {}
        wanted_ann = {**(hmeta.get("annotations") or {}), **(meta.get("annotations") or {})}
        if (
            spec_differs(have.get("spec") or {}, want["spec"], keys)
            or not covers(hmeta.get("labels") or {}, meta.get("labels") or {})
            or (hmeta.get("annotations") or {}) != wanted_ann
        ):
            new = copy.deepcopy(have)
            for k in keys:
                if k in want["spec"]:
                    new.setdefault("spec", {})[k] = want["spec"][k]
                else:
                    new.get("spec", {}).pop(k, None)
            new["metadata"]["labels"] = {**(hmeta.get("labels") or {}), **meta.get("labels", {})}
            new["metadata"]["annotations"] = wanted_ann
            return await self.client.update(new)
        return have


async def install_builtin_runtimes(client: ApiClient) -> list[str]:
    """`tidal up`: create tidal's built-in ClusterServingRuntimes, or bring them to this
    version's as `helm upgrade` would (`tidal.kserve.runtimes.upgrade`). Returns the names
    written."""
    from tidal.kserve.runtimes import builtin_runtimes, upgrade

    written = []
    for want in builtin_runtimes():
        name = want["metadata"]["name"]
        try:
            live = await client.get("ClusterServingRuntime", name)
        except NotFound:
            live = None
        new = upgrade(live, want)
        if new is None:
            continue
        try:
            if live is None:
                await client.create(new)
            else:
                await client.update(new)
        except Conflict:  # written meanwhile (another plane start): the next start converges
            continue
        written.append(name)
    return written
