"""Kubeconfig files: the one `tidal up` writes for the local plane (`$TIDAL_HOME/kubeconfig`,
context `tidal`, CA data, token, namespace `default`), merging that context into a user's
kubeconfig on request, and loading any kubeconfig with the official `kubernetes` package's
loader, so a real cluster's credentials (token, client certificate, exec plugin, OIDC) work as
they do in kubectl.

Which file: `--kubeconfig` if given, else `$KUBECONFIG` (a path list, merged as kubectl merges),
else `$TIDAL_HOME/kubeconfig` merged with `~/.kube/config` (tidal's file first, so the local
plane is the default context and a cluster's contexts stay reachable with `--context`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "tidal"


def tidal_home(home: Path | str | None = None) -> Path:
    """`home`, else `$TIDAL_HOME`, else `~/.tidal`."""
    if home is not None:
        return Path(home)
    return Path(os.environ.get("TIDAL_HOME") or Path.home() / ".tidal")


def kubeconfig_path(home: Path | str | None = None) -> Path:
    return tidal_home(home) / "kubeconfig"


def local_kubeconfig(
    server: str, ca_pem: bytes, token: str, *, context: str = CONTEXT
) -> dict[str, Any]:
    """The kubeconfig document for the local plane."""
    import base64

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": "default"},
            }
        ],
        "current-context": context,
    }


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_kubeconfig(
    home: Path | str, server: str, ca_pem: bytes, token: str, *, context: str = CONTEXT
) -> Path:
    """Write `$home/kubeconfig` (mode 0600: it holds the token); returns its path."""
    path = kubeconfig_path(home)
    _write_private(
        path,
        yaml.safe_dump(local_kubeconfig(server, ca_pem, token, context=context), sort_keys=False),
    )
    return path


def merge_into(
    source: Path | str, target: Path | str | None = None, *, use_context: bool = False
) -> Path:
    """Add (or replace) the clusters, users and contexts of `source` in `target` (default: the
    first file of `$KUBECONFIG`, else `~/.kube/config`). The target's current-context changes
    only with `use_context`. Returns the target path."""
    if target is None:
        env = os.environ.get("KUBECONFIG")
        target = env.split(os.pathsep)[0] if env else Path.home() / ".kube" / "config"
    target = Path(target)
    src = yaml.safe_load(Path(source).read_text()) or {}
    dst: dict[str, Any] = {}
    if target.exists():
        dst = yaml.safe_load(target.read_text()) or {}
    dst.setdefault("apiVersion", "v1")
    dst.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        entries = [e for e in dst.get(section) or [] if isinstance(e, dict)]
        for new in src.get(section) or []:
            entries = [e for e in entries if e.get("name") != new.get("name")]
            entries.append(new)
        dst[section] = entries
    if use_context or not dst.get("current-context"):
        dst["current-context"] = src.get("current-context", CONTEXT)
    _write_private(target, yaml.safe_dump(dst, sort_keys=False))
    return target


def resolve_config_file(
    kubeconfig: str | Path | None = None, home: Path | str | None = None
) -> str:
    """The kubeconfig path list to load (see the module docstring)."""
    if kubeconfig:
        return str(kubeconfig)
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    paths = [kubeconfig_path(home), Path.home() / ".kube" / "config"]
    existing = [str(p) for p in paths if p.exists()]
    if not existing:
        raise FileNotFoundError(
            f"no kubeconfig: {paths[0]} does not exist (run `tidal up`), and there is no "
            "~/.kube/config or $KUBECONFIG"
        )
    return os.pathsep.join(existing)


@dataclass
class Connection:
    """Where and how to reach an API server: what `HttpClient` needs."""

    server: str
    namespace: str
    context: str
    configuration: Any  # kubernetes.client.Configuration (auth, TLS, token refresh)

    def auth_header(self) -> str | None:
        """`Bearer ...` (refreshed by exec/OIDC plugins when they expire), or None."""
        settings = self.configuration.auth_settings()  # runs the refresh hook of exec/OIDC
        for entry in settings.values():
            if entry.get("in") == "header" and entry.get("key", "").lower() == "authorization":
                return entry.get("value") or None
        return None

    @property
    def verify(self) -> Any:
        import ssl

        cfg = self.configuration
        if not cfg.verify_ssl:
            return False
        ctx = (
            ssl.create_default_context(cafile=cfg.ssl_ca_cert)
            if cfg.ssl_ca_cert
            else ssl.create_default_context()
        )
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        return ctx


def load(
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    *,
    home: Path | str | None = None,
    namespace: str | None = None,
) -> Connection:
    """A Connection for `context` (default: the current context) of the resolved kubeconfig,
    loaded with the `kubernetes` package (tokens, client certificates, exec plugins)."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    config_file = resolve_config_file(kubeconfig, home)
    cfg = kclient.Configuration()
    kconfig.load_kube_config(
        config_file=config_file, context=context, client_configuration=cfg, persist_config=False
    )
    contexts, active = kconfig.list_kube_config_contexts(config_file)
    name = context or (active or {}).get("name", "")
    chosen = next((c for c in contexts if c.get("name") == name), {}) or {}
    ns = namespace or (chosen.get("context") or {}).get("namespace") or "default"
    return Connection(server=cfg.host.rstrip("/"), namespace=ns, context=name, configuration=cfg)


def load_incluster() -> Connection:
    """The pod's own service account (client-go's InClusterConfig), for a process running
    inside a cluster: KUBERNETES_SERVICE_HOST/PORT and the mounted token, CA and namespace."""
    from kubernetes import client as kclient
    from kubernetes import config as kconfig

    cfg = kclient.Configuration()
    kconfig.load_incluster_config(client_configuration=cfg)
    ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    ns = ns_file.read_text().strip() if ns_file.exists() else "default"
    return Connection(server=cfg.host.rstrip("/"), namespace=ns, context="", configuration=cfg)
