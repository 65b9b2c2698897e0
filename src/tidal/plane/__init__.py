"""The local control plane, one asyncio (uvloop) process: `python -m tidal.plane --home DIR`.

It composes the API server (HTTPS on loopback, `tidal.server.serve`), the controllers
(InferenceService, Deployment, Endpoints, HPA, CronHPA, KPA) on the
in-process client, the pod runner, the metrics (resource sampler, custom/external metrics
pipeline), and supervises the router, a separate process in its own session (started, or adopted
when a live one from an earlier plane is found: pid + process start time in `router.pid`).

Settings persist in `$home/config.yaml`: a later `tidal up` without flags reuses the same ports, so
a router and pods that outlived a killed plane stay reachable. Readiness is announced by writing
`$home/plane.ready` (JSON: pid, api url, ports) once everything listens.

SIGTERM/SIGINT (`tidal down`) stops everything the plane runs: controllers, the router and the
pods' processes; the objects stay in SQLite. A kill -9 stops only the plane: the router and pods
keep serving, and the next plane adopts them.

Modules: `ports` (binding the ports, naming who holds one), `supervisor` (the router process:
start, adopt, spare, restart with back-off), `ingress` (the ingress Service), `compose` (`Plane`,
the composition of the parts), `main` (`amain`/`main`: pid records, readiness, signals, flags).
The home's files, pid records and settings (config.yaml, flags) live in `tidal.home`.
"""
