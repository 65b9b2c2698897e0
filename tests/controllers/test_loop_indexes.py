"""`SelectorIndex` (tidal.controllers.loop): which selectors match a pod's labels, from an index
instead of testing every selector; the answer must be exactly what testing every one gives."""

from __future__ import annotations

import itertools

import pytest

from tidal.api.selectors import parse_labels
from tidal.controllers.loop import SelectorIndex

SELECTORS = {
    ("default", "web"): "app=web",
    ("default", "web-canary"): "app=web,track=canary",
    ("default", "either"): "app in (web,api)",
    ("default", "not-api"): "app!=api",  # no `=` term: tested for every pod
    ("default", "has-tier"): "tier",
    ("default", "broken"): "app=(",  # unparsable: matches nothing
    ("other", "web"): "app=web",  # another namespace
}
LABELS = [
    {},
    {"app": "web"},
    {"app": "web", "track": "canary"},
    {"app": "api"},
    {"app": "api", "tier": "backend"},
    {"tier": "x"},
]


def _by_scan(ns: str, labels: dict[str, str]) -> set[tuple[str, str]]:
    out = set()
    for key, sel in SELECTORS.items():
        try:
            if key[0] == ns and parse_labels(sel).matches(labels):
                out.add(key)
        except ValueError:
            pass
    return out


def _index() -> SelectorIndex:
    idx = SelectorIndex()
    for key, sel in SELECTORS.items():
        idx.set(key, key[0], sel)
    return idx


@pytest.mark.parametrize(("ns", "labels"), list(itertools.product(["default", "other"], LABELS)))
def test_index_answers_what_a_scan_answers(ns: str, labels: dict[str, str]) -> None:
    assert _index().matching(ns, labels) == _by_scan(ns, labels)


def test_a_changed_or_removed_selector_is_forgotten() -> None:
    idx = _index()
    idx.set(("default", "web"), "default", "app=api")
    assert ("default", "web") not in idx.matching("default", {"app": "web"})
    assert ("default", "web") in idx.matching("default", {"app": "api"})
    idx.remove(("default", "web"))
    idx.remove(("default", "not-api"))
    idx.remove(("default", "missing"))  # nothing to remove: no error
    assert idx.matching("default", {"app": "api"}) == {("default", "either")}
    assert idx.get(("default", "web")) is None
    assert idx.get(("default", "either")) == "app in (web,api)"


def _obj(ns: str, name: str, labels: dict[str, str], owner: str | None = None) -> dict:
    meta: dict = {"namespace": ns, "name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "ReplicaSet", "name": owner}]
    return {"metadata": meta}


def _informer_objects() -> list[dict]:
    return [
        _obj("default", "a", {"app": "web"}, owner="rs1"),
        _obj("default", "b", {"app": "api"}, owner="rs2"),
        _obj("other", "a", {"app": "web"}, owner="rs1"),
        _obj("default", "c", {"app": "web", "tier": "x"}),
    ]


@pytest.mark.parametrize("selector", ["app=web", "app in (web,api)", "app!=web", "tier", ""])
@pytest.mark.parametrize("ns", ["default", "other", "none"])
def test_informer_indexes_answer_what_a_scan_answers(ns: str, selector: str) -> None:
    from tidal.controllers.loop import Informer, key_of

    inf = Informer("Pod")
    objs = _informer_objects()
    inf.replace({key_of(o): o for o in objs})
    inf.put(_obj("default", "b", {"app": "web"}, owner="rs1"))  # relabelled, new owner
    inf.drop(_obj("default", "c", {}))
    scan = [o for o in inf.objects.values() if o["metadata"]["namespace"] == ns]
    assert inf.list(ns) == scan
    sel = parse_labels(selector)
    want = sorted(
        (o["metadata"]["name"] for o in scan if sel.matches(o["metadata"]["labels"])),
    )
    assert [o["metadata"]["name"] for o in inf.select(ns, selector)] == want
    owned = [
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in inf.objects.values()
        if any(r["uid"] == "rs1" for r in o["metadata"].get("ownerReferences", []))
    ]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in inf.owned_by("rs1")] == (
        sorted(owned)
    )
    assert inf.owned_by("rs2") == []
