"""kubectl's output forms and Go's tabwriter."""

from __future__ import annotations

import pytest

from tidal.cli.printers import JsonPathError, format_jsonpath, format_table, tabwrite

TABLE = {
    "columnDefinitions": [
        {"name": "Name", "priority": 0},
        {"name": "Ready", "priority": 0},
        {"name": "IP", "priority": 1},
    ],
    "rows": [
        {
            "cells": ["sklearn-iris-predictor-abc", "1/1", "127.1.0.2"],
            "object": {"metadata": {"namespace": "default"}},
        },
        {"cells": ["b", "0/1", None], "object": {"metadata": {"namespace": "ns2"}}},
    ],
}


def test_table_hides_wide_columns() -> None:
    assert format_table(TABLE).splitlines() == [
        "NAME                         READY",
        "sklearn-iris-predictor-abc   1/1",
        "b                            0/1",
    ]


def test_table_wide_and_namespaces() -> None:
    assert format_table(TABLE, wide=True, namespace_column=True).splitlines() == [
        "NAMESPACE   NAME                         READY   IP",
        "default     sklearn-iris-predictor-abc   1/1     127.1.0.2",
        "ns2         b                            0/1",
    ]


def test_table_kind_prefix_and_no_headers() -> None:
    out = format_table(TABLE, no_headers=True, show_kind="pod").splitlines()
    assert out[0].startswith("pod/sklearn-iris-predictor-abc   1/1")


def test_tabwriter_blocks() -> None:
    # a line without a tab ends a column block, as in Go
    text = "Name:\tx\nAnnotations:\ty\nMetrics:\n  a:\tb\n  longer:\tc\n"
    assert tabwrite(text) == (
        "Name:         x\nAnnotations:  y\nMetrics:\n  a:       b\n  longer:  c\n"
    )


OBJ = {"status": {"url": "http://a-default.example.com"}, "items": [{"n": 1}, {"n": 2}]}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.status.url}", "http://a-default.example.com"),
        ("url={.status.url}!", "url=http://a-default.example.com!"),
        ("{.items[*].n}", "1 2"),
        ("{.missing}", ""),
    ],
)
def test_jsonpath(template: str, expected: str) -> None:
    assert format_jsonpath(OBJ, template) == expected


def test_jsonpath_error() -> None:
    with pytest.raises(JsonPathError):
        format_jsonpath(OBJ, "{.status.url")
