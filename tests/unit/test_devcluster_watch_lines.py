"""Watch lines are encoded once per committed object and shared by every watcher."""

from __future__ import annotations

import json

from recurringjob.devcluster.watch import EventLines


def test_the_same_committed_object_is_encoded_once_for_every_watcher() -> None:
    lines = EventLines()
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "7"}}
    first = lines.line("MODIFIED", obj, "v1")
    assert lines.line("MODIFIED", obj, "v1") is first  # cached bytes, not a second encoding
    assert json.loads(first) == {"type": "MODIFIED", "object": obj}
    assert first.endswith(b"\n")


def test_type_version_and_object_identity_each_get_their_own_line() -> None:
    lines = EventLines()
    obj = {"apiVersion": "example.dev/v1", "kind": "Thing", "metadata": {"name": "a"}}
    assert json.loads(lines.line("DELETED", obj, "example.dev/v1"))["type"] == "DELETED"
    served = json.loads(lines.line("ADDED", obj, "example.dev/v2"))["object"]
    assert served["apiVersion"] == "example.dev/v2" and obj["apiVersion"] == "example.dev/v1"
    newer = dict(obj, metadata={"name": "a", "labels": {"x": "y"}})  # an equal-looking new version
    served = json.loads(lines.line("ADDED", newer, "example.dev/v1"))["object"]
    assert served["metadata"]["labels"] == {"x": "y"}


def test_the_cache_is_bounded() -> None:
    lines = EventLines(size=3)
    objects = [{"apiVersion": "v1", "metadata": {"name": str(i)}} for i in range(10)]
    for obj in objects:
        lines.line("ADDED", obj, "v1")
    assert len(lines._lines) == 3
    assert json.loads(lines.line("ADDED", objects[0], "v1"))["object"]["metadata"]["name"] == "0"
