"""`tidal serve kserve|get|list|delete`: arena's commands, flags, defaults, messages and layouts
(see `tidal.cli.arena` for the pure parts)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import yaml

from tidal.api.client import ApiClient
from tidal.api.errors import ApiError, Conflict, NotFound
from tidal.api.meta import owner_reference
from tidal.api.wellknown import ISVC_LABEL
from tidal.cli import arena, progress
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, run
from tidal.cli.printers import format_json, format_yaml


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve models (arena's `serve` commands)")
    ssub = serve.add_subparsers(dest="serve_command", metavar="SUBCOMMAND")
    serve.set_defaults(func=lambda args, env: (serve.print_help(env.stdout), 2)[1])

    k = ssub.add_parser(
        "kserve",
        help="Submit kserve to deploy and serve machine learning models.",
        description="Submit kserve to deploy and serve machine learning models. Locally the "
        "command runs on this machine (--image is kept in the object for a real cluster).",
    )
    k.add_argument("--name", "--servingName", dest="name", help="the serving name (required)")
    k.add_argument("--image", default="", help="the container image (kept for a real cluster)")
    k.add_argument("--cpu", default="", help="CPU request and limit, e.g. 1 or 500m")
    k.add_argument("--memory", default="", help="memory request and limit, e.g. 200Mi")
    k.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu request and limit")
    k.add_argument("-e", "--env", action="append", default=[], help="env KEY=VALUE (repeatable)")
    k.add_argument(
        "-d",
        "--data",
        action="append",
        default=[],
        help="SRC:DST; locally SRC is a host folder (on a cluster, a PVC name) mounted at DST",
    )
    k.add_argument("--port", type=int, default=8080, help="the container port (default 8080)")
    k.add_argument("--min-replicas", type=int, default=1, help="minimum replicas (default 1)")
    k.add_argument("--max-replicas", type=int, default=0, help="maximum replicas")
    k.add_argument(
        "--scale-metric",
        default="",
        help="possible values are concurrency, rps, cpu, memory. concurrency, rps are supported "
        "via KPA; any other name makes a Pods-metric HPA <name>-hpa",
    )
    k.add_argument(
        "--scale-target",
        type=int,
        default=0,
        help="integer target value of the metric type the Autoscaler watches for",
    )
    k.add_argument("-a", "--annotation", action="append", default=[], help="KEY=VALUE")
    k.add_argument(
        "--dry-run",
        choices=["none", "client"],
        default="none",
        help="client: print the objects (YAML) instead of submitting them, e.g. to apply them "
        "to a cluster with kubectl",
    )
    k.add_argument("-l", "--label", action="append", default=[], help="KEY=VALUE")
    k.add_argument(
        "--model-format", default="", help='"--model-format=name" or "--model-format=name:version"'
    )
    k.add_argument(
        "--storage-uri",
        default="",
        help="model URI: a local path, file://, pvc://, http(s)://, s3:// (docs/STORAGE.md)",
    )
    k.add_argument("--runtime", default="", help="ServingRuntime name")
    k.add_argument("--command", dest="command_flag", default="", help="the command (else the args)")
    k.add_argument("--shell", default="sh", help="the shell that runs the command (default sh)")
    k.add_argument(
        "--enable-prometheus",
        nargs="?",
        const="true",
        default="false",
        metavar="true|false",
        help="annotate the pods for Prometheus scraping (prometheus.io/scrape|port|path)",
    )
    k.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="the port of the pods' /metrics (default: --port)",
    )
    k.add_argument("--wait", action="store_true", help="show progress until the service is Ready")
    k.add_argument("--wait-timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    k.add_argument("command_args", nargs="*", metavar="COMMAND", help="the command to run")
    k.set_defaults(func=cmd_kserve)

    g = ssub.add_parser("get", help="display details of a serving job")
    g.add_argument("name", nargs="?")
    g.add_argument("-T", "--type", default="")
    g.add_argument("-v", "--version", default="")
    g.add_argument("-o", "--output", default="wide")
    g.set_defaults(func=cmd_get)

    ls = ssub.add_parser("list", aliases=["ls"], help="list all serving jobs")
    ls.add_argument("-A", "--all-namespaces", action="store_true")
    ls.add_argument("-T", "--type", default="")
    ls.set_defaults(func=cmd_list)

    d = ssub.add_parser("delete", aliases=["del"], help="delete serving jobs")
    d.add_argument("names", nargs="+", metavar="NAME")
    d.add_argument("-T", "--type", default="")
    d.add_argument("-v", "--version", default="")
    d.set_defaults(func=cmd_delete)


def _check_type(t: str) -> None:
    if t and t.lower() != "kserve":
        raise CliError(
            arena.logrus_error(0, "unknown serving job type,arena only supports: [kserve(KServe)]")
        )


def _bool_flag(value: str, rest: list[str]) -> tuple[bool, list[str]]:
    """A cobra-style bool flag (`--flag`, `--flag=true|false`) that argparse's optional value may
    have swallowed the command with (`--enable-prometheus "vllm serve ..."`): give it back."""
    v = value.lower()
    if v in ("true", "1", "t", "yes"):
        return True, rest
    if v in ("false", "0", "f", "no"):
        return False, rest
    return True, [value, *rest]


def cmd_kserve(args: Any, env: Env) -> int:
    enable_prometheus, command_args = _bool_flag(args.enable_prometheus, list(args.command_args))
    command = [args.command_flag] if args.command_flag else command_args
    a = arena.KServeArgs(
        name=args.name,
        namespace=context_namespace(args),
        image=args.image,
        cpu=args.cpu,
        memory=args.memory,
        gpus=args.gpus,
        env=args.env,
        data=args.data,
        port=args.port,
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        scale_metric=args.scale_metric,
        scale_target=args.scale_target,
        annotation=args.annotation,
        label=args.label,
        model_format=args.model_format,
        storage_uri=args.storage_uri,
        runtime=args.runtime,
        command=command,
        shell=args.shell,
        enable_prometheus=enable_prometheus,
        metrics_port=args.metrics_port,
    )
    try:
        objs = arena.build(a)
    except arena.ArgsError as exc:
        msg = str(exc)
        if not msg.startswith("required flag"):
            msg = f"failed to validate command args: {msg}"
        env.err(arena.logrus_error(env.elapsed(), msg) + "\n")
        return 1
    name, ns = a.name or "", a.namespace
    if args.dry_run == "client":
        env.out(yaml.safe_dump_all(objs, sort_keys=False))
        return 0

    async def body(client: ApiClient) -> int:
        try:
            await client.get("InferenceService", name, ns)
        except NotFound:
            pass
        else:
            env.err(
                arena.logrus_error(
                    env.elapsed(),
                    f"the job {name} is already exist, please delete it first. "
                    f"use 'tidal serve delete {name}'",
                )
                + "\n"
            )
            return 1
        created: list[tuple[str, str]] = []
        try:
            owner = None
            for obj in objs:
                if owner is not None:  # arena's <name>-hpa goes with the InferenceService
                    obj["metadata"]["ownerReferences"] = [owner_reference(owner, controller=False)]
                made = await client.create(obj, namespace=ns)
                owner = owner or made
                created.append((obj["kind"], obj["metadata"]["name"]))
                group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
                env.out(f"{obj['kind'].lower()}.{group}/{obj['metadata']['name']} created\n")
        except ApiError as exc:
            for kind, n in reversed(created):  # nothing half-made stays behind
                try:
                    await client.delete(kind, n, ns)
                except ApiError:
                    pass
            verb = "AlreadyExists" if isinstance(exc, Conflict) else exc.reason
            env.err(f"Error from server ({verb}): error when creating: {exc.message}\n")
            return 1
        env.err(
            arena.logrus_info(env.elapsed(), f"The Job {name} has been submitted successfully")
            + "\n"
        )
        env.err(
            arena.logrus_info(
                env.elapsed(),
                f"You can run `tidal serve get {name} --type kserve -n {ns}` to check the job "
                "status",
            )
            + "\n"
        )
        if args.wait:
            return await progress.wait_ready(client, env, name, ns, args.wait_timeout, is_isvc=True)
        return 0

    return run(env, args, body)


def cmd_get(args: Any, env: Env) -> int:
    if not args.name:
        env.err(arena.logrus_error(env.elapsed(), "not set job name,please set it") + "\n")
        return 1
    if args.output not in ("wide", "json", "yaml"):
        env.err(
            arena.logrus_error(env.elapsed(), "unknown output format,only support:[wide|json|yaml]")
            + "\n"
        )
        return 1
    _check_type(args.type)
    ns = context_namespace(args)

    async def body(client: ApiClient) -> int:
        name = args.name
        try:
            isvc = await client.get("InferenceService", name, ns)
        except NotFound:
            env.err(
                arena.logrus_error(
                    env.elapsed(),
                    f"Not found serving job {name}, please check it with "
                    f"`tidal serve list | grep {name}`",
                )
                + "\n"
            )
            return 1
        sel = f"{ISVC_LABEL}={name}"
        deps = (await client.list("Deployment", ns, label_selector=sel)).get("items", [])
        pods = (await client.list("Pod", ns, label_selector=sel)).get("items", [])
        if args.output == "wide":
            env.out(arena.format_serve_get(isvc, deps, pods, time.time()))
        else:
            info = {
                "name": name,
                "namespace": ns,
                "type": "KServe",
                "desiredInstances": sum((d.get("status") or {}).get("replicas", 0) for d in deps),
                "availableInstances": sum(
                    (d.get("status") or {}).get("availableReplicas", 0) for d in deps
                ),
                "endpoints": [{"name": "", "port": 80}]
                if (isvc.get("status") or {}).get("url")
                else [],
                "instances": [
                    {
                        "name": p["metadata"]["name"],
                        "status": arena.pod_status(p),
                        "restartCount": arena.pod_restarts(p),
                        "ip": (p.get("status") or {}).get("podIP", ""),
                        "nodeName": (p.get("spec") or {}).get("nodeName", ""),
                    }
                    for p in pods
                ],
                "creationTimestamp": isvc["metadata"].get("creationTimestamp"),
            }
            env.out(format_json(info) if args.output == "json" else format_yaml(info))
        return 0

    return run(env, args, body)


def cmd_list(args: Any, env: Env) -> int:
    _check_type(args.type)
    ns = None if args.all_namespaces else context_namespace(args)

    async def body(client: ApiClient) -> int:
        isvcs = (
            await client.list("InferenceService", ns, label_selector="servingType=kserve")
        ).get("items", [])
        deps: dict[str, list] = {}
        for d in (await client.list("Deployment", ns)).get("items", []):
            owner = ((d.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL)
            if owner:
                deps.setdefault(owner, []).append(d)
        env.out(arena.format_serve_list(isvcs, deps, all_namespaces=args.all_namespaces))
        return 0

    return run(env, args, body)


def cmd_delete(args: Any, env: Env) -> int:
    _check_type(args.type)
    ns = context_namespace(args)

    async def body(client: ApiClient) -> int:
        for name in args.names:
            try:
                isvc = await client.get("InferenceService", name, ns)
            except NotFound:
                env.err(
                    arena.logrus_info(
                        env.elapsed(), f"The serving job '{name}' does not exist,skip to delete it."
                    )
                    + "\n"
                )
                continue
            version = (
                ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
            ).get("latestCreatedRevision", "")[-5:]
            await delete_service(client, name, ns)
            env.err(
                arena.logrus_info(
                    env.elapsed(),
                    f"The serving job {name} with version {version} has been deleted successfully",
                )
                + "\n"
            )
        return 0

    return run(env, args, body)


async def delete_service(client: ApiClient, name: str, ns: str) -> None:
    """The InferenceService and everything made for it: KServe's children (ownerReferences
    cascade), arena's `<name>-hpa`, and any pod still labelled for it."""
    targets = [
        ("InferenceService", name),
        ("HorizontalPodAutoscaler", f"{name}-hpa"),
        ("HorizontalPodAutoscaler", f"{name}-predictor"),
        ("Deployment", f"{name}-predictor"),
        ("Service", f"{name}-predictor"),
    ]
    for kind, n in targets:
        try:
            obj = await client.get(kind, n, ns)
        except NotFound:
            continue
        if kind != "InferenceService" and not _made_for(obj, name):
            continue  # a user's own object of that name
        try:
            await client.delete(kind, n, ns)
        except NotFound:
            pass
    sel = f"{ISVC_LABEL}={name}"
    for pod in (await client.list("Pod", ns, label_selector=sel)).get("items", []):
        if not pod["metadata"].get("deletionTimestamp"):
            try:
                await client.delete("Pod", pod["metadata"]["name"], ns)
            except NotFound:
                pass


def _made_for(obj: dict, name: str) -> bool:
    meta = obj.get("metadata") or {}
    if (meta.get("labels") or {}).get(ISVC_LABEL) == name:
        return True
    if any(r.get("kind") == "InferenceService" for r in meta.get("ownerReferences") or []):
        return True
    ref = ((obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
    return meta.get("name") == f"{name}-hpa" and ref == f"{name}-predictor"
