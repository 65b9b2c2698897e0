"""`tidal simulate`: the real controllers and decision code on virtual time.

Each tick: the kubelet makes pods follow the Deployments, requests arrive (held while a Service
has no ready pod), the load gives every Running pod its usage, the metrics APIs publish on their
resolution, then every controller plugin syncs what is due. `PLUGINS` lists them by kind: a
factory gets the `SimContext` (`tidal.sim.plugin`: the API, on the real Registry over SQLite in
memory, clock, scenario, request flows) and returns something with `async step() ->
list[Record]`: `tidal.sim.hpa`, `.cron`, `.kpa`, `.predictive` (docs/SIMULATOR.md). What a run
returns is `tidal.sim.summary`.
"""

from __future__ import annotations

import copy
import functools
import gc
from collections.abc import Callable
from typing import Any

from tidal import validation
from tidal.api.errors import ApiError
from tidal.api.hpa_defaults import default_spec
from tidal.api.quantity import parse
from tidal.sim import cron, kpa, predictive
from tidal.sim import hpa as hpa_plugin
from tidal.sim import report as rep
from tidal.sim.clock import TickClock
from tidal.sim.load import Expr
from tidal.sim.metrics import SimMetrics
from tidal.sim.plugin import Factory, Record, SimContext
from tidal.sim.requests import RequestFlow
from tidal.sim.scenario import DeploymentSpec, Scenario, ScenarioError
from tidal.sim.serve import ServeWorld, Service, ServiceModel
from tidal.sim.summary import Series, Summary
from tidal.sim.traces import Arrival
from tidal.sim.world import Kubelet, PodTemplate, SimApi, deployment_manifest

# kind -> the plugin the simulator runs for scenarios with objects of that kind
PLUGINS: dict[str, Factory] = {
    hpa_plugin.KIND: hpa_plugin.HPAPlugin,
    cron.KIND: cron.CronHPAPlugin,
    kpa.KIND: kpa.KPAPlugin,
    predictive.KIND: predictive.PredictivePlugin,
}


def _above_target(
    hpa: dict[str, Any],
    pods: list[dict[str, Any]],
    usage: dict[str, tuple],
    objects: dict[tuple[str, str, str], dict[str, float]] | None = None,
    spec: dict[str, Any] | None = None,
) -> bool:
    """Whether the load right now exceeds any of the HPA's targets (for the summary); `objects`
    holds the Object metrics' true values now, by (namespace, plural, name)."""
    if not pods:
        return False
    if spec is None:
        spec = default_spec(hpa.get("spec") or {})
    vals = [usage[p["metadata"]["name"]] for p in pods if p["metadata"]["name"] in usage]
    if not vals:
        return False
    for m in spec.get("metrics") or ():
        if m.get("type") == "Resource":
            src = m["resource"]
            idx = 0 if src.get("name") == "cpu" else 1
            target = src.get("target") or {}
            avg = sum(v[idx] for v in vals) / len(vals)
            if target.get("averageUtilization") is not None:
                req = [
                    _quantity(p["spec"]["containers"][0]["resources"]["requests"][src["name"]])
                    for p in pods
                ]
                if req and avg * 100 > target["averageUtilization"] * (sum(req) / len(req)):
                    return True
            elif target.get("averageValue") is not None and avg > float(
                parse(target["averageValue"])
            ):
                return True
        elif m.get("type") == "Pods":
            name = m["pods"]["metric"]["name"]
            avg = sum(v[2].get(name, 0.0) for v in vals) / len(vals)
            if avg > float(parse(m["pods"]["target"].get("averageValue") or 0)):
                return True
        elif m.get("type") == "Object" and objects is not None:
            src = m["object"]
            desc = src.get("describedObject") or {}
            value = (
                objects.get(
                    (
                        hpa["metadata"]["namespace"],
                        _plural(desc.get("kind", "")),
                        desc.get("name", ""),
                    )
                )
                or {}
            ).get(src["metric"]["name"])
            target = src.get("target") or {}
            if value is None:
                continue
            if target.get("value") is not None and value > float(parse(target["value"])):
                return True
            if target.get("averageValue") is not None and value / len(pods) > float(
                parse(target["averageValue"])
            ):
                return True
    return False


