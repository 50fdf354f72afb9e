"""JSON merge patch, JSON patch and strategic merge patch, as kube-apiserver applies them.

Error codes follow apiserver's `endpoints/handlers/patch.go`:

* JSON patch: a body that does not decode to a list of operations -> 400 BadRequest; more than
  10000 operations -> 413; any failure while applying (failed `test`, missing path, unknown op)
  -> 422 Invalid with the generic message "the server rejected our request due to an error in
  our request" (the server passes the detail as `serverMessage` but drops it).
* Merge patch: a body that is not a JSON object -> 400 BadRequest.
* Strategic merge patch: malformed directives (`$retainKeys`, `$setElementOrder`,
  `$deleteFromPrimitiveList`, unknown `$patch`) -> 400; lists of lists -> 422; anything else the
  merge code reports (e.g. a list item without its merge key) is a plain error -> 500 with reason
  "" (StatusReasonUnknown), exactly the message.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

MAX_JSON_PATCH_OPERATIONS = 10000
_INVALID_GENERIC = "the server rejected our request due to an error in our request"


class PatchError(Exception):
    """A patch the server refuses. `code`/`reason` are what kube-apiserver answers with.

    `message` is the precise failure; `status_message` is what kube puts into the Status body's
    `message` (for 422 JSON-patch failures kube replaces the detail with a generic sentence).
    """

    def __init__(self, message: str, code: int, reason: str | None = None, status_message: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason if reason is not None else _REASONS.get(code, "")
        self.status_message = status_message if status_message is not None else message

    def to_status(self) -> dict[str, Any]:
        """The metav1 Status body kube-apiserver sends for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.status_message,
            "code": self.code,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.code == 422:
            status["details"] = {}
        return status


_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid", 500: ""}


# ---------------------------------------------------------------------------------------- merge patch
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch. The patch must be a JSON object (kube decodes into an object).

    The result shares the subtrees the patch does not touch with `target`, and its new values with
    `patch` (stored objects are immutable and a request's patch is discarded after use): copying
    the whole object was the largest cost of a patch. Only the dicts along patched paths are new.
    """
    if not isinstance(patch, Mapping):
        raise PatchError("invalid JSON document", 400)
    return _merge(target, patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


# ----------------------------------------------------------------------------------------- JSON patch
def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch through the `jsonpatch` library, with kube's status codes."""
    if not isinstance(ops, list) or not all(isinstance(op, Mapping) for op in ops):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}",
            413,
        )
    try:
        compiled = [jsonpatch.JsonPatch([op]) for op in ops]
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError) as exc:
        raise PatchError(str(exc) or type(exc).__name__, 422, status_message=_INVALID_GENERIC) from exc
    document = copy.deepcopy(target)
    # One op at a time, so a failure names the op that failed (as evanphx/json-patch does).
    for op, single in zip(ops, compiled, strict=True):
        try:
            document = single.apply(document, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            detail = f"testing value {op.get('path')} failed: test failed"
            raise PatchError(detail, 422, status_message=_INVALID_GENERIC) from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError) as exc:
            detail = f"{op.get('op')} operation does not apply: {exc}"
            raise PatchError(detail, 422, status_message=_INVALID_GENERIC) from exc
    return document


# ---------------------------------------------------------------------------- strategic merge patch
# Directives (apimachinery/pkg/util/strategicpatch).
_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"

# List fields that merge instead of being replaced, by field name: the approximation of the
# `patchStrategy`/`patchMergeKey` struct tags of the built-in types. A merge key of None means a
# list of primitives merged as a set (metadata.finalizers). Keyed by (parent field, field) first,
# so same-named fields with different tags (spec.finalizers of a Namespace replaces) stay right.
# Every other list is replaced whole, as kube does for lists without a strategy: RBAC `rules` and
# `subjects`, args, tolerations, a PDB's selector. Deployments share the PodSpec keys below.
_MERGE_KEYS_IN_PARENT: dict[tuple[str, str], str | None] = {
    ("metadata", "finalizers"): None,
    ("metadata", "ownerReferences"): "uid",
    ("status", "conditions"): "type",
}
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name",
    "resourceClaims": "name",
    "secrets": "name",  # ServiceAccount.secrets
}
# Kinds whose objects take strategic merge patches; for custom resources kube answers 415.
BUILTIN_SMP_KINDS = frozenset(
    {
        "Pod",
        "Job",
        "CronJob",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Lease",
        "Event",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "PodTemplate",
        "Service",
        "Node",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
    }
)

