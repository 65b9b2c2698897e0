"""The Registry's label index: a list with a label selector reads only the objects carrying one of
its `=`/`in` labels, and answers exactly what a scan of every object answers, also after labels
change and objects go."""

from __future__ import annotations

import pytest

from tidal.api.selectors import parse_labels
from tidal.server.registry import Registry
from tidal.server.store import Store

SELECTORS = [None, "", "app=a", "app=b", "app in (a,b)", "app=a,tier=x", "app!=a", "tier", "!tier"]


def _pod(name: str, ns: str, labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "x"}]},
    }


@pytest.fixture
def registry():
    reg = Registry(Store(":memory:"), clock=lambda: 0.0)
    reg.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    for i, labels in enumerate([{"app": "a"}, {"app": "b"}, {"app": "a", "tier": "x"}, {}]):
        reg.create(_pod(f"p{i}", "default", labels))
        reg.create(_pod(f"p{i}", "other", labels))
    pod = reg.get("Pod", "p1", "default")  # relabelled: b -> a
    pod["metadata"]["labels"] = {"app": "a"}
    reg.update(pod)
    reg.delete("Pod", "p0", "default")
    yield reg
    reg.close()


@pytest.mark.parametrize("selector", SELECTORS)
@pytest.mark.parametrize("ns", ["default", "other", None])
def test_list_by_selector_is_what_a_scan_gives(registry: Registry, selector, ns) -> None:
    sel = parse_labels(selector)
    every = registry.list("Pod", ns)["items"]
    want = [p["metadata"]["name"] for p in every if sel.matches(p["metadata"].get("labels"))]
    got = registry.list("Pod", ns, label_selector=selector)["items"]
    assert [p["metadata"]["name"] for p in got] == want
