"""An in-memory stand-in for KubeApi.request: enough of the API server for the operator's unit tests.

Global integer resourceVersions, CAS on PUT, AlreadyExists on POST, NotFound, JSON patches,
deletion honouring finalizers (deletionTimestamp until the last one is removed), and scripted
failures (`fail_next`) to exercise retries and conflicts.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import jsonpatch
from recurringjob.runtime.kube import ApiError, NotLeader


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # path -> object
        self.calls: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, ApiError]] = []  # (method, path fragment, error)
        self._rv = itertools.count(1)
        self._uid = itertools.count(1)

    def fail_next(self, method: str, fragment: str, error: ApiError) -> None:
        self.failures.append((method, fragment, error))

    def put_object(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._uid)}")
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[path] = obj
        return copy.deepcopy(obj)

    def writes(self, method: str | None = None) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET" and (method is None or c[0] == method)]

    async def request(self, method: str, path: str, *, body: Any = None, query: Any = None,
                      content_type: str = "application/json", timeout: float = 0,  # noqa: ASYNC109
                      guard: Any = None) -> Any:
        if guard is not None and not guard():
            raise NotLeader()
        self.calls.append((method, path))
        for index, (m, fragment, error) in enumerate(self.failures):
            if m == method and fragment in path:
                del self.failures[index]
                raise error
        if method == "GET" and query and "labelSelector" in query:
            return {"items": self._list(path, str(query["labelSelector"]))}
        if method == "GET":
            if path not in self.objects:
                raise ApiError(404, "NotFound", path)
            return copy.deepcopy(self.objects[path])
        if method == "POST":
            name = body["metadata"].get("name") or f"{body['metadata']['generateName']}{next(self._uid)}"
            target = f"{path}/{name}"
            if target in self.objects:
                raise ApiError(409, "AlreadyExists", f"{name} already exists")
            body = {**body, "metadata": {**body["metadata"], "name": name}}
            return self.put_object(target, body)
        if method == "PUT":
            target = path.removesuffix("/status")
            current = self.objects.get(target)
            if current is None:
                raise ApiError(404, "NotFound", path)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv is not None and rv != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
            if path.endswith("/status"):
                new = {**current, "status": copy.deepcopy(body.get("status"))}
            else:
                new = {**copy.deepcopy(body), "status": current.get("status")}
            new["metadata"] = {**current["metadata"]}
            return self.put_object(target, new)
        if method == "PATCH" and content_type == "application/json-patch+json":
            current = self.objects.get(path)
            if current is None:
                raise ApiError(404, "NotFound", path)
            try:
                new = jsonpatch.apply_patch(current, body)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", str(exc)) from exc
            return self._settle(path, self.put_object(path, new))
        if method == "DELETE":
            if path not in self.objects:
                raise ApiError(404, "NotFound", path)
            current = self.objects[path]
            if current["metadata"].get("finalizers"):
                current["metadata"].setdefault("deletionTimestamp", "2030-01-01T00:00:00Z")
                return self.put_object(path, current)
            return self.objects.pop(path)
        raise AssertionError(f"unexpected {method} {path}")

    def _list(self, collection: str, selector: str) -> list[dict[str, Any]]:
        """Objects directly under `collection` whose labels match every `key=value` of the selector."""
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)

        def matches(obj: dict[str, Any]) -> bool:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            return all(labels.get(key) == value for key, value in wanted.items())

        return [copy.deepcopy(obj) for path, obj in sorted(self.objects.items())
                if path.rpartition("/")[0] == collection and matches(obj)]

    def _settle(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """An object being deleted goes once its last finalizer is removed."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.objects.pop(path, None)
        return obj
