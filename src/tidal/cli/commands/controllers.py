"""`tidal controllers`: tidal's controllers against any Kubernetes API (kubeconfig, context, or the
pod's service account inside a cluster), with leader election on a Lease; and
`tidal manifests controllers`: what a cluster needs to run them."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from tidal.cli.env import Env
from tidal.cli.kube import CliError, connect
from tidal.controllers.election import Timing
from tidal.controllers.manager import CLUSTER_CONTROLLERS, CONTROLLERS, Settings, parse_names


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "controllers",
        help="run tidal's controllers against a Kubernetes API (leader-elected)",
        description="Run tidal's controllers against any Kubernetes API server reached through "
        "a kubeconfig (or, inside a pod, its service account), as kube-controller-manager does: "
        "one leader per Lease, standbys take over when it goes.",
    )
    p.add_argument(
        "--only",
        default=",".join(CLUSTER_CONTROLLERS),
        help=f"comma list from {', '.join(CONTROLLERS)}; all; none "
        f"(default {','.join(CLUSTER_CONTROLLERS)})",
    )
    p.add_argument(
        "--leader-elect",
        default="true",
        choices=["true", "false"],
        help="campaign for the Lease before running (default true)",
    )
    p.add_argument("--lease-name", default="tidal-controllers")
    p.add_argument("--lease-namespace", default="kube-system")
    p.add_argument("--identity", help="holder identity (default: $POD_NAME, else host_pid)")
    p.add_argument("--leader-elect-lease-duration", type=_seconds, default=15.0)
    p.add_argument("--leader-elect-renew-deadline", type=_seconds, default=10.0)
    p.add_argument("--leader-elect-retry-period", type=_seconds, default=2.0)
    p.add_argument("--health-address", default="127.0.0.1", help="/healthz and /metrics address")
    p.add_argument("--health-port", type=int, default=10258)
    p.add_argument("--hpa-profile", help="HPA profile for the hpa controller (fast, kubernetes)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_controllers)

    m = sub.add_parser("manifests", help="print the manifests a cluster needs for tidal")
    msub = m.add_subparsers(dest="manifests_command", metavar="controllers")
    c = msub.add_parser("controllers", help="CRDs, RBAC and a Deployment for `tidal controllers`")
    c.add_argument("--only", default=",".join(CLUSTER_CONTROLLERS))
    c.add_argument("--image", help="the controllers' image (default tidal-controllers:VERSION)")
    c.add_argument(
        "--dockerfile",
        metavar="PATH",
        help="also write a Dockerfile that builds that image from tidal's source",
    )
    c.set_defaults(func=cmd_manifests)
    m.set_defaults(func=lambda args, env: (m.print_help(env.stdout), 2)[1])


class _NoAliases(yaml.SafeDumper):
    """Every mapping written out in full: no `&id001` anchors for shared sub-schemas."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _seconds(text: str) -> float:
    """A number of seconds or a Go duration (`15s`, `1m`), as the controller manager takes it."""
    from tidal.api.gotime import SECOND, parse_duration

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text) / SECOND
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: {exc}") from None


def _client(args: Any) -> Any:
    from tidal.client.http import HttpClient
    from tidal.client.kubeconfig import load_incluster

    explicit = getattr(args, "kubeconfig", None) or os.environ.get("KUBECONFIG")
    if not explicit and os.environ.get("KUBERNETES_SERVICE_HOST"):
        conn = load_incluster()
        return HttpClient(
            conn.server, verify=conn.verify, namespace=conn.namespace, connection=conn
        )
    return connect(args)


def cmd_controllers(args: Any, env: Env) -> int:
    from tidal.standalone import Options, default_identity, run

    try:
        names = parse_names(args.only, tuple(CONTROLLERS))
    except ValueError as exc:
        env.err(f"error: --only: {exc}\n")
        return 1
    timing = Timing(
        args.leader_elect_lease_duration,
        args.leader_elect_renew_deadline,
        args.leader_elect_retry_period,
    )
    problems = timing.problems()
    if problems:
        env.err(f"error: --leader-elect-*: {problems[0]}\n")
        return 1
    if "kpa" in names:
        env.err("error: --only: kpa needs the local plane's router; it runs inside `tidal up`\n")
        return 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    opts = Options(
        names=names,
        settings=Settings(hpa_profile=args.hpa_profile),
        leader_elect=args.leader_elect == "true",
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        identity=args.identity or os.environ.get("POD_NAME") or default_identity(),
        timing=timing,
        health_host=args.health_address,
        health_port=args.health_port,
    )
    try:
        _client(args)  # fail early, with the CLI's words, on a missing or broken kubeconfig
    except CliError as exc:
        env.err(exc.message.rstrip("\n") + "\n")
        return exc.code
    env.err(
        f"tidal controllers: {', '.join(names) or 'none'}; "
        + (
            f"leader election on Lease {args.lease_namespace}/{args.lease_name} "
            f"as {opts.identity}\n"
            if opts.leader_elect
            else "no leader election\n"
        )
    )
    return run(lambda: _client(args), opts)


def cmd_manifests(args: Any, env: Env) -> int:
    from tidal.cli.cluster_manifests import DOCKERFILE, IMAGE, controller_manifests

    allowed = tuple(n for n in CONTROLLERS if n in ("cronhpa", "predictive"))
    try:
        names = parse_names(args.only, allowed)
    except ValueError as exc:
        env.err(f"error: --only: {exc}\n")
        return 1
    image = args.image or IMAGE
    docs = controller_manifests(names, image)
    env.out(yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False))
    if args.dockerfile:
        path = Path(args.dockerfile)
        path.write_text(DOCKERFILE.format(image=image, dockerfile=path.name))
        env.err(f"wrote {path}\n")
    return 0
