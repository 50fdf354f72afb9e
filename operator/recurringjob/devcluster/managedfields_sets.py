"""Field sets in kube's `FieldsV1` encoding, computed and combined without leaving that encoding.

A field set is a trie of nested dicts keyed by path elements, exactly as `metadata.managedFields[].
fieldsV1` stores it: `f:<field>` (a struct field or map key), `k:<json object of the key fields>`
(an item of a `listType=map` list), `v:<json value>` (an item of a `listType=set` list), `i:<n>`
(an index). A node belongs to the set itself ("is a member") when it is a leaf (`{}`) or carries
the `"."` marker; a node that is not a member exists only for its descendants. So the stored
`fieldsV1` *is* the set: no decoding on a write, and unchanged subtrees stay shared.

- `applied_set(config, shape)`: the fields an applied configuration sets (kube's ToFieldSet: a
  struct field is a member only when it is a leaf; map entries, list items and leaves always are).
- `compare(old, new, shape)`: (changed, removed) between two objects: changed = added or modified,
  every added or removed node a member (kube's Compare), equal subtrees skipped by `==`.
- `union`, `difference` (not recursive: removing a node keeps its descendants), `intersection`.
- `member_paths(set)`: members as kube prints them (`.spec.containers[name="main"].image`).

Server-owned fields are never in a set: apiVersion, kind, the `metadata` node itself and its
name, namespace, uid, resourceVersion, generation, creationTimestamp, managedFields (kube's
stripMeta), plus what `status_scope` excludes (status writes own only `.status`, main writes of a
kind with a status subresource never own it).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from recurringjob.devcluster.managedfields_shape import Shape

FieldSet = dict[str, Any]  # a trie node; None stands for the empty set
MEMBER = "."
# Every leaf (and every "." marker) is this one dict: tries are never mutated once built, and a
# write allocates half as many dicts.
LEAF: FieldSet = {}
STRIPPED_METADATA = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "selfLink",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
_ROOT_SKIPPED = frozenset({"apiVersion", "kind"})


class ShapeError(ValueError):
    """An applied configuration that does not fit its schema (duplicate or keyless list items...)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


# ------------------------------------------------------------------------------- set operations
def is_member(node: FieldSet) -> bool:
    return not node or MEMBER in node


def _node(member: bool, children: FieldSet) -> FieldSet | None:
    if not children:
        return LEAF if member else None
    return intern({MEMBER: LEAF, **children} if member else children)


# Hash-consing: equal nodes built from the same (interned) children are one shared dict, so objects
# of the same shape share their field sets (memory, and far fewer objects for the garbage collector
# to scan). A node's key is its items with children by identity; the table keeps those children
# alive, so an identity is never reused while its key is in the table. Cleared when full.
_INTERNED: dict[tuple[tuple[str, int], ...], FieldSet] = {}
_INTERN_LIMIT = 50_000


def intern(node: FieldSet) -> FieldSet:
    key = tuple([(k, id(v)) for k, v in node.items()])
    found = _INTERNED.get(key)
    if found is not None:
        return found
    if len(_INTERNED) >= _INTERN_LIMIT:
        _INTERNED.clear()
    _INTERNED[key] = node
    return node


def _interned_or_none(node: FieldSet) -> FieldSet | None:
    return intern(node) if node else None


def union(a: FieldSet | None, b: FieldSet | None) -> FieldSet | None:
    if a is None or a is b:
        return b
    if b is None:
        return a
    member = is_member(a) or is_member(b)
    children = {k: v for k, v in a.items() if k != MEMBER}
    for key, sub in b.items():
        if key != MEMBER:
            children[key] = union(children.get(key), sub)
    return _node(member, children)


def difference(a: FieldSet | None, b: FieldSet | None) -> FieldSet | None:
    """Members of `a` not members of `b`; a removed member's descendants stay. `a` itself when
    nothing is removed (callers test identity to keep entries unchanged)."""
    if a is None or b is None:
        return a
    if a is b:
        return None
    was_member = is_member(a)
    member = was_member and not is_member(b)
    changed = member != was_member
    children: FieldSet = {}
    for key, sub in a.items():
        if key == MEMBER:
            continue
        other = b.get(key)
        if other is None:
            children[key] = sub
            continue
        left = difference(sub, other)
        if left is not sub:
            changed = True
        if left is not None:
            children[key] = left
    return _node(member, children) if changed else a


def intersection(a: FieldSet | None, b: FieldSet | None) -> FieldSet | None:
    if a is None or b is None:
        return None
    member = is_member(a) and is_member(b)
    children: FieldSet = {}
    for key, sub in a.items():
        if key != MEMBER and key in b:
            both = intersection(sub, b[key])
            if both is not None:
                children[key] = both
    return _node(member, children)


