"""What structured-merge-diff needs to know about a field: map or list, granular or atomic, list keys.

Custom resources take it from their `openAPIV3Schema` (`x-kubernetes-list-type`,
`x-kubernetes-list-map-keys`, `x-kubernetes-map-type`, `properties` vs `additionalProperties`,
`x-kubernetes-preserve-unknown-fields`). Built-in kinds have no schemas here, so a small table by
field name stands in for the `+listType`/`+listMapKey`/`+mapType` tags of kube's Go types; every
other list is atomic (kube's default) and every other object a struct.

A `Shape` answers, for one node: `kind` ("map" | "list" | "scalar" | "any": deduced from the value),
whether it is `atomic`, `child(key)` -> (shape, declared) where `declared` tells a struct field (not
itself a member of an applied field set unless it is a leaf) from a map entry (always a member), and
for lists `list_type` ("atomic" | "set" | "map"), `keys`, `key_defaults` and `item`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The `+listType=map` lists of the built-in kinds we serve, by (parent field, field) then by field;
# the value is (keys, defaults for keys the client may omit). `metadata.finalizers` is a set.
_BUILTIN_LIST_MAPS_IN_PARENT: dict[tuple[str, str], tuple[tuple[str, ...], dict[str, Any]]] = {
    ("metadata", "ownerReferences"): (("uid",), {}),
    ("status", "conditions"): (("type",), {}),
    ("spec", "ports"): (("port", "protocol"), {"protocol": "TCP"}),  # Service ports
}
_BUILTIN_LIST_MAPS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "containers": (("name",), {}),
    "initContainers": (("name",), {}),
    "ephemeralContainers": (("name",), {}),
    "env": (("name",), {}),
    "ports": (("containerPort", "protocol"), {"protocol": "TCP"}),  # container ports
    "volumes": (("name",), {}),
    "volumeMounts": (("mountPath",), {}),
    "volumeDevices": (("devicePath",), {}),
    "imagePullSecrets": (("name",), {}),
    "hostAliases": (("ip",), {}),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"), {}),
    "schedulingGates": (("name",), {}),
    "resourceClaims": (("name",), {}),
    "secrets": (("name",), {}),  # ServiceAccount.secrets
}
_BUILTIN_SETS_IN_PARENT = {("metadata", "finalizers")}
# Map-valued fields whose keys are data, not struct fields (each entry is owned on its own).
_BUILTIN_MAP_FIELDS = frozenset(
    {
        "labels",
        "annotations",
        "data",
        "binaryData",
        "stringData",
        "matchLabels",
        "nodeSelector",
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "overhead",
    }
)
# `+mapType=atomic` / `+structType=atomic` fields: replaced whole by an apply, owned as one leaf.
_BUILTIN_ATOMIC_IN_PARENT = {("spec", "selector")}  # LabelSelector, Service selector


class Shape:
    """One node's merge semantics (see the module docstring). Immutable, built on demand."""

    __slots__ = ()
    kind = "any"
    atomic = False
    list_type = "atomic"
    keys: tuple[str, ...] = ()
    key_defaults: Mapping[str, Any] = {}

    def child(self, key: str) -> tuple[Shape, bool]:
        return DEDUCED, False

    @property
    def item(self) -> Shape:
        return DEDUCED


class _Deduced(Shape):
    """No schema: maps are granular (entries are members), lists and scalars atomic."""

    __slots__ = ()


class _Scalar(Shape):
    __slots__ = ()
    kind = "scalar"
    atomic = True


DEDUCED: Shape = _Deduced()
SCALAR: Shape = _Scalar()


