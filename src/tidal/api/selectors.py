"""Label and field selectors as the API server evaluates them (`labelSelector=app=x,tier in
(a,b),!canary`, `fieldSelector=involvedObject.name=x,status.phase!=Running`). Parse once, match
many: `parse_labels(text).matches(labels)`. Bad syntax raises ValueError with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(
    r"^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and labels[self.key] in self.values
        # "!=" and "notin" match objects without the key, as Kubernetes does
        return not has or labels[self.key] not in self.values


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, text: str) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise ValueError(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
    return key


def _check_value(value: str, text: str) -> str:
    if len(value) > 63 or not _VALUE.match(value):
        raise ValueError(f"unable to parse requirement: invalid label value {value!r} in {text!r}")
    return value


_SET = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")


def parse_labels(text: str | None) -> LabelSelector:
    """The full grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`."""
    if not text or not text.strip():
        return LabelSelector()
    reqs: list[Requirement] = []
    for part in _split_top(text):
        m = _SET.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), m.group(3)
            values = tuple(_check_value(v.strip(), text) for v in vals.split(",") if v.strip())
            if op == "in" and not values:
                raise ValueError(
                    f"unable to parse requirement: for 'in' operator, values set can't be empty in {text!r}"
                )
            reqs.append(Requirement(_check_key(key, text), op, values))
            continue
        for sym, op in (("!=", "!="), ("==", "="), ("=", "=")):
            if sym in part:
                key, _, value = part.partition(sym)
                reqs.append(
                    Requirement(
                        _check_key(key.strip(), text), op, (_check_value(value.strip(), text),)
                    )
                )
                break
        else:
            if part.startswith("!"):
                reqs.append(Requirement(_check_key(part[1:].strip(), text), "!"))
            else:
                reqs.append(Requirement(_check_key(part, text), "exists"))
    return LabelSelector(tuple(reqs))


def from_label_selector(selector: dict[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector object (matchLabels + matchExpressions). An empty selector matches
    everything, as in Kubernetes."""
    if not selector:
        return LabelSelector()
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in selector.get("matchExpressions") or []:
        op = ops.get(e.get("operator", ""))
        if op is None:
            raise ValueError(f"{e.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(e.get("key", ""), op, tuple(e.get("values") or ())))
    return LabelSelector(tuple(reqs))


@dataclass(frozen=True, slots=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (dotted path, equal?, value)

    def matches(self, obj: dict[str, Any]) -> bool:
        for path, equal, value in self.terms:
            got = field_value(obj, path)
            if (got == value) != equal:
                return False
        return True

    def value_of(self, path: str) -> str | None:
        """The value a term pins with `=` (to narrow a scan), if any."""
        for p, equal, value in self.terms:
            if p == path and equal:
                return value
        return None


def field_value(obj: dict[str, Any], path: str) -> str:
    """A field as a selector compares it: a string, `""` when absent."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_fields(text: str | None) -> FieldSelector:
    """`a.b=c,d!=e` (also `==`); ValueError on a term without an operator."""
    if not text or not text.strip():
        return FieldSelector()
    terms = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        for sym, equal in (("!=", False), ("==", True), ("=", True)):
            if sym in part:
                path, _, value = part.partition(sym)
                terms.append((path.strip(), equal, value.strip()))
                break
        else:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{part}'")
    return FieldSelector(tuple(terms))
