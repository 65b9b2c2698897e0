"""Load descriptions for the simulator: small arithmetic expressions in `t` (seconds since the
start) and `replicas` (ready pods), optionally over the columns of a recorded trace (stepwise:
the last row at or before `t`). Expressions are parsed with `ast` and only arithmetic,
comparisons, `x if c else y` and a few math functions are allowed: no names beyond these, no
attributes, no calls to anything else."""

from __future__ import annotations

import ast
import bisect
import csv
import math
import operator
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "sin": math.sin,
    "cos": math.cos,
}
CONSTANTS = {"m": 0.001, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "pi": math.pi}
_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMP = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class LoadError(ValueError):
    """A load expression or trace that cannot be used; the message names it."""


class Expr:
    """A compiled load expression; `Expr("1.5 / replicas if t >= 60 else 0.01")(t=..., replicas=...)`."""

    def __init__(self, text: str | float | int, where: str = "expression") -> None:
        self.text = str(text)
        self.where = where
        try:
            self.tree = ast.parse(self.text, mode="eval").body
        except SyntaxError as exc:
            raise LoadError(f"{where}: invalid expression {self.text!r}: {exc.msg}") from None
        self._check(self.tree)

    def _check(self, node: ast.AST) -> None:
        ok = (
            ast.BinOp,
            ast.UnaryOp,
            ast.Compare,
            ast.IfExp,
            ast.BoolOp,
            ast.Name,
            ast.Constant,
            ast.Call,
            ast.Load,
        )
        ops = (*_BIN, *_CMP, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or)
        for n in ast.walk(node):
            if isinstance(n, ops) or isinstance(
                n, ast.operator | ast.cmpop | ast.unaryop | ast.boolop
            ):
                if not isinstance(n, ops):
                    raise LoadError(f"{self.where}: operator {type(n).__name__} is not allowed")
                continue
            if not isinstance(n, ok):
                raise LoadError(f"{self.where}: {type(n).__name__} is not allowed in {self.text!r}")
            if isinstance(n, ast.Call) and not (
                isinstance(n.func, ast.Name) and n.func.id in FUNCTIONS
            ):
                raise LoadError(f"{self.where}: only {', '.join(FUNCTIONS)} may be called")
            if isinstance(n, ast.Constant) and not isinstance(n.value, int | float):
                raise LoadError(f"{self.where}: only numbers are allowed, not {n.value!r}")

    def __call__(self, **names: float) -> float:
        try:
            return float(self._eval(self.tree, names))
        except ZeroDivisionError:
            return 0.0
        except (ValueError, OverflowError, TypeError) as exc:
            raise LoadError(f"{self.where}: {exc}") from None

    def _eval(self, n: ast.AST, names: Mapping[str, float]) -> Any:
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Name):
            if n.id in names:
                return names[n.id]
            if n.id in CONSTANTS:
                return CONSTANTS[n.id]
            raise LoadError(
                f"{self.where}: unknown name {n.id!r} (known: {', '.join([*names, *CONSTANTS])})"
            )
        if isinstance(n, ast.BinOp):
            return _BIN[type(n.op)](self._eval(n.left, names), self._eval(n.right, names))
        if isinstance(n, ast.UnaryOp):
            v = self._eval(n.operand, names)
            return (
                -v if isinstance(n.op, ast.USub) else (+v if isinstance(n.op, ast.UAdd) else not v)
            )
        if isinstance(n, ast.Compare):
            left = self._eval(n.left, names)
            for op, right_node in zip(n.ops, n.comparators, strict=True):
                right = self._eval(right_node, names)
                if not _CMP[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(n, ast.IfExp):
            return (
                self._eval(n.body, names)
                if self._eval(n.test, names)
                else self._eval(n.orelse, names)
            )
        if isinstance(n, ast.BoolOp):
            values = [self._eval(v, names) for v in n.values]
            return all(values) if isinstance(n.op, ast.And) else any(values)
        if isinstance(n, ast.Call):
            assert isinstance(n.func, ast.Name)
            return FUNCTIONS[n.func.id](*(self._eval(a, names) for a in n.args))
        raise LoadError(f"{self.where}: cannot evaluate {ast.dump(n)}")


class Trace:
    """Recorded values by time: CSV with a `t` column (seconds) and one column per variable."""

    def __init__(self, rows: list[tuple[float, dict[str, float]]]) -> None:
        if not rows:
            raise LoadError("trace: no rows")
        self.rows = sorted(rows, key=lambda r: r[0])
        self.times = [t for t, _ in self.rows]
        self.columns = sorted({k for _, r in self.rows for k in r})

    @classmethod
    def from_csv(cls, path: Path) -> Trace:
        try:
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "t" not in reader.fieldnames:
                    raise LoadError(
                        f"trace {path}: the first row must name the columns, one of them `t`"
                    )
                rows = []
                for line, rec in enumerate(reader, start=2):
                    try:
                        rows.append(
                            (
                                float(rec["t"]),
                                {k: float(v) for k, v in rec.items() if k != "t" and v != ""},
                            )
                        )
                    except (TypeError, ValueError):
                        raise LoadError(
                            f"trace {path}: line {line}: every value must be a number"
                        ) from None
        except OSError as exc:
            raise LoadError(f"trace {path}: {exc.strerror}") from None
        return cls(rows)

    def at(self, t: float) -> dict[str, float]:
        """The values of the last row at or before `t` (the first row before it starts)."""
        i = bisect.bisect_right(self.times, t) - 1
        return dict(self.rows[max(i, 0)][1])
