"""Patch semantics of the dev cluster: RFC 7386, RFC 6902 (with kube's status codes) and the
strategic merge patches `kubectl apply` sends for built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recurringjob.devcluster.patch import PatchError, json_patch, merge_patch, strategic_merge_patch


def job(containers: list[dict[str, Any]], **pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "labels": {"app": "a"}},
        "spec": {"template": {"spec": {"containers": containers, **pod_spec}}},
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


# ------------------------------------------------------------------------------------ merge patch
@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3, "z": 4}}, {"a": {"x": 1, "y": 3, "z": 4}}),
        ({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
        ({"a": "s"}, {"a": {"n": None, "m": 1}}, {"a": {"m": 1}}),
        ({}, {"missing": None}, {}),
    ],
    ids=["null-deletes", "nested-merge", "list-replaced", "scalar-to-object-drops-nulls", "null-of-missing"],
)
def test_merge_patch(target: dict, patch: dict, expected: dict) -> None:
    before = copy.deepcopy(target)
    assert merge_patch(target, patch) == expected
    assert target == before


def test_merge_patch_body_must_be_an_object() -> None:
    with pytest.raises(PatchError) as err:
        merge_patch({"a": 1}, [1])
    assert err.value.code == 400 and err.value.reason == "BadRequest"


# ------------------------------------------------------------------------------------- JSON patch
def test_json_patch_applies_ops_without_mutating() -> None:
    target = {"metadata": {"resourceVersion": "5"}, "spec": {"items": [1, 2]}}
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "5"},
        {"op": "replace", "path": "/spec/items/0", "value": 9},
        {"op": "add", "path": "/spec/items/-", "value": 3},
        {"op": "remove", "path": "/metadata/resourceVersion"},
    ]
    assert json_patch(target, ops) == {"metadata": {}, "spec": {"items": [9, 2, 3]}}
    assert target["spec"]["items"] == [1, 2]


@pytest.mark.parametrize(
    ("ops", "code", "reason"),
    [
        ([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}], 422, "Invalid"),
        ([{"op": "remove", "path": "/nope"}], 422, "Invalid"),
        ([{"op": "replace", "path": "/spec/x/y", "value": 1}], 422, "Invalid"),
        ([{"op": "frobnicate", "path": "/a"}], 422, "Invalid"),
        ({"op": "add", "path": "/a", "value": 1}, 400, "BadRequest"),
        (["add"], 400, "BadRequest"),
        ([{"op": "test", "path": "/a", "value": 1}] * 10001, 413, "RequestEntityTooLarge"),
    ],
    ids=[
        "failed-test",
        "missing-path",
        "missing-parent",
        "unknown-op",
        "not-a-list",
        "not-objects",
        "too-many",
    ],
)
def test_json_patch_errors_use_kube_status_codes(ops: Any, code: int, reason: str) -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"metadata": {"resourceVersion": "5"}, "a": 1}, ops)
    assert (err.value.code, err.value.reason) == (code, reason)
    assert err.value.to_status()["code"] == code


def test_failed_test_op_reports_like_kube() -> None:
    with pytest.raises(PatchError) as err:
        json_patch(
            {"metadata": {"resourceVersion": "5"}},
            [{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}],
        )
    assert err.value.message == "testing value /metadata/resourceVersion failed: test failed"
    # kube passes the detail as serverMessage to NewGenericServerResponse, which keeps only this:
    assert (
        err.value.to_status()["message"] == "the server rejected our request due to an error in our request"
    )


# -------------------------------------------------------------------------- strategic merge patch
LIVE = job(
    [
        {
            "name": "main",
            "image": "busybox:1.36",
            "args": ["sleep", "10"],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
            "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"mountPath": "/data", "name": "data"}],
        },
        {"name": "sidecar", "image": "envoy:1"},
    ],
    volumes=[{"name": "data", "emptyDir": {}}],
    tolerations=[{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
)


def smp(patch: dict[str, Any], live: dict[str, Any] | None = None) -> dict[str, Any]:
    live = copy.deepcopy(LIVE) if live is None else live
    before = copy.deepcopy(live)
    result = strategic_merge_patch(live, patch, "Job")
    assert live == before, "inputs must not be mutated"
    return result


def template_patch(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


def test_reapply_removes_one_env_var_and_changes_image() -> None:
    # What `kubectl apply` sends after the manifest dropped env B and bumped the image.
    patch = template_patch(
        {
            "$setElementOrder/containers": [{"name": "main"}, {"name": "sidecar"}],
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.37",
                    "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                    "env": [{"$patch": "delete", "name": "B"}],
                }
            ],
        }
    )
    main, sidecar = pod_spec(smp(patch))["containers"]
    assert main["image"] == "busybox:1.37"
    assert main["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert main["ports"] == [{"containerPort": 80, "name": "http"}]
    assert sidecar == {"name": "sidecar", "image": "envoy:1"}


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["a", "b", "c"], ["a", "server-only", "b", "c"]),
        (["c", "b", "a"], ["server-only", "c", "b", "a"]),
        (["b", "c", "a"], ["server-only", "b", "c", "a"]),
    ],
    ids=["kept-between-neighbours", "reversed", "rotated"],
)
def test_set_element_order_interleaves_server_only_items(order: list[str], expected: list[str]) -> None:
    # strategicpatch's mergeSortedSlice: listed items in patch order; a server-only item is emitted before
    # the next listed item that came after it in the live list.
    live = job([{"name": "a"}, {"name": "server-only"}, {"name": "b"}, {"name": "c"}])
    patch = template_patch({"$setElementOrder/containers": [{"name": n} for n in order]})
    assert [c["name"] for c in pod_spec(smp(patch, live))["containers"]] == expected


def test_set_element_order_places_new_items() -> None:
    patch = template_patch(
        {
            "$setElementOrder/containers": [{"name": "init"}, {"name": "main"}, {"name": "sidecar"}],
            "containers": [{"name": "init", "image": "x"}],
        }
    )
    assert [c["name"] for c in pod_spec(smp(patch))["containers"]] == ["init", "main", "sidecar"]


@pytest.mark.parametrize(
    ("field", "patch_items", "expected"),
    [
        (
            "ports",
            [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
            [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}],
        ),
        (
            "volumeMounts",
            [{"mountPath": "/data", "readOnly": True}],
            [{"mountPath": "/data", "name": "data", "readOnly": True}],
        ),
        (
            "env",
            [{"name": "A", "value": None, "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
            [
                {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "x"}}},
                {"name": "B", "value": "2"},
                {"name": "C", "value": "3"},
            ],
        ),
        ("args", ["sleep", "99"], ["sleep", "99"]),
    ],
    ids=["ports-by-containerPort", "volumeMounts-by-mountPath", "env-by-name-null-deletes", "args-replaced"],
)
def test_container_lists_merge_by_their_keys(field: str, patch_items: list, expected: list) -> None:
    patch = template_patch({"containers": [{"name": "main", field: patch_items}]})
    assert pod_spec(smp(patch))["containers"][0][field] == expected


def test_lists_without_merge_key_are_replaced() -> None:
    patch = template_patch({"tolerations": [{"key": "c", "operator": "Exists"}]})
    assert pod_spec(smp(patch))["tolerations"] == [{"key": "c", "operator": "Exists"}]


def test_patch_replace_directive_on_list_and_map() -> None:
    patch = template_patch({"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]})
    assert pod_spec(smp(patch))["containers"] == [{"name": "only", "image": "x"}]
    patch = {"metadata": {"labels": {"$patch": "replace", "new": "1"}}}
    assert smp(patch)["metadata"]["labels"] == {"new": "1"}


def test_patch_delete_directive_on_map_and_null_deletes_key() -> None:
    result = smp({"metadata": {"labels": {"$patch": "delete"}, "name": "j"}, "spec": {"template": None}})
    assert result["metadata"]["labels"] == {}
    assert "template" not in result["spec"]


def test_retain_keys_switches_volume_source() -> None:
    patch = template_patch(
        {
            "volumes": [{"name": "data", "$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}}],
        }
    )
    assert pod_spec(smp(patch))["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    live = {"metadata": {"name": "n", "finalizers": ["a", "b"]}}
    assert strategic_merge_patch(live, {"metadata": {"finalizers": ["b", "c"]}}, "ConfigMap")["metadata"][
        "finalizers"
    ] == ["a", "b", "c"]
    removed = strategic_merge_patch(
        live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "ConfigMap"
    )
    assert removed["metadata"]["finalizers"] == ["b"]


def test_namespace_spec_finalizers_are_replaced_not_merged() -> None:
    live = {"spec": {"finalizers": ["kubernetes"]}, "metadata": {"name": "ns"}}
    assert strategic_merge_patch(live, {"spec": {"finalizers": ["x"]}}, "Namespace")["spec"][
        "finalizers"
    ] == ["x"]


def test_configmap_data_merges_and_nulls_delete() -> None:
    live = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    result = strategic_merge_patch(live, {"data": {"b": None, "c": "3"}}, "ConfigMap")
    assert result["data"] == {"a": "1", "c": "3"}


@pytest.mark.parametrize(
    ("patch", "code"),
    [
        (template_patch({"containers": [{"image": "no-name"}]}), 500),
        (template_patch({"volumes": [{"name": "data", "$retainKeys": "configMap"}]}), 400),
        (template_patch({"volumes": [{"name": "data", "$retainKeys": ["name"], "configMap": {}}]}), 400),
        (template_patch({"$setElementOrder/containers": {"name": "main"}}), 400),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, 400),
        ({"metadata": {"$patch": "frobnicate"}}, 400),
        (template_patch({"containers": [["nested"]]}), 422),
    ],
    ids=[
        "missing-merge-key",
        "retainKeys-not-list",
        "retainKeys-mismatch",
        "order-not-list",
        "delete-list-not-list",
        "unknown-directive",
        "list-of-lists",
    ],
)
def test_strategic_merge_patch_errors(patch: dict[str, Any], code: int) -> None:
    with pytest.raises(PatchError) as err:
        smp(patch)
    assert err.value.code == code


def test_missing_merge_key_message_matches_kube() -> None:
    with pytest.raises(PatchError) as err:
        smp(template_patch({"volumes": [{"hostPath": {"path": "/x"}}]}))
    assert err.value.message == "map: map[hostPath:map[path:/x]] does not contain declared merge key: name"


_scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["", "x", "y"]), st.booleans())
_keys = st.sampled_from(["a", "b", "c", "labels", "data"])
_docs = st.recursive(_scalars, lambda inner: st.dictionaries(_keys, inner, max_size=4), max_leaves=6)
_patches = st.recursive(
    st.one_of(_scalars, st.none()), lambda inner: st.dictionaries(_keys, inner, max_size=4), max_leaves=6
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _docs, max_size=4), st.dictionaries(_keys, _patches, max_size=4))
def test_strategic_equals_merge_patch_without_lists_or_directives(target: dict, patch: dict) -> None:
    assert strategic_merge_patch(target, patch, "ConfigMap") == merge_patch(target, patch)


def test_failed_test_op_is_named_among_several() -> None:
    ops = [
        {"op": "test", "path": "/a", "value": 1},
        {"op": "test", "path": "/b", "value": 3},
    ]
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1, "b": 2}, ops)
    assert err.value.message == "testing value /b failed: test failed"


def test_order_directive_alone_does_not_create_the_list() -> None:
    live = job([{"name": "main"}])
    result = smp(template_patch({"containers": [{"name": "main", "$setElementOrder/env": []}]}), live)
    assert pod_spec(result)["containers"] == [{"name": "main"}]


def test_status_conditions_merge_by_type() -> None:
    live = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "Suspended", "status": "False"}]
        }
    }
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert strategic_merge_patch(live, patch, "Job")["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Suspended", "status": "False"},
    ]


def test_merge_patch_never_edits_the_stored_object_and_shares_what_it_does_not_touch() -> None:
    stored = {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}, "spec": {"deep": [1]}}
    before = copy.deepcopy(stored)
    result = merge_patch(stored, {"metadata": {"labels": {"y": "2", "x": None}}, "data": {"k": "w"}})
    assert stored == before  # the committed version is immutable
    assert result["metadata"]["labels"] == {"y": "2"} and result["data"] == {"k": "w"}
    assert result["spec"] is stored["spec"]  # untouched subtrees are shared, not copied
    assert result["metadata"] is not stored["metadata"]