@functools.lru_cache(maxsize=1024)
def _quantity(text: str) -> float:
    """A pod's request as a number (pods of a Deployment share a handful of spellings)."""
    return float(parse(text))


def _plural(kind: str) -> str:
    from tidal.api.resources import by_kind

    try:
        return by_kind(kind).plural
    except KeyError:
        return kind.lower() + "s"


def _kpa_above_target(pa: dict[str, Any], flow: RequestFlow, scenario: Scenario) -> bool:
    """Requests held, or more per ready pod than the PodAutoscaler's target (the per-pod value
    the user gave, before the target utilization)."""
    from tidal.autoscaling.kpa.decider import make_decider
    from tidal.autoscaling.kpa.podautoscaler import from_object

    if flow.held_now > 0:
        return True
    if flow.ready == 0:
        return False
    spec = make_decider(from_object(pa), scenario.kpa_config)
    value = flow.rps if spec.scaling_metric == "rps" else flow.concurrency
    return value / flow.ready > spec.total_value + 1e-9


async def simulate(
    scenario: Scenario, emit: Callable[[Record], None] | None = None
) -> tuple[list[Record], Summary]:
    """Run the scenario; `emit` gets every decision as it is made. Deterministic.

    The cyclic garbage collector runs less often meanwhile (a run allocates millions of
    short-lived, acyclic API dicts, which reference counting frees; with the default thresholds
    the collector's passes over a heap of thousands of objects made a run's cost grow faster
    than its objects); the thresholds are restored after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 10)
    try:
        return await _simulate(scenario, emit)
    finally:
        gc.set_threshold(*thresholds)


async def _simulate(
    scenario: Scenario, emit: Callable[[Record], None] | None
) -> tuple[list[Record], Summary]:
    clock = TickClock(tick_s=scenario.tick_s, epoch=scenario.start_s)
    prof = scenario.profile
    api_holder: list[SimApi] = []

    def pods_in(ns: str, selector: str | None) -> list[str]:
        listed = api_holder[0].registry.list("Pod", ns, label_selector=selector)
        return [p["metadata"]["name"] for p in listed["items"]]

    def deployment_pods(ns: str, name: str) -> list[str]:
        return [p["metadata"]["name"] for p in kubelet.ready_pods(name, ns)]

    metrics = SimMetrics(pods_in, prof.metric_resolution_s, prof.metric_window_s, deployment_pods)
    api = SimApi(clock.now, metrics)
    api_holder.append(api)
    templates = {}
    objects = [_expand(o, scenario) for o in scenario.objects]
    for ns in sorted(
        {d.namespace for d in scenario.deployments}
        | {str((o.get("metadata") or {}).get("namespace") or "default") for o in objects}
    ):
        api.ensure_namespace(ns)
    for d in scenario.deployments:
        templates[d.name] = PodTemplate(d.cpu_request_m, d.memory_request, d.startup_s)
        await api.create(
            deployment_manifest(d.name, d.namespace, d.replicas, d.labels, templates[d.name])
        )
    kinds = {o["kind"] for o in objects}
    unknown = sorted(kinds - set(PLUGINS))
    if unknown:
        raise ScenarioError(
            f"objects: no simulator plugin for {', '.join(unknown)} (have: {', '.join(sorted(PLUGINS))})"
        )
    for obj in objects:
        await _apply(api, obj)
    kubelet = Kubelet(api, templates)
    ctx = SimContext(api, clock, scenario)
    for d in scenario.deployments:
        if d.load.has_requests:
            ctx.flows[(d.namespace, d.name)] = RequestFlow(d.namespace, d.name, d.hold_timeout_s)
    serving = _serving(scenario)
    ctx.serving.update(serving)
    world = ServeWorld(list(serving.values()), scenario.node_concurrency) if serving else None
    rps_due: dict[str, float] = {}  # running sum of rps × tick for capacity Services fed by rps
    samples: dict[str, list[rep.ReplicaSample]] = {name: [] for name in serving}
    spec_cache: dict[str, tuple[str, dict[str, Any]]] = {}  # HPA -> (resourceVersion, defaulted)
    plugins = [PLUGINS[k](ctx) for k in sorted(kinds)]
    records: list[Record] = []
    summary = Summary()
    for (_, name), flow in ctx.flows.items():
        summary.requests[name] = flow.totals
    for _ in range(scenario.ticks + 1):
        await kubelet.step()
        now, t = clock.now(), clock.elapsed_s
        variables = scenario.trace.at(t) if scenario.trace else {}
        ready_of = {d.name: kubelet.ready_pods(d.name, d.namespace) for d in scenario.deployments}
        pods_of = {  # in name order, as the API lists them (the router's ties rotate in it)
            d.name: sorted(kubelet.pods(d.name, d.namespace), key=lambda p: p["metadata"]["name"])
            for d in scenario.deployments
        }
        live = {ns: kubelet.pod_names(ns) for ns in {d.namespace for d in scenario.deployments}}
        if world is not None:
            for d in scenario.deployments:
                svc = serving.get(d.name)
                if svc is None:
                    continue
                ready_names = [p["metadata"]["name"] for p in ready_of[d.name]]
                existing = [p["metadata"]["name"] for p in pods_of[d.name]]
                svc.sync_pods(t, existing, ready_names)
                if d.load.rps is not None and not d.load.from_trace:
                    names0 = dict(variables, t=t, replicas=float(len(ready_names)))
                    _rps_arrivals(svc, rps_due, d, max(d.load.rps(**names0), 0.0), t, scenario)
            world.tick(t, scenario.tick_s)
        usage_now: dict[str, tuple] = {}
        objects_now: dict[tuple[str, str, str], dict[str, float]] = {}
        for d in scenario.deployments:
            ready = ready_of[d.name]
            all_pods = pods_of[d.name]
            names = dict(variables, t=t, replicas=float(len(ready)))
            router: dict[str, float] = {}
            flow = ctx.flows.get((d.namespace, d.name))
            svc = serving.get(d.name)
            draining = 0
            if flow is not None and svc is not None:
                st = svc.stats
                draining = st.draining
                flow.observe(
                    now,
                    t,
                    scenario.tick_s,
                    st.arrived,
                    st.concurrency,
                    len(ready),
                    st.held_now,
                    st.new_held,
                )
            elif flow is not None:
                rps = d.load.rps(**names) if d.load.rps else 0.0
                conc = d.load.concurrency(**names) if d.load.concurrency else rps * d.request_s
                flow.step(now, t, scenario.tick_s, rps, conc, len(ready))
            if flow is not None:
                names.update(rps=flow.rps, concurrency=flow.concurrency)
                values = {
                    "router_requests_per_second": flow.rps,
                    "router_concurrency": flow.concurrency,
                    "router_in_flight": flow.concurrency,
                    "router_held_requests": float(flow.held_now),
                }
                metrics.record_object(now, d.namespace, "services", d.name, values)
                objects_now[(d.namespace, "services", d.name)] = values
                if ready:
                    router = {
                        k: v / len(ready) for k, v in values.items() if k != "router_held_requests"
                    }
            for p in ready:
                cpu = d.load.cpu(**names) if d.load.cpu else 0.0
                mem = d.load.memory(**names) if d.load.memory else 0.0
                custom = router | {k: e(**names) for k, e in d.load.metrics.items()}
                u = (max(cpu, 0.0), max(mem, 0.0), custom)
                usage_now[p["metadata"]["name"]] = u
                metrics.record(now, d.namespace, p["metadata"]["name"], u)
            paid = len(all_pods) + draining
            summary.replica_seconds[d.name] = (
                summary.replica_seconds.get(d.name, 0.0) + paid * scenario.tick_s
            )
            summary.max_replicas[d.name] = max(summary.max_replicas.get(d.name, 0), paid)
            series = summary.series.setdefault(d.name, Series())
            series.t.append(t)
            series.rps.append(flow.rps if flow is not None else 0.0)
            series.concurrency.append(flow.concurrency if flow is not None else 0.0)
            dep = api.objects.get(("Deployment", d.namespace, d.name)) or {}
            series.desired.append(int((dep.get("spec") or {}).get("replicas") or 0))
            series.pods.append(paid)
            series.ready.append(len(ready))
            done = svc.stats.finished if svc is not None else []
            series.latency_mean.append(sum(done) / len(done) if done else None)
            series.latency_max.append(max(done) if done else None)
            if svc is not None:
                samples[d.name].append(rep.ReplicaSample(t, paid, len(ready), 0.0))
        for ns, names_live in live.items():
            metrics.forget(ns, names_live)
        for om in scenario.object_metrics:
            names = dict(
                variables, t=t, replicas=float(len(kubelet.ready_pods(om.name, om.namespace)))
            )
            values = {k: e(**names) for k, e in om.metrics.items()}
            metrics.record_object(now, om.namespace, om.plural, om.name, values)
            objects_now.setdefault((om.namespace, om.plural, om.name), {}).update(values)
        metrics.maybe_publish(now)
        for plugin in plugins:
            for rec in await plugin.step():
                records.append(rec)
                if rec.desired != rec.current:
                    summary.rescales += 1
                    if rec.desired > rec.current and summary.first_scale_up_s is None:
                        summary.first_scale_up_s = rec.t
                if emit:
                    emit(rec)
        for hpa in api.items("HorizontalPodAutoscaler"):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            ns = hpa["metadata"]["namespace"]
            name = hpa["metadata"]["name"]
            summary.above_target_s.setdefault(name, 0.0)
            flow = ctx.flows.get((ns, ref.get("name", "")))
            rv = hpa["metadata"].get("resourceVersion", "")
            if spec_cache.get(name, ("",))[0] != rv:
                spec_cache[name] = (rv, default_spec(hpa.get("spec") or {}))
            if (flow is not None and flow.held_now > 0) or _above_target(
                hpa,
                ready_of.get(ref.get("name", "")) or kubelet.ready_pods(ref.get("name", ""), ns),
                usage_now,
                objects_now,
                spec_cache[name][1],
            ):
                summary.above_target_s[name] += scenario.tick_s
        for pa in api.items("PodAutoscaler"):
            ref = (pa.get("spec") or {}).get("scaleTargetRef") or {}
            flow = ctx.flows.get((pa["metadata"]["namespace"], ref.get("name", "")))
            name = pa["metadata"]["name"]
            summary.kpa_above_target_s.setdefault(name, 0.0)
            if flow is not None and _kpa_above_target(pa, flow, scenario):
                summary.kpa_above_target_s[name] += scenario.tick_s
        clock.advance()
    _report(scenario, serving, samples, summary)
    return records, summary


def _serving(scenario: Scenario) -> dict[str, Service]:
    """A `Service` (router and pods with a capacity) per Deployment with `maxConcurrency`."""
    out: dict[str, Service] = {}
    for d in scenario.deployments:
        if d.max_concurrency is None:
            continue
        model = d.service or ServiceModel(seconds=Expr(d.request_s, f"{d.name}.requestSeconds"))
        arrivals: list[Arrival] = list(scenario.requests or []) if d.load.from_trace else []
        out[d.name] = Service(d.name, model, d.max_concurrency, arrivals, d.hold_timeout_s)
    return out


def _rps_arrivals(
    svc: Service, due: dict[str, float], d: DeploymentSpec, rps: float, t: float, sc: Scenario
) -> None:
    """Whole requests from a rate (the running sum floored, as `RequestFlow`), spread evenly
    over the tick."""
    before = int(due.get(d.name, 0.0) + 1e-9)
    due[d.name] = due.get(d.name, 0.0) + rps * sc.tick_s
    n = int(due[d.name] + 1e-9) - before
    if isinstance(svc.arrivals, list):
        svc.arrivals.extend(Arrival(t + (k + 0.5) * sc.tick_s / n) for k in range(n))


def _report(
    scenario: Scenario,
    serving: dict[str, Service],
    samples: dict[str, list[rep.ReplicaSample]],
    summary: Summary,
) -> None:
    """The latency report of every Deployment with a capacity (requests still outstanding at
    the end are recorded with their latency so far and status 0)."""
    summary.slo = scenario.slo
    end = (scenario.ticks + 1) * scenario.tick_s
    for name, svc in serving.items():
        svc.finish_run(end)
        got = samples[name]
        demand = rep.demand_from_requests(svc.records, 0.0, scenario.tick_s, len(got))
        got = [
            rep.ReplicaSample(s.t_s, s.pods, s.ready, dm) for s, dm in zip(got, demand, strict=True)
        ]
        records = sorted(svc.records, key=lambda r: r.arrival_s)
        summary.request_records[name] = records
        totals = summary.requests.get(name)
        if totals is not None:  # the router's counts, from the requests themselves
            waits = [r.held_s for r in records if r.held_s > 0 and r.status != 503]
            totals.waited_s = sum(waits)
            totals.max_wait_s = max(waits, default=0.0)
            totals.timed_out = sum(1 for r in records if r.status == 503 and r.held_s > 0)
        summary.report.append(
            rep.report(
                name,
                records,
                got,
                tick_s=scenario.tick_s,
                capacity=float(svc.cap),
                slo=scenario.slo,
            )
        )


def _expand(obj: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """An InferenceService that uses the KPA becomes the PodAutoscaler KServe would make for its
    predictor (Deployment `<name>-predictor`, else `<name>`); other objects are applied as given."""
    if obj.get("kind") != "InferenceService":
        return obj
    from tidal.controllers.kpa import render_podautoscaler
    from tidal.kserve.render import uses_kpa

    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    if not name:
        raise ScenarioError("objects: an InferenceService without metadata.name")
    isvc = copy.deepcopy(obj)
    isvc["metadata"] = dict(meta)
    if not uses_kpa(isvc):
        raise ScenarioError(
            f'objects: InferenceService "{name}" does not use the KPA (give it minReplicas: 0, '
            "scaleMetric: concurrency|rps, or the autoscaling.knative.dev/class annotation); "
            "simulate an HPA-mode predictor with its HorizontalPodAutoscaler"
        )
    have = {d.name for d in scenario.deployments}
    target = f"{name}-predictor" if f"{name}-predictor" in have else name
    return render_podautoscaler(isvc, target)


_VALIDATED = (
    "HorizontalPodAutoscaler",
    "CronHorizontalPodAutoscaler",
    "PodAutoscaler",
    "PredictiveHorizontalPodAutoscaler",
)


async def _apply(api: SimApi, obj: dict[str, Any]) -> None:
    """Default and validate as the API server does (errors name the field), then create."""
    obj = copy.deepcopy(obj)
    kind = str(obj.get("kind"))
    if kind in _VALIDATED:
        validate, fill = validation.rules(kind)
        fill(obj)
        causes = validate(obj)
        if causes:
            name = (obj.get("metadata") or {}).get("name", "")
            detail = "; ".join(f"{c.field}: {c.message}" for c in causes)
            raise ScenarioError(f'{kind} "{name}" is invalid: {detail}')
    if not (obj.get("metadata") or {}).get("name"):
        raise ScenarioError(f"objects: a {obj.get('kind')} without metadata.name")
    try:
        await api.create(obj)
    except ApiError as exc:  # what the API server refuses beyond the validated kinds
        raise ScenarioError(f"objects: {kind} {obj['metadata']['name']!r}: {exc}") from None
