"""Server-side apply on values: merge an applied configuration into the live object, prune fields a
manager stopped applying. Structured-merge-diff semantics as the schema (`Shape`) declares them:

- scalars and atomic maps/lists: the configuration's value replaces the live one;
- granular maps and structs: merged key by key; a `null` in the configuration removes the key;
- `listType=map` lists: items matched by their key fields (missing keys take the schema's default,
  e.g. a container port's protocol), merged item by item; `listType=set`: union of values.
  Order: the configuration's items in its order, live-only items kept where they stood relative
  to the items both share;
- pruning removes what the applier owned before and no longer applies, unless another manager
  owns it (or something below it: then only what the others own stays). A map or list emptied by
  pruning and owned by nobody goes too.

Values are never mutated: results share untouched subtrees with their inputs (stored objects are
immutable). ShapeError (managedfields_sets) reports a configuration that does not fit its schema.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from recurringjob.devcluster.managedfields_sets import (
    MEMBER,
    FieldSet,
    granular_kind,
    is_member,
    list_items,
)
from recurringjob.devcluster.managedfields_shape import Shape

_GONE: Any = object()


def merge(live: Any, config: Any, shape: Shape, path: str = "") -> Any:
    """`config` merged into `live` (either may be None)."""
    kind = granular_kind(config, shape)
    if kind == "map":
        live_map = live if isinstance(live, dict) and granular_kind(live, shape) == "map" else {}
        result = dict(live_map)
        for key, value in config.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = merge(live_map.get(key), value, shape.child(key)[0], f"{path}.{key}")
        return result
    if kind == "list":
        config_items = list_items(config, shape, True, path)
        assert config_items is not None  # strict: raises instead
        live_items = list_items(live, shape, False, path) if isinstance(live, list) else None
        if live_items is None:
            live_items = {}
        item_shape = shape.item
        merged = {
            key: merge(live_items.get(key), item, item_shape, path) for key, item in config_items.items()
        }
        return _ordered(list(live_items), live_items, list(config_items), merged)
    return config


def _ordered(
    live_keys: list[str], live_items: dict[str, Any], config_keys: list[str], merged: dict[str, Any]
) -> list[Any]:
    """Configuration items in its order; live-only items where they stood among the live ones."""
    position = {key: i for i, key in enumerate(live_keys)}
    result: list[Any] = []
    next_live = 0
    for key in config_keys:
        at = position.get(key)
        if at is not None and at >= next_live:
            result.extend(live_items[k] for k in live_keys[next_live:at] if k not in merged)
            next_live = at + 1
        result.append(merged[key])
    result.extend(live_items[k] for k in live_keys[next_live:] if k not in merged)
    return result


def prune(value: Any, remove: FieldSet, keep: FieldSet | None, shape: Shape) -> Any:
    """`value` without the members of `remove` that nobody in `keep` owns (at or below them).

    Returns `value` itself when nothing goes; _GONE is never returned at the root (see prune_object).
    """
    result = _prune(value, remove, keep, shape)
    return {} if result is _GONE else result


def _prune(value: Any, remove: FieldSet, keep: FieldSet | None, shape: Shape) -> Any:
    kind = granular_kind(value, shape)
    if kind == "map":
        result: dict[str, Any] | None = None
        for key, sub in remove.items():
            if key == MEMBER or not key.startswith("f:"):
                continue
            name = key[2:]
            if name not in value:
                continue
            child = _prune_child(value[name], sub, keep.get(key) if keep else None, shape.child(name)[0])
            if child is value[name]:
                continue
            if result is None:
                result = dict(value)
            if child is _GONE:
                del result[name]
            else:
                result[name] = child
        if result is None:
            return value
        return _GONE if not result and value and not (keep is not None and is_member(keep)) else result
    if kind == "list":
        items = list_items(value, shape, False, "")
        if items is None:
            return value
        item_shape = shape.item
        changed = False
        kept_items: list[Any] = []
        for key, item in items.items():
            sub = remove.get(key)
            child = (
                item if sub is None else _prune_child(item, sub, keep.get(key) if keep else None, item_shape)
            )
            changed = changed or child is not item
            if child is not _GONE:
                kept_items.append(child)
        if not changed:
            return value
        return _GONE if not kept_items and not (keep is not None and is_member(keep)) else kept_items
    return value


def _prune_child(value: Any, remove: FieldSet, keep: FieldSet | None, shape: Shape) -> Any:
    if is_member(remove):
        return _GONE if keep is None else extract(value, keep, shape)
    return _prune(value, remove, keep, shape)


def extract(value: Any, keep: FieldSet, shape: Shape) -> Any:
    """Only the parts of `value` that `keep` holds (a member keeps its whole subtree)."""
    if is_member(keep):
        return value
    kind = granular_kind(value, shape)
    if kind == "map":
        return {
            key[2:]: extract(value[key[2:]], sub, shape.child(key[2:])[0])
            for key, sub in keep.items()
            if key.startswith("f:") and key[2:] in value
        }
    if kind == "list":
        items = list_items(value, shape, False, "")
        if items is None:
            return value
        item_shape = shape.item
        return [extract(item, keep[key], item_shape) for key, item in items.items() if key in keep]
    return value
