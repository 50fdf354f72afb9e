"""meta.k8s.io/v1 Tables of the dev cluster: CRD printer columns like apiextensions' tableconvertor,
built-in printers for the kinds the operator touches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from recurringjob.devcluster.tables import build_table, human_duration, jsonpath_find

NOW = datetime(2025, 1, 1, 1, 0, 0, tzinfo=UTC)
RJ = {
    "apiVersion": "recurringjob.dev/v1alpha1",
    "kind": "RecurringJob",
    "metadata": {
        "name": "nightly",
        "namespace": "default",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "resourceVersion": "12",
    },
    "spec": {"schedule": "0 * * * *", "suspend": False, "maxCatchUp": 100, "weights": [1.5]},
    "status": {
        "active": [{"name": "nightly-1"}, {"name": "nightly-2"}],
        "lastScheduleTime": "2025-01-01T00:58:30Z",
    },
}
COLUMNS = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Active", "type": "string", "jsonPath": ".status.active[*].name", "priority": 1},
    {
        "name": "Last Schedule",
        "type": "date",
        "jsonPath": ".status.lastScheduleTime",
        "description": "When it last ran",
    },
    {"name": "Max", "type": "integer", "jsonPath": ".spec.maxCatchUp", "format": "int32"},
    {"name": "Weight", "type": "number", "jsonPath": ".spec.weights[0]"},
    {"name": "Missing", "type": "string", "jsonPath": ".status.nothing"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def test_crd_printer_columns() -> None:
    table = build_table([RJ], COLUMNS, "42", "RecurringJob", now=NOW)
    assert (table["kind"], table["apiVersion"], table["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "42"},
    )
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Name",
        "Schedule",
        "Suspend",
        "Active",
        "Last Schedule",
        "Max",
        "Weight",
        "Missing",
        "Age",
    ]
    name_column, _, _, active, last, maximum = table["columnDefinitions"][:6]
    assert name_column["format"] == "name"
    assert active == {
        "name": "Active",
        "type": "string",
        "format": "",
        "priority": 1,
        "description": "Custom resource definition column (in JSONPath format): .status.active[*].name",
    }
    assert last["description"] == "When it last ran" and maximum["format"] == "int32"
    # [*] shows only the first match, dates are ages rendered by the server, missing values are null
    assert table["rows"][0]["cells"] == [
        "nightly",
        "0 * * * *",
        False,
        "nightly-1",
        "90s",
        100,
        1.5,
        None,
        "60m",
    ]


def test_crd_without_printer_columns_gets_age() -> None:
    table = build_table([RJ], [], "1", "RecurringJob", now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["nightly", "60m"]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (
            "Metadata",
            {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": RJ["metadata"]},
        ),
        ("Object", RJ),
        ("None", None),
    ],
)
def test_include_object(include: str, expected: Any) -> None:
    assert (
        build_table([RJ], [], "1", "RecurringJob", include_object=include, now=NOW)["rows"][0]["object"]
        == expected
    )


def test_include_object_rejects_unknown_choice() -> None:
    with pytest.raises(ValueError, match="includeObject"):
        build_table([RJ], [], "1", "RecurringJob", include_object="Everything")


@pytest.mark.parametrize(
    ("column_type", "path", "cell"),
    [
        ("string", ".spec.weights", "[1.5]"),
        ("string", ".spec.maxCatchUp", "100"),
        ("integer", ".spec.schedule", None),
        ("date", ".spec.schedule", "<invalid>"),
        ("string", ".metadata['name']", "nightly"),
    ],
    ids=["list-as-json", "number-as-text", "wrong-type-null", "bad-date", "bracket-key"],
)
def test_cell_conversion(column_type: str, path: str, cell: Any) -> None:
    table = build_table(
        [RJ], [{"name": "X", "type": column_type, "jsonPath": path}], "1", "RecurringJob", now=NOW
    )
    assert table["rows"][0]["cells"][1] == cell


def test_jsonpath_subset() -> None:
    assert jsonpath_find(RJ, ".status.active[*].name") == ["nightly-1", "nightly-2"]
    assert jsonpath_find(RJ, "{.status.active[-1].name}") == ["nightly-2"]
    assert jsonpath_find(RJ, ".status.missing[*].name") == []
    with pytest.raises(ValueError):
        jsonpath_find(RJ, ".a[?(@.x)]")


def job(conditions: list[dict[str, str]], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly-1", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {
            "completions": 1,
            "selector": {"matchLabels": {"b": "2", "a": "1"}},
            "template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}},
        },
        "status": {"conditions": conditions, **status},
    }


@pytest.mark.parametrize(
    ("obj", "cells"),
    [
        (
            job(
                [{"type": "Complete", "status": "True"}],
                succeeded=1,
                startTime="2025-01-01T00:00:00Z",
                completionTime="2025-01-01T00:00:42Z",
            ),
            ["nightly-1", "Complete", "1/1", "42s", "60m", "main", "busybox", "a=1,b=2"],
        ),
        (
            job([], active=1, startTime="2025-01-01T00:55:00Z"),
            ["nightly-1", "Running", "0/1", "5m", "60m", "main", "busybox", "a=1,b=2"],
        ),
        (
            job([{"type": "Failed", "status": "True"}]),
            ["nightly-1", "Failed", "0/1", "", "60m", "main", "busybox", "a=1,b=2"],
        ),
    ],
    ids=["complete", "running", "failed"],
)
def test_job_printer(obj: dict[str, Any], cells: list[Any]) -> None:
    table = build_table([obj], None, "3", "Job", now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Status",
        "Completions",
        "Duration",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
    assert table["rows"][0]["cells"] == cells


@pytest.mark.parametrize(
    ("kind", "obj", "names", "cells"),
    [
        (
            "Lease",
            {"metadata": {"name": "l"}, "spec": {"holderIdentity": "replica-1"}},
            ["Name", "Holder", "Age"],
            ["l", "replica-1", "<unknown>"],
        ),
        (
            "Namespace",
            {
                "metadata": {"name": "default", "creationTimestamp": "2025-01-01T00:59:58Z"},
                "status": {"phase": "Active"},
            },
            ["Name", "Status", "Age"],
            ["default", "Active", "2s"],
        ),
        (
            "ConfigMap",
            {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}},
            ["Name", "Data", "Age"],
            ["c", 2, "<unknown>"],
        ),
        (
            "Pod",
            {
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {"ready": True, "restartCount": 2},
                        {"ready": False, "restartCount": 0},
                    ],
                },
            },
            ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"],
            ["p", "1/2", "Running", "2", "<unknown>", "<none>", "<none>", "<none>", "<none>"],
        ),
        (
            "Widget",
            {"metadata": {"name": "w", "creationTimestamp": "2025-01-01T00:00:00Z"}},
            ["Name", "Created At"],
            ["w", "2025-01-01T00:00:00Z"],
        ),
    ],
    ids=["lease", "namespace", "configmap", "pod", "default-convertor"],
)
def test_builtin_printers(kind: str, obj: dict[str, Any], names: list[str], cells: list[Any]) -> None:
    table = build_table([obj], None, "1", kind, now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == names
    assert table["rows"][0]["cells"] == cells


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (49 * 3600, "2d1h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