# --------------------------------------------------------------------------------- path elements
def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def item_key(item: Any, shape: Shape) -> str | None:
    """The path element of a list item of a granular list (`k:`/`v:`), or None if it has none."""
    if shape.list_type == "set":
        if isinstance(item, dict | list):
            return None
        return "v:" + _json(item)
    if not isinstance(item, dict):
        return None
    fields = {}
    for name in sorted(shape.keys):
        if name in item and item[name] is not None:
            fields[name] = item[name]
        elif name in shape.key_defaults:
            fields[name] = shape.key_defaults[name]
        else:
            return None
    if not fields or any(isinstance(v, dict | list) for v in fields.values()):
        return None
    return "k:" + _json(fields)


def element_text(key: str) -> str:
    """A path element as kube prints it in conflicts: `.name`, `[name="main"]`, `[="x"]`, `[0]`."""
    kind, _, rest = key.partition(":")
    if kind == "f":
        return "." + rest
    if kind == "k":
        fields = json.loads(rest)
        return "[" + ",".join(f"{name}={_json(value)}" for name, value in fields.items()) + "]"
    if kind == "v":
        return "[=" + rest + "]"
    return "[" + rest + "]"


def member_paths(fields: FieldSet | None, prefix: str = "") -> Iterator[str]:
    """Every member's path, depth first in key order."""
    if fields is None:
        return
    for key in sorted(k for k in fields if k != MEMBER):
        sub = fields[key]
        path = prefix + element_text(key)
        if is_member(sub):
            yield path
        yield from member_paths(sub, path)


# ----------------------------------------------------------------------------- sets of an object
def granular_kind(value: Any, shape: Shape) -> str:
    """ "map" | "list" (granular, walked into) or "leaf" (scalar or atomic, owned whole)."""
    if isinstance(value, dict):
        return "leaf" if shape.atomic or shape.kind in ("scalar", "list") else "map"
    if isinstance(value, list):
        if shape.list_type in ("set", "map") and shape.kind in ("list", "any"):
            return "list"
        return "leaf"
    return "leaf"


def list_items(value: list[Any], shape: Shape, strict: bool, path: str) -> dict[str, Any] | None:
    """A granular list's items by path element; None (treat as atomic) when they have none."""
    found: dict[str, Any] = {}
    for index, item in enumerate(value):
        key = item_key(item, shape)
        if key is None:
            if not strict:
                return None
            if shape.list_type == "set":
                raise ShapeError(f"{path}[{index}]", "a set may only hold scalar values")
            missing = [k for k in shape.keys if not isinstance(item, dict) or item.get(k) is None]
            if not missing:
                raise ShapeError(path, "associative list items must be objects with scalar keys")
            raise ShapeError(
                path,
                f'associative list with keys has an element that omits key field "{missing[0]}" '
                "(and doesn't have default value)",
            )
        if key in found:
            if not strict:
                return None
            raise ShapeError(path, f"duplicate entries for key {element_text(key)}")
        found[key] = item
    return found


def applied_set(config: dict[str, Any], shape: Shape, scope: str = "all") -> FieldSet | None:
    """The fields an applied configuration sets (ShapeError for lists that do not fit the schema)."""
    children: FieldSet = {}
    for key, value in config.items():
        if key in _ROOT_SKIPPED or not _in_scope(key, scope):
            continue
        child_shape, declared = shape.child(key)
        if key == "metadata" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if k not in STRIPPED_METADATA}
            sub = _applied(meta, child_shape, True, ".metadata")
            if sub:
                children["f:metadata"] = {k: v for k, v in sub.items() if k != MEMBER}
            continue
        sub = _applied(value, child_shape, declared, "." + key)
        if sub is not None:
            children["f:" + key] = sub
    return children or None


def _applied(value: Any, shape: Shape, declared: bool, path: str) -> FieldSet | None:
    kind = granular_kind(value, shape)
    if kind == "map":
        children: FieldSet = {}
        for key, sub_value in value.items():
            child_shape, child_declared = shape.child(key)
            sub = _applied(sub_value, child_shape, child_declared, f"{path}.{key}")
            if sub is not None:
                children["f:" + key] = sub
        return _node(not declared or not value, children)
    if kind == "list":
        items = list_items(value, shape, True, path)
        assert items is not None
        item_shape = shape.item
        children = {}
        for key, item in items.items():
            sub = _applied(item, item_shape, False, path + element_text(key))
            children[key] = sub if sub is not None else LEAF
        return _node(not declared or not value, children)
    return LEAF


def full_set(value: Any, shape: Shape) -> FieldSet:
    """Every node of a value, each a member (what an added or removed subtree contributes)."""
    if not isinstance(value, dict | list):
        return {}  # the common case, decided without asking the shape
    kind = granular_kind(value, shape)
    if kind == "map" and isinstance(value, dict):
        children = {
            "f:" + k: full_set(v, shape.child(k)[0]) if isinstance(v, dict | list) else LEAF
            for k, v in value.items()
        }
        return _node(True, children) or LEAF
    if kind == "list" and isinstance(value, list):
        items = list_items(value, shape, False, "")
        if items is None:
            return LEAF
        item_shape = shape.item
        return _node(True, {k: full_set(v, item_shape) for k, v in items.items()}) or LEAF
    return LEAF


