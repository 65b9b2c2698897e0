"""`pods/NAME/log`: per container, `previous`, `since*`, `timestamps`, `follow` until the pod
ends (tidal.pods.logs, docs/PODS.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidal.api.errors import BadRequest, NotFound
from tidal.pods import logs as pod_logs
from tidal.server.asgi import Request, Response, Stream

if TYPE_CHECKING:
    from tidal.server.app import ApiServer


def pod_log(app: ApiServer, req: Request, namespace: str, name: str) -> Response | Stream:
    """The log file's text, or a stream that follows it while the same pod runs."""
    pod = app.registry.get("Pod", name, namespace)
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    opts = pod_logs.options(req.params, name, containers)
    path = pod_logs.log_file(app.home / "pods" / namespace / name, containers, opts.container)
    if opts.previous and not pod_logs.previous(path).exists():
        raise BadRequest(
            f'previous terminated container "{opts.container}" in pod "{name}" not found'
        )
    data = pod_logs.read(path, opts, app.clock())
    if not opts.follow or opts.previous:
        return Response(data, content_type=b"text/plain")
    uid = pod["metadata"].get("uid")

    def alive() -> bool:
        try:
            current = app.registry.get("Pod", name, namespace)
        except NotFound:
            return False
        phase = (current.get("status") or {}).get("phase")
        return current["metadata"].get("uid") == uid and phase not in ("Succeeded", "Failed")

    return Stream(pod_logs.follow(path, opts, data, alive, app.clock), b"text/plain")
