"""An in-memory stand-in for the kubectl plugin's Client (RjApi): one namespace of RecurringJobs with
kube's optimistic concurrency — every write bumps resourceVersion, a PUT naming an older one gets 409 —
merge patches where null deletes, and hooks that play the other side: `before_put` (another writer
racing the client) and `on_get` (an operator moving status on between polls)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from recurringjob.cli.plugin_client import Conflict, NotFound


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeRjApi:
    def __init__(self, namespace: str = "default") -> None:
        self.namespace = namespace
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.before_put: list[Callable[[FakeRjApi], None]] = []  # each runs once, before one PUT
        self.on_get: Callable[[dict[str, Any]], None] | None = None  # may edit the stored object
        self._rv = itertools.count(100)

    def add(self, rj: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(rj))
        obj.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        return self._store(obj)

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[obj["metadata"]["name"]] = obj
        return copy.deepcopy(obj)

    def edit(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Another client's (or the operator's) write: changes the object and its resourceVersion."""
        obj = copy.deepcopy(self.objects[name])
        change(obj)
        self._store(obj)

    def _current(self, name: str) -> dict[str, Any]:
        if name not in self.objects:
            raise NotFound(f'recurringjob "{name}" not found in namespace "{self.namespace}"')
        return self.objects[name]

    def get_rj(self, name: str) -> dict[str, Any]:
        self.calls.append(("GET", name))
        current = self._current(name)
        if self.on_get is not None:
            self.on_get(current)
        return copy.deepcopy(current)

    def replace_rj(self, rj: Mapping[str, Any]) -> dict[str, Any]:
        name = rj["metadata"]["name"]
        self.calls.append(("PUT", name))
        if self.before_put:
            self.before_put.pop(0)(self)
        current = self._current(name)
        if rj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on recurringjobs "{name}": the object has been '
                           "modified; please apply your changes to the latest version and try again")
        # the main resource ignores status, as with the status subresource
        new = {**copy.deepcopy(dict(rj)), "status": copy.deepcopy(current.get("status"))}
        return self._store(new)

    def patch_rj(self, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("PATCH", name))
        current = self._current(name)
        new = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
        return self._store(new)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]
