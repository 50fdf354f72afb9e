"""Merge semantics per field (managedfields_shape.py): the built-in table and CRD schema extensions."""

from __future__ import annotations

from typing import Any

import pytest
from recurringjob.devcluster.managedfields_shape import Shape, builtin_root, root_shape


def at(shape: Shape, *path: str) -> Shape:
    for key in path:
        shape = shape.item if key == "[]" else shape.child(key)[0]
    return shape


@pytest.mark.parametrize(
    ("path", "list_type", "keys"),
    [
        (("spec", "template", "spec", "containers"), "map", ("name",)),
        (("spec", "template", "spec", "containers", "[]", "ports"), "map", ("containerPort", "protocol")),
        (("spec", "ports"), "map", ("port", "protocol")),  # Service ports
        (("spec", "template", "spec", "containers", "[]", "env"), "map", ("name",)),
        (("spec", "template", "spec", "containers", "[]", "volumeMounts"), "map", ("mountPath",)),
        (("metadata", "finalizers"), "set", ()),
        (("metadata", "ownerReferences"), "map", ("uid",)),
        (("rules",), "atomic", ()),
        (("spec", "template", "spec", "containers", "[]", "args"), "atomic", ()),
    ],
)
def test_builtin_lists(path: tuple[str, ...], list_type: str, keys: tuple[str, ...]) -> None:
    shape = at(builtin_root(), *path)
    assert (shape.list_type, shape.keys) == (list_type, keys)


def test_builtin_maps_and_atomic_structs() -> None:
    root = builtin_root()
    assert root.child("metadata")[1] is True  # a struct field
    assert at(root, "metadata").child("labels")[1] is True
    assert at(root, "metadata", "labels").child("app")[1] is False  # a map entry
    assert at(root, "spec", "selector").atomic
    ports = at(root, "spec", "template", "spec", "containers", "[]", "ports")
    assert ports.key_defaults == {"protocol": "TCP"}


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "kind"],
                    "items": {"type": "object", "properties": {"kind": {"type": "string", "default": "A"}}},
                },
                "plain": {"type": "array", "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "frozen": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "port": {"x-kubernetes-int-or-string": True},
            },
        }
    },
}


def test_schema_shapes() -> None:
    root = root_shape(SCHEMA)
    spec = at(root, "spec")
    items = at(spec, "items")
    assert (items.list_type, items.keys, dict(items.key_defaults)) == ("map", ("name", "kind"), {"kind": "A"})
    assert at(spec, "plain").atomic and at(spec, "plain").list_type == "atomic"
    assert spec.child("labels")[1] and not at(spec, "labels").child("x")[1]
    assert at(spec, "frozen").atomic
    assert at(spec, "free").kind == "map" and not at(spec, "free").child("anything")[1]
    assert at(spec, "port").kind == "scalar"
    assert root.child("metadata")[0].child("labels")[1]  # ObjectMeta for custom resources too
