"""Server-side apply on values: merging a configuration into the live object and pruning what an
applier stopped applying (apply_merge.py). Table-driven; inputs are never mutated."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from recurringjob.devcluster.apply_merge import extract, merge, prune
from recurringjob.devcluster.managedfields_shape import builtin_root

ROOT = builtin_root()


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


@pytest.mark.parametrize(
    ("live", "config", "expected"),
    [
        # granular maps merge key by key; null removes
        ({"data": {"a": "1", "b": "2"}}, {"data": {"b": "3", "c": "4"}},
         {"data": {"a": "1", "b": "3", "c": "4"}}),
        ({"data": {"a": "1", "b": "2"}}, {"data": {"a": None}}, {"data": {"b": "2"}}),
        # atomic lists and atomic structs are replaced
        ({"spec": {"args": ["a", "b"]}}, {"spec": {"args": ["c"]}}, {"spec": {"args": ["c"]}}),
        ({"spec": {"selector": {"matchLabels": {"a": "1"}, "x": 1}}},
         {"spec": {"selector": {"matchLabels": {"b": "2"}}}},
         {"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
        # list-maps merge items by key, item by item
        ({"spec": {"containers": [c("a", image="1", tty=True), c("b", image="1")]}},
         {"spec": {"containers": [c("a", image="2")]}},
         {"spec": {"containers": [c("a", image="2", tty=True), c("b", image="1")]}}),
        # live-only items keep their place among the shared ones; new items follow the config's order
        ({"spec": {"containers": [c("x"), c("a"), c("y"), c("b")]}},
         {"spec": {"containers": [c("a"), c("new"), c("b")]}},
         {"spec": {"containers": [c("x"), c("a"), c("new"), c("y"), c("b")]}}),
        # sets are unions
        ({"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["c", "a"]}},
         {"metadata": {"finalizers": ["c", "a", "b"]}}),
        # ports are keyed by containerPort + protocol (default TCP)
        ({"spec": {"containers": [c("m", ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"}])]}},
         {"spec": {"containers": [c("m", ports=[{"containerPort": 80},
                                                  {"containerPort": 80, "protocol": "UDP"}])]}},
         {"spec": {"containers": [c("m", ports=[{"containerPort": 80, "protocol": "TCP", "name": "http"},
                                                  {"containerPort": 80, "protocol": "UDP"}])]}}),
    ],
    ids=["map", "null-removes", "atomic-list", "atomic-struct", "list-map", "list-order", "set", "port-keys"],
)  # fmt: skip
def test_merge(live: dict[str, Any], config: dict[str, Any], expected: dict[str, Any]) -> None:
    live_before, config_before = copy.deepcopy(live), copy.deepcopy(config)
    assert merge(live, config, ROOT) == expected
    assert (live, config) == (live_before, config_before)


@pytest.mark.parametrize(
    ("value", "remove", "keep", "expected"),
    [
        # a stale field nobody else owns goes
        ({"data": {"a": "1", "b": "2"}}, {"f:data": {"f:b": {}}}, None, {"data": {"a": "1"}}),
        # owned by someone else: it stays
        ({"data": {"a": "1", "b": "2"}}, {"f:data": {"f:b": {}}}, {"f:data": {"f:b": {}}},
         {"data": {"a": "1", "b": "2"}}),
        # a stale list item goes; if another manager owns part of it, only that part stays
        ({"spec": {"containers": [c("a", image="1"), c("b", image="1", tty=True)]}},
         {"f:spec": {"f:containers": {'k:{"name":"b"}': {".": {}, "f:image": {}, "f:tty": {}}}}},
         None, {"spec": {"containers": [c("a", image="1")]}}),
        ({"spec": {"containers": [c("b", image="1", tty=True)]}},
         {"f:spec": {"f:containers": {'k:{"name":"b"}': {".": {}, "f:image": {}, "f:tty": {}}}}},
         {"f:spec": {"f:containers": {'k:{"name":"b"}': {"f:name": {}, "f:tty": {}}}}},
         {"spec": {"containers": [c("b", tty=True)]}}),
        # a map emptied by pruning and owned by nobody goes too
        ({"metadata": {"name": "x", "labels": {"a": "1"}}}, {"f:metadata": {"f:labels": {"f:a": {}}}}, None,
         {"metadata": {"name": "x"}}),
        # ...unless someone owns the map itself
        ({"metadata": {"name": "x", "labels": {"a": "1"}}}, {"f:metadata": {"f:labels": {"f:a": {}}}},
         {"f:metadata": {"f:labels": {}}}, {"metadata": {"name": "x", "labels": {}}}),
        # set values
        ({"metadata": {"finalizers": ["a", "b"]}}, {"f:metadata": {"f:finalizers": {'v:"a"': {}}}}, None,
         {"metadata": {"finalizers": ["b"]}}),
    ],
    ids=["stale", "owned-elsewhere", "stale-item", "item-partly-owned", "emptied-map", "owned-empty-map",
         "set"],
)  # fmt: skip
def test_prune(value: dict[str, Any], remove: Any, keep: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(value)
    assert prune(value, remove, keep, ROOT) == expected
    assert value == before


def test_prune_returns_the_same_object_when_nothing_goes() -> None:
    value = {"data": {"a": "1"}}
    assert prune(value, {"f:data": {"f:missing": {}}}, None, ROOT) is value


def test_extract_keeps_only_the_owned_parts() -> None:
    value = {"spec": {"a": 1, "b": {"c": 2, "d": 3}}}
    assert extract(value, {"f:spec": {"f:b": {"f:d": {}}}}, ROOT) == {"spec": {"b": {"d": 3}}}
    assert extract(value, {"f:spec": {".": {}}}, ROOT) == value
