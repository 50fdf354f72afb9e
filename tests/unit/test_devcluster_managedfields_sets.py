"""Field sets in FieldsV1 encoding: the set an applied configuration owns, what a write changed, set
algebra and kube's path printing (managedfields_sets.py). Table-driven."""

from __future__ import annotations

from typing import Any

import pytest
from recurringjob.devcluster.managedfields_sets import (
    ShapeError,
    applied_set,
    compare,
    difference,
    intersection,
    item_key,
    member_paths,
    union,
)
from recurringjob.devcluster.managedfields_shape import BuiltinShape, builtin_root, root_shape

ROOT = builtin_root()
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "schedule": {"type": "string"},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "env": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                               "value": {"type": "string"}}},
                },
                "limits": {"type": "object", "additionalProperties": {"type": "string"}},
                "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                             "additionalProperties": {"type": "string"}},
            },
        }
    },
}  # fmt: skip
CUSTOM = root_shape(SCHEMA)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # server-owned metadata and apiVersion/kind are never owned
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "b"}}, None),
        # struct fields are not members, map entries and leaves are
        ({"data": {"x": "1"}, "metadata": {"labels": {"a": "1"}}},
         {"f:data": {"f:x": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}),
        # an empty map is a leaf
        ({"data": {}}, {"f:data": {}}),
        # list-map items are members keyed by their keys, defaults filled in (protocol)
        ({"spec": {"containers": [{"name": "m", "ports": [{"containerPort": 80}]}]}},
         {"f:spec": {"f:containers": {'k:{"name":"m"}': {
             ".": {}, "f:name": {},
             "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}),
        # finalizers are a set; other lists (args) are atomic leaves
        ({"metadata": {"finalizers": ["a", "b"]}, "spec": {"args": ["x"]}},
         {"f:metadata": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}}}, "f:spec": {"f:args": {}}}),
        # a selector is atomic: owned whole
        ({"spec": {"selector": {"matchLabels": {"a": "b"}}}}, {"f:spec": {"f:selector": {}}}),
    ],
    ids=["stripped", "struct-vs-map", "empty-map", "list-map", "set-and-atomic", "atomic-struct"],
)  # fmt: skip
def test_applied_set_builtin(config: dict[str, Any], expected: Any) -> None:
    assert applied_set(config, ROOT) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"spec": {"tags": ["a"], "args": ["b"]}}, {"f:spec": {"f:tags": {'v:"a"': {}}, "f:args": {}}}),
        ({"spec": {"env": [{"name": "A", "value": "1"}]}},
         {"f:spec": {"f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}}}}),
        ({"spec": {"limits": {"cpu": "1"}, "selector": {"a": "b"}}},
         {"f:spec": {"f:limits": {"f:cpu": {}}, "f:selector": {}}}),
    ],
    ids=["set-vs-atomic", "list-map", "map-granular-vs-atomic"],
)  # fmt: skip
def test_applied_set_from_schema(config: dict[str, Any], expected: Any) -> None:
    assert applied_set(config, CUSTOM) == expected


def test_applied_set_scopes() -> None:
    config = {"spec": {"a": 1}, "status": {"b": 2}}
    assert applied_set(config, ROOT, "main") == {"f:spec": {"f:a": {}}}
    assert applied_set(config, ROOT, "status") == {"f:status": {"f:b": {}}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"spec": {"env": [{"name": "A"}, {"name": "A"}]}}, 'duplicate entries for key [name="A"]'),
        ({"spec": {"env": [{"value": "1"}]}}, 'omits key field "name"'),
        ({"spec": {"tags": [{"a": 1}]}}, "a set may only hold scalar values"),
    ],
)
def test_applied_set_refuses_lists_that_do_not_fit(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ShapeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        applied_set(config, CUSTOM)


@pytest.mark.parametrize(
    ("old", "new", "changed", "removed"),
    [
        ({"data": {"x": "1"}}, {"data": {"x": "1"}}, None, None),
        ({"data": {"x": "1"}}, {"data": {"x": "2"}}, {"f:data": {"f:x": {}}}, None),
        # added nodes are members, with all they hold
        ({}, {"data": {"x": "1"}}, {"f:data": {".": {}, "f:x": {}}}, None),
        ({"data": {"x": "1", "y": "2"}}, {"data": {"x": "1"}}, None, {"f:data": {"f:y": {}}}),
        # list-map items compared by key, whatever their order
        ({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}},
         {"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "image": "1"}]}},
         {"f:spec": {"f:containers": {'k:{"name":"b"}': {"f:image": {}}}}}, None),
        # server metadata changes are nobody's
        ({"metadata": {"resourceVersion": "1", "labels": {"a": "1"}}},
         {"metadata": {"resourceVersion": "2", "labels": {"a": "1"}}}, None, None),
        # a map replaced by a leaf: the node changed, its children are removed
        ({"spec": {"x": {"a": 1}}}, {"spec": {"x": 5}},
         {"f:spec": {"f:x": {}}}, {"f:spec": {"f:x": {"f:a": {}}}}),
    ],
    ids=["equal", "modified", "added", "removed", "list-map", "server-metadata", "type-change"],
)  # fmt: skip
def test_compare(old: dict[str, Any], new: dict[str, Any], changed: Any, removed: Any) -> None:
    assert compare(old, new, ROOT) == (changed, removed)


def test_compare_status_scope() -> None:
    old, new = {"spec": {"a": 1}, "status": {"b": 1}}, {"spec": {"a": 2}, "status": {"b": 2}}
    assert compare(old, new, ROOT, "status") == ({"f:status": {"f:b": {}}}, None)
    assert compare(old, new, ROOT, "main") == ({"f:spec": {"f:a": {}}}, None)


A = {"f:spec": {"f:a": {}, "f:b": {".": {}, "f:c": {}}}}
B = {"f:spec": {"f:b": {}, "f:d": {}}}


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        (union, A, B, {"f:spec": {"f:a": {}, "f:b": {".": {}, "f:c": {}}, "f:d": {}}}),
        (union, None, B, B),
        # difference is not recursive: removing b keeps b.c
        (difference, A, B, {"f:spec": {"f:a": {}, "f:b": {"f:c": {}}}}),
        (difference, B, B, None),
        (difference, A, None, A),
        (intersection, A, B, {"f:spec": {"f:b": {}}}),
        (intersection, A, {"f:other": {}}, None),
    ],
)
def test_set_algebra(op: Any, left: Any, right: Any, expected: Any) -> None:
    assert op(left, right) == expected


def test_member_paths_print_like_kube() -> None:
    fields = {
        "f:spec": {
            "f:containers": {
                'k:{"name":"main"}': {".": {}, "f:image": {}},
                'k:{"containerPort":80,"protocol":"TCP"}': {},
            },
            "f:tags": {'v:"x"': {}},
        }
    }
    assert list(member_paths(fields)) == [
        '.spec.containers[containerPort=80,protocol="TCP"]',
        '.spec.containers[name="main"]',
        '.spec.containers[name="main"].image',
        '.spec.tags[="x"]',
    ]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "a", "x": 1}, 'k:{"name":"a"}'),
        ({"x": 1}, None),
        ("text", None),
    ],
)
def test_item_key(item: Any, expected: str | None) -> None:
    assert item_key(item, BuiltinShape("spec", "containers")) == expected