_MISSING = object()


def strategic_merge_patch(target: Any, patch: Any, kind: str) -> Any:
    """Apply a strategic merge patch (client-side `kubectl apply` style) to a built-in object.

    `kind` is accepted for the contract; merge keys are looked up by field name for every kind.
    """
    del kind  # merge keys are approximated by field name, independent of the kind
    if not isinstance(patch, Mapping):
        raise PatchError("invalid JSON document", 400)
    original = dict(copy.deepcopy(target)) if isinstance(target, Mapping) else {}
    return _smp_map(original, patch, parent="")


def _merge_key_for(parent: str, field: str) -> tuple[bool, str | None]:
    """(merges?, merge key) for the list at `parent.field`."""
    if (parent, field) in _MERGE_KEYS_IN_PARENT:
        return True, _MERGE_KEYS_IN_PARENT[(parent, field)]
    if field == "ports" and parent == "spec":
        return True, "port"  # Service ports: ContainerPort lists live under containers instead
    if field in _MERGE_KEYS:
        return True, _MERGE_KEYS[field]
    return False, None


def _smp_map(original: dict[str, Any], patch: Mapping[str, Any], parent: str) -> Any:
    """Merge `patch` into `original` (owned, mutated) and return the result."""
    directive = patch.get(_PATCH, _MISSING)
    if directive is not _MISSING:
        if directive == "replace":
            return _smp_map({}, {k: v for k, v in patch.items() if k != _PATCH}, parent)
        if directive == "delete":
            return {}
        raise PatchError(f"Unknown patch type: {directive}", 400)
    if _RETAIN_KEYS in patch:
        _apply_retain_keys(original, patch)

    order_fields = {k[len(_SET_ORDER) :] for k in patch if k.startswith(_SET_ORDER)}
    for field in order_fields:
        _merge_list_field(original, patch, field, parent)

    for key, value in patch.items():
        if key == _RETAIN_KEYS or key.startswith(_SET_ORDER) or key in order_fields:
            continue
        if key.startswith(_DELETE_PRIMITIVES):
            _delete_from_primitive_list(original, key[len(_DELETE_PRIMITIVES) :], value)
            continue
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key, _MISSING)
        if isinstance(value, Mapping):
            base = current if isinstance(current, dict) else {}
            original[key] = _smp_map(base, value, parent=key)
        elif isinstance(value, list):
            if isinstance(current, list):
                _merge_list_field(original, patch, key, parent)
            else:
                original[key] = _smp_list([], value, parent, key)
        else:
            original[key] = copy.deepcopy(value)
    return original


def _apply_retain_keys(original: dict[str, Any], patch: Mapping[str, Any]) -> None:
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list):
        raise PatchError("invalid patch format of retainKeys", 400)
    allowed = set(retain)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_PRIMITIVES, _SET_ORDER)) or key in (_RETAIN_KEYS, _PATCH):
            continue
        if key not in allowed:
            raise PatchError("invalid patch format of retainKeys", 400)
    for key in list(original):
        if key not in allowed:
            del original[key]


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise PatchError("invalid patch format of primitive list", 400)
    current = original.get(field)
    if isinstance(current, list):
        original[field] = [item for item in current if item not in values]