# --------------------------------------------------------------------------------- built-in kinds
class BuiltinShape(Shape):
    """A node of a built-in object, named by its field and its parent's field."""

    __slots__ = ("field", "parent")

    def __init__(self, parent: str, field: str) -> None:
        self.parent, self.field = parent, field

    @property
    def atomic(self) -> bool:  # type: ignore[override]
        return (self.parent, self.field) in _BUILTIN_ATOMIC_IN_PARENT

    @property
    def list_type(self) -> str:  # type: ignore[override]
        if (self.parent, self.field) in _BUILTIN_SETS_IN_PARENT:
            return "set"
        return "map" if self._list_map() is not None else "atomic"

    @property
    def keys(self) -> tuple[str, ...]:  # type: ignore[override]
        found = self._list_map()
        return found[0] if found else ()

    @property
    def key_defaults(self) -> Mapping[str, Any]:  # type: ignore[override]
        found = self._list_map()
        return found[1] if found else {}

    def _list_map(self) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        found = _BUILTIN_LIST_MAPS_IN_PARENT.get((self.parent, self.field))
        if found is None and (self.parent, self.field) not in _BUILTIN_LIST_MAPS_IN_PARENT:
            if self.field == "ports" and self.parent == "spec":
                return None
            found = _BUILTIN_LIST_MAPS.get(self.field)
        return found

    def child(self, key: str) -> tuple[Shape, bool]:
        if self.field in _BUILTIN_MAP_FIELDS:
            return SCALAR, False  # label values, ConfigMap data, quantities
        return BuiltinShape(self.field, key), True

    @property
    def item(self) -> Shape:
        # A list item's fields are looked up with the list's field as their parent.
        return BuiltinShape(self.field, "")


def builtin_root() -> Shape:
    return BuiltinShape("", "")


# ------------------------------------------------------------------------------- custom resources
class SchemaShape(Shape):
    """A node of a custom resource, from its (structural) OpenAPI v3 schema."""

    __slots__ = ("schema",)

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema

    @property
    def kind(self) -> str:  # type: ignore[override]
        schema = self.schema
        if schema.get("x-kubernetes-int-or-string"):
            return "scalar"
        type_ = schema.get("type")
        if type_ == "object":
            return "map"
        if type_ == "array":
            return "list"
        if type_ in ("string", "integer", "number", "boolean"):
            return "scalar"
        return "any"

    @property
    def atomic(self) -> bool:  # type: ignore[override]
        kind = self.kind
        if kind == "scalar":
            return True
        if kind == "map":
            return self.schema.get("x-kubernetes-map-type") == "atomic"
        if kind == "list":
            return self.list_type == "atomic"
        return False

    @property
    def list_type(self) -> str:  # type: ignore[override]
        return str(self.schema.get("x-kubernetes-list-type") or "atomic")

    @property
    def keys(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.schema.get("x-kubernetes-list-map-keys") or ())

    @property
    def key_defaults(self) -> Mapping[str, Any]:  # type: ignore[override]
        item = self.schema.get("items")
        properties = item.get("properties") if isinstance(item, Mapping) else None
        if not isinstance(properties, Mapping):
            return {}
        return {
            key: properties[key]["default"]
            for key in self.keys
            if isinstance(properties.get(key), Mapping) and "default" in properties[key]
        }

    def child(self, key: str) -> tuple[Shape, bool]:
        properties = self.schema.get("properties")
        if isinstance(properties, Mapping) and key in properties and isinstance(properties[key], Mapping):
            return SchemaShape(properties[key]), True
        additional = self.schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            return SchemaShape(additional), False
        return DEDUCED, False

    @property
    def item(self) -> Shape:
        items = self.schema.get("items")
        return SchemaShape(items) if isinstance(items, Mapping) else DEDUCED


class CustomRootShape(SchemaShape):
    """A custom resource's root: its schema, with kube's ObjectMeta for `metadata`."""

    __slots__ = ()

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "map"

    @property
    def atomic(self) -> bool:  # type: ignore[override]
        return False

    def child(self, key: str) -> tuple[Shape, bool]:
        if key == "metadata":
            return BuiltinShape("", "metadata"), True
        if key in ("apiVersion", "kind"):
            return SCALAR, True
        return super().child(key)


def root_shape(openapi_schema: Mapping[str, Any] | None) -> Shape:
    """The root shape of a kind: its CRD schema when it has one, else the built-in table."""
    if isinstance(openapi_schema, Mapping):
        return CustomRootShape(openapi_schema)
    return builtin_root()