def _in_scope(key: str, scope: str) -> bool:
    """scope: "all" | "main" (a kind with a status subresource: never .status) | "status" (only .status)."""
    if scope == "main":
        return key != "status"
    if scope == "status":
        return key == "status"
    return True


# ------------------------------------------------------------------------------------ comparison
def compare(
    old: dict[str, Any], new: dict[str, Any], shape: Shape, scope: str = "all"
) -> tuple[FieldSet | None, FieldSet | None]:
    """(changed, removed) field sets between two objects (the root; server fields skipped)."""
    changed: FieldSet = {}
    removed: FieldSet = {}
    for key, after in new.items():
        if key in _ROOT_SKIPPED or not _in_scope(key, scope):
            continue
        before = old.get(key, _ABSENT)
        if before is after or before == after:
            continue
        child_shape, _ = shape.child(key)
        if key == "metadata" and isinstance(before, dict | _Absent) and isinstance(after, dict):
            meta_before: dict[str, Any] = {} if isinstance(before, _Absent) else before
            c, r = _compare_map(meta_before, after, child_shape, STRIPPED_METADATA)
        else:
            c, r = _compare_child(before, after, child_shape)
        if c is not None:
            changed["f:" + key] = c
        if r is not None:
            removed["f:" + key] = r
    for key, before in old.items():
        if key not in new and key not in _ROOT_SKIPPED and _in_scope(key, scope):
            removed["f:" + key] = full_set(before, shape.child(key)[0])
    return _interned_or_none(changed), _interned_or_none(removed)


class _Absent:
    __slots__ = ()


_ABSENT: Any = _Absent()


def _compare_child(before: Any, after: Any, shape: Shape) -> tuple[FieldSet | None, FieldSet | None]:
    """(changed, removed) node sets for one child that differs (either side may be _ABSENT)."""
    if before is _ABSENT:
        return full_set(after, shape), None
    if after is _ABSENT:
        return None, full_set(before, shape)
    return _compare_values(before, after, shape)


def _compare_values(before: Any, after: Any, shape: Shape) -> tuple[FieldSet | None, FieldSet | None]:
    kind_before, kind_after = granular_kind(before, shape), granular_kind(after, shape)
    if kind_before == kind_after == "map":
        return _compare_map(before, after, shape)
    if kind_before == kind_after == "list":
        old_items, new_items = list_items(before, shape, False, ""), list_items(after, shape, False, "")
        if old_items is not None and new_items is not None:
            return _compare_items(old_items, new_items, shape.item)
    # A leaf changed, or the value changed shape: the node is modified, what it held is gone.
    gone = None
    if kind_before != "leaf":
        gone = {k: v for k, v in full_set(before, shape).items() if k != MEMBER} or None
    return LEAF, gone


def _compare_map(
    before: dict[str, Any], after: dict[str, Any], shape: Shape, skipped: frozenset[str] = frozenset()
) -> tuple[FieldSet | None, FieldSet | None]:
    changed: FieldSet = {}
    removed: FieldSet = {}
    for key, value in after.items():
        if key in skipped:
            continue
        old_value = before.get(key, _ABSENT)
        if old_value is value or old_value == value:
            continue
        if not isinstance(value, dict | list) and not isinstance(old_value, dict | list):
            changed["f:" + key] = LEAF  # a scalar added or modified: no shape needed
            continue
        c, r = _compare_child(old_value, value, shape.child(key)[0])
        if c is not None:
            changed["f:" + key] = c
        if r is not None:
            removed["f:" + key] = r
    for key, old_value in before.items():
        if key not in after and key not in skipped:
            removed["f:" + key] = (
                full_set(old_value, shape.child(key)[0]) if isinstance(old_value, dict | list) else LEAF
            )
    return _interned_or_none(changed), _interned_or_none(removed)


def _compare_items(
    before: dict[str, Any], after: dict[str, Any], item_shape: Shape
) -> tuple[FieldSet | None, FieldSet | None]:
    changed: FieldSet = {}
    removed: FieldSet = {}
    for key, item in after.items():
        old_item = before.get(key, _ABSENT)
        if old_item is item or old_item == item:
            continue
        c, r = _compare_child(old_item, item, item_shape)
        if c is not None:
            changed[key] = c
        if r is not None:
            removed[key] = r
    for key, old_item in before.items():
        if key not in after:
            removed[key] = full_set(old_item, item_shape)
    return _interned_or_none(changed), _interned_or_none(removed)