def _merge_list_field(original: dict[str, Any], patch: Mapping[str, Any], field: str, parent: str) -> None:
    current = original.get(field)
    base = current if isinstance(current, list) else []
    patch_list = patch.get(field, _MISSING)
    if patch_list is None:
        original.pop(field, None)
        return
    merged = base if patch_list is _MISSING else _smp_list(base, patch_list, parent, field)
    if patch_list is _MISSING and not merged and field not in original:
        return  # an order directive alone does not create the field
    order = patch.get(_SET_ORDER + field, _MISSING)
    if order is not _MISSING:
        if not isinstance(order, list):
            raise PatchError("invalid patch type of setElementOrder list", 400)
        _, merge_key = _merge_key_for(parent, field)
        merged = _apply_element_order(merged, base, order, merge_key)
    original[field] = merged


def _smp_list(original: list[Any], patch: Any, parent: str, field: str) -> list[Any]:
    if not isinstance(patch, list):
        raise PatchError("invalid JSON document", 400)
    merges, merge_key = _merge_key_for(parent, field)
    if not merges:
        return [_strip_directives(item) for item in patch]
    if any(isinstance(item, list) for item in patch):
        raise PatchError("lists of lists are not supported", 422)
    if merge_key is None or not any(isinstance(item, Mapping) for item in patch):
        # A set of primitives (finalizers): union, original order first.
        result = list(original)
        result.extend(item for item in patch if item not in result)
        return result
    for item in patch:
        if isinstance(item, Mapping) and item.get(_PATCH) == "replace":
            return [_strip_directives(i) for i in patch if not (isinstance(i, Mapping) and _PATCH in i)]
    result = list(original)
    for item in patch:
        if not isinstance(item, Mapping):
            raise PatchError(f"unable to find api field for {field}: {item!r} is not a map", 500)
        directive = item.get(_PATCH)
        if merge_key not in item:
            raise PatchError(f"map: {_go_map(item)} does not contain declared merge key: {merge_key}", 500)
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, Mapping) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if directive == "delete":
            result = [
                old
                for old in result
                if not (isinstance(old, Mapping) and old.get(merge_key) == item[merge_key])
            ]
        elif directive is not None and directive != "merge":
            raise PatchError(f"Unknown patch type: {directive}", 400)
        elif index is None:
            result.append(_smp_map({}, item, parent=field))
        else:
            result[index] = _smp_map(copy.deepcopy(result[index]), item, parent=field)
    return result


def _apply_element_order(
    merged: list[Any], server: list[Any], order: list[Any], merge_key: str | None
) -> list[Any]:
    """Order like `$setElementOrder`: listed items in the listed order, server-only items interleaved
    where they stood relative to the listed ones in the live list (strategicpatch's normalizeElementOrder)."""

    def identity(item: Any) -> Any:
        if merge_key is not None and isinstance(item, Mapping):
            return _hashable(item.get(merge_key))
        return _hashable(item)

    order_ids = [identity(item) for item in order]
    position = {ident: i for i, ident in enumerate(order_ids)}
    server_ids = [identity(item) for item in server]
    server_position = {ident: i for i, ident in reversed(list(enumerate(server_ids)))}

    listed = sorted(
        (item for item in merged if identity(item) in position), key=lambda x: position[identity(x)]
    )
    server_only = sorted(
        (item for item in merged if identity(item) not in position),
        key=lambda x: server_position.get(identity(x), len(server_ids)),
    )
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(listed):
        if i >= len(server_only):
            result.append(listed[j])
            j += 1
        elif j >= len(listed):
            result.append(server_only[i])
            i += 1
        else:
            left = server_position.get(identity(server_only[i]))
            right = server_position.get(identity(listed[j]))
            # A server-only item goes first only if the live list had it before the listed item.
            if left is not None and right is not None and left < right:
                result.append(server_only[i])
                i += 1
            else:
                result.append(listed[j])
                j += 1
    return result


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _strip_directives(value: Any) -> Any:
    """A value taken whole from the patch: directives and nulls dropped (IgnoreUnmatchedNulls)."""
    if isinstance(value, Mapping):
        if value.get(_PATCH) == "delete":
            return {}
        return {k: _strip_directives(v) for k, v in value.items() if v is not None and not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _go_map(value: Any) -> str:
    # Mirror Go's %v of map[string]interface{} (sorted keys) for the merge-key error text.
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_map(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_map(v) for v in value) + "]"
    return str(value)
