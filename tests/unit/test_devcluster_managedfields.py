"""managedFields bookkeeping (managedfields.py): Update entries on ordinary writes, server-side apply
(ownership, conflicts, force, pruning), request-supplied entries and manager names. Table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from recurringjob.devcluster import apierrors
from recurringjob.devcluster.managedfields import (
    InvalidManagedFields,
    apply,
    base_entries,
    field_manager_errors,
    manager_of,
    record_update,
)
from recurringjob.devcluster.registry import Registry

REGISTRY = Registry()
CONFIGMAPS = REGISTRY.get(("", "configmaps"))
DEPLOYMENTS = REGISTRY.get(("apps", "deployments"))
assert CONFIGMAPS is not None and DEPLOYMENTS is not None


def cm(data: dict[str, str], entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "namespace": "default"}
    if entries is not None:
        meta["managedFields"] = entries
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def entry(
    manager: str, operation: str, fields: dict[str, Any], time: str = "T0", **extra: str
) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "v1", "time": time,
            "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}  # fmt: skip


def owners(entries: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in entries}


# ------------------------------------------------------------------------------------- updates
def test_create_records_everything_for_its_manager() -> None:
    (created,) = record_update(CONFIGMAPS, None, cm({"x": "1"}), [], "kubectl-create", None, "T1")
    assert created == entry("kubectl-create", "Update", {"f:data": {".": {}, "f:x": {}}}, "T1")


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # a changed field moves to the writer; a removed field leaves every manager
        ({"x": "1", "y": "1"}, {"x": "2"},
         {("a", "Apply"): None, ("b", "Update"): {"f:data": {"f:x": {}}}}),
        # an added field is the writer's; the others keep theirs
        ({"x": "1", "y": "1"}, {"x": "1", "y": "1", "z": "1"},
         {("a", "Apply"): {"f:data": {"f:x": {}, "f:y": {}}}, ("b", "Update"): {"f:data": {"f:z": {}}}}),
    ],
    ids=["moves-and-removes", "adds"],
)  # fmt: skip
def test_update_moves_ownership(
    before: dict[str, str], after: dict[str, str], expected: dict[Any, Any]
) -> None:
    start = [entry("a", "Apply", {"f:data": {"f:x": {}, "f:y": {}}})]
    result = record_update(CONFIGMAPS, cm(before, start), cm(after), start, "b", None, "T1")
    assert owners(result) == {k: v for k, v in expected.items() if v is not None}


def test_unchanged_write_keeps_the_entries_as_they_are() -> None:
    start = [entry("a", "Update", {"f:data": {"f:x": {}}})]
    assert record_update(CONFIGMAPS, cm({"x": "1"}), cm({"x": "1"}), start, "b", None, "T1") is start


def test_status_write_owns_only_status_and_names_its_subresource() -> None:
    old = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1},
           "status": {"ready": 0}}  # fmt: skip
    new = dict(old, spec={"replicas": 5}, status={"ready": 1})
    (status,) = record_update(DEPLOYMENTS, old, new, [], "ctrl", "status", "T1")
    assert status["subresource"] == "status"
    assert status["fieldsV1"] == {"f:status": {"f:ready": {}}}
    (main,) = record_update(DEPLOYMENTS, old, new, [], "ctl", None, "T1")
    assert main["fieldsV1"] == {"f:spec": {"f:replicas": {}}}


# --------------------------------------------------------------------------------------- apply
def test_apply_creates_an_apply_entry() -> None:
    merged, entries = apply(CONFIGMAPS, None, cm({"x": "1"}), "kubectl", False, None, "T1")
    assert merged["data"] == {"x": "1"}
    assert entries == [entry("kubectl", "Apply", {"f:data": {"f:x": {}}}, "T1")]


@pytest.mark.parametrize(
    ("force", "config", "data", "expected"),
    [
        # the same value: no conflict, both own it
        (False, {"x": "1"}, {"x": "1", "y": "1"},
         {("a", "Apply"): {"f:data": {"f:x": {}, "f:y": {}}}, ("b", "Apply"): {"f:data": {"f:x": {}}}}),
        # forced: the value changes hands
        (True, {"x": "2"}, {"x": "2", "y": "1"},
         {("a", "Apply"): {"f:data": {"f:y": {}}}, ("b", "Apply"): {"f:data": {"f:x": {}}}}),
    ],
    ids=["co-own", "force"],
)  # fmt: skip
def test_apply_ownership(force: bool, config: dict[str, str], data: dict[str, str], expected: Any) -> None:
    live = cm({"x": "1", "y": "1"}, [entry("a", "Apply", {"f:data": {"f:x": {}, "f:y": {}}})])
    merged, entries = apply(CONFIGMAPS, live, cm(config), "b", force, None, "T1")
    assert merged["data"] == data
    assert owners(entries) == expected


def test_apply_conflict_is_a_kube_409() -> None:
    live = cm({"x": "1", "y": "1"}, [entry("a", "Apply", {"f:data": {"f:x": {}}}),
                                     entry("c", "Update", {"f:data": {"f:y": {}}})])  # fmt: skip
    with pytest.raises(apierrors.ApiError) as caught:
        apply(CONFIGMAPS, live, cm({"x": "2", "y": "2"}), "b", False, None, "T1")
    status = caught.value.status()
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "a":\n- .data.x\n'
        'conflicts with "c" using v1:\n- .data.y'
    )
    assert [c["message"] for c in status["details"]["causes"]] == [
        'conflict with "a"',
        'conflict with "c" using v1',
    ]


def test_apply_prunes_what_the_applier_stopped_applying_unless_others_own_it() -> None:
    live = cm({"x": "1", "y": "1", "z": "1"}, [
        entry("a", "Apply", {"f:data": {"f:x": {}, "f:y": {}, "f:z": {}}}),
        entry("b", "Update", {"f:data": {"f:z": {}}}),
    ])  # fmt: skip
    merged, entries = apply(CONFIGMAPS, live, cm({"x": "1"}), "a", False, None, "T1")
    assert merged["data"] == {"x": "1", "z": "1"}
    assert owners(entries) == {
        ("a", "Apply"): {"f:data": {"f:x": {}}},
        ("b", "Update"): {"f:data": {"f:z": {}}},
    }


def test_a_no_op_apply_keeps_the_entry_time() -> None:
    live = cm({"x": "1"}, [entry("a", "Apply", {"f:data": {"f:x": {}}}, "T0")])
    _, entries = apply(CONFIGMAPS, live, cm({"x": "1"}), "a", False, None, "T1")
    assert entries[0]["time"] == "T0"


def test_entries_sorted_apply_first_then_by_time() -> None:
    live = cm({"x": "1"}, [entry("z", "Update", {"f:data": {"f:x": {}}}, "T0")])
    _, entries = apply(CONFIGMAPS, live, cm({"y": "1"}), "b", False, None, "T1")
    assert [(e["manager"], e["operation"]) for e in entries] == [("b", "Apply"), ("z", "Update")]


# ---------------------------------------------------------------------- request-supplied entries
LIVE = [entry("a", "Update", {"f:data": {"f:x": {}}})]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, LIVE),
        ([], []),
        ([{}], []),
        ([entry("other", "Apply", {"f:data": {}})], [entry("other", "Apply", {"f:data": {}})]),
        (["not an entry"], LIVE),  # undecodable: kube keeps the stored ones
        ([entry("a", "Apply", {"f:data": {"f:x": 5}})], LIVE),
        ([entry("a", "Apply", {"data": {}})], LIVE),
        ([entry("a", "Apply", {}, time=7)], LIVE),  # type: ignore[arg-type]
    ],
    ids=["absent", "reset-empty", "reset-empty-entry", "replace", "undecodable", "bad-node", "bad-element",
         "bad-time"],
)
def test_base_entries(requested: Any, expected: Any) -> None:
    assert base_entries(requested, LIVE) == expected


def test_base_entries_refuses_unknown_operations() -> None:
    with pytest.raises(InvalidManagedFields) as caught:
        base_entries([entry("a", "Patch", {"f:data": {}})], LIVE)
    assert caught.value.causes[0]["field"] == "metadata.managedFields[0].operation"
    assert "must be `Apply` or `Update`" in caught.value.causes[0]["message"]


@pytest.mark.parametrize(
    ("param", "agent", "expected"),
    [("mine", "kubectl/v1.32.0 (linux/amd64)", "mine"), (None, "kubectl/v1.32.0 (linux/amd64)", "kubectl"),
     ("", "OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"), (None, "", "")],
)  # fmt: skip
def test_manager_of(param: str | None, agent: str, expected: str) -> None:
    assert manager_of(param, agent) == expected


def test_field_manager_errors() -> None:
    assert field_manager_errors("ok-manager") == []
    assert field_manager_errors("x" * 129)[0]["message"] == "Too long: may not be more than 128 bytes"
    assert "invalid character U+0007 (at position 1)" in field_manager_errors("a\x07")[0]["message"]
