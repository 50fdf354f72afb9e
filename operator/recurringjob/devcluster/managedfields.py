"""`metadata.managedFields`: who owns which field, kept on every write; server-side apply's core.

Every create, update and patch records an `Update` entry for its manager (the `fieldManager`
query parameter, else the User-Agent's product name, as kube-apiserver derives it): the fields the
write added or changed move to it from every other manager, removed fields leave every manager.
`apply` merges an applied configuration (operation `Apply`), prunes what the applier stopped
applying, and refuses (409) to change a value another manager owns unless forced, in which case
ownership moves. Entries are identified like kube's: manager + operation + subresource, plus the
apiVersion for Update entries; they are kept sorted like kube's (Apply first, then by time).

Status: a status-subresource write owns only `.status`; a main-resource write of a kind with a
status subresource never owns `.status` (kube's reset fields). Writes by the dev cluster's own
controllers (Job simulator, garbage collector) pass no `FieldWrite` and leave the entries alone.

Requests may carry `metadata.managedFields` on create/update: `[]` or `[{}]` resets them, a valid
list replaces them, anything else keeps the stored ones (kube's decodeLiveOrNew).
"""

from __future__ import annotations

import json
from typing import Any

from recurringjob.devcluster import apierrors
from recurringjob.devcluster.apply_merge import merge, prune
from recurringjob.devcluster.managedfields_sets import (
    MEMBER,
    FieldSet,
    applied_set,
    compare,
    difference,
    intersection,
    member_paths,
    union,
)
from recurringjob.devcluster.managedfields_shape import Shape, root_shape
from recurringjob.devcluster.registry import ResourceType

Obj = dict[str, Any]
Entry = dict[str, Any]
FIELD_MANAGER_MAX_LENGTH = 128
OPERATIONS = ("Apply", "Update")


class FieldWrite:
    """A write's manager. `applied`: entries an apply computed (stored as they are)."""

    __slots__ = ("applied", "manager")

    def __init__(self, manager: str, applied: list[Entry] | None = None) -> None:
        self.manager, self.applied = manager, applied


# ---------------------------------------------------------------------------------- manager names
def manager_of(field_manager: str | None, user_agent: str) -> str:
    """The fieldManager parameter, else the User-Agent up to its first '/' (kube's default)."""
    if field_manager:
        return field_manager
    return user_agent.split("/", 1)[0][:FIELD_MANAGER_MAX_LENGTH]


def field_manager_errors(value: str) -> list[dict[str, str]]:
    """kube's ValidateFieldManager causes for the `fieldManager` parameter."""
    causes = []
    if len(value.encode()) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(
            {
                "reason": "FieldValueTooLong",
                "field": "fieldManager",
                "message": f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes",
            }
        )
    for position, char in enumerate(value):
        if not char.isprintable():
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": "fieldManager",
                    "message": f"Invalid value: {json.dumps(value)}: invalid character "
                    f"U+{ord(char):04X} (at position {position})",
                }
            )
    return causes


# ------------------------------------------------------------------------------------- the shapes
_BUILTIN_ROOT = root_shape(None)


def shape_of(rt: ResourceType, obj: Obj) -> Shape:
    if rt.crd_name is None:
        return _BUILTIN_ROOT
    version = str(obj.get("apiVersion", "")).rpartition("/")[2] or rt.versions[0]
    return root_shape(rt.openapi.get(version))


def scope_of(rt: ResourceType, subresource: str | None) -> str:
    if subresource == "status":
        return "status"
    return "main" if rt.has_status else "all"


# ------------------------------------------------------------------------------------ the entries
def _identity(entry: Entry) -> tuple[str, str, str, str]:
    operation = entry.get("operation", "")
    api_version = "" if operation == "Apply" else entry.get("apiVersion", "")
    return (entry.get("manager", ""), operation, api_version, entry.get("subresource", ""))


def _sort_key(entry: Entry) -> tuple[str, str, str, str, str]:
    # RFC 3339 UTC times to the second sort as text.
    return (
        entry.get("operation", ""),
        entry.get("time", ""),
        entry.get("manager", ""),
        entry.get("apiVersion", ""),
        entry.get("subresource", ""),
    )


def _entry(
    manager: str, operation: str, api_version: str, time: str, fields: FieldSet, subresource: str | None
) -> Entry:
    entry: Entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


class InvalidManagedFields(ValueError):
    """Request-supplied managedFields that kube's object validation refuses (422)."""

    def __init__(self, causes: list[dict[str, str]]) -> None:
        super().__init__("; ".join(c["message"] for c in causes))
        self.causes = causes


_ABSENT: Any = object()


def base_entries(requested: Any, live: list[Entry]) -> list[Entry]:
    """What a write starts from: the stored entries, or the request's (see the module docstring)."""
    if requested is _ABSENT or requested is None or requested is live or requested == live:
        return live
    if not isinstance(requested, list):
        return live
    if not requested or (len(requested) == 1 and requested[0] == {}):
        return []
    causes = []
    if not all(_decodable(entry) for entry in requested):
        return live  # kube keeps the stored entries
    for index, entry in enumerate(requested):
        path = f"metadata.managedFields[{index}]"
        operation = entry.get("operation")
        if operation not in OPERATIONS:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"{path}.operation",
                    "message": f"Invalid value: {json.dumps(operation)}: must be `Apply` or `Update`",
                }
            )
        fields_type = entry.get("fieldsType")
        if fields_type and fields_type != "FieldsV1":
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": f"{path}.fieldsType",
                    "message": f"Invalid value: {json.dumps(fields_type)}: must be `FieldsV1`",
                }
            )
        for cause in field_manager_errors(str(entry.get("manager", ""))):
            causes.append(dict(cause, field=f"{path}.manager"))
    if causes:
        raise InvalidManagedFields(causes)
    return [e for e in requested if e.get("fieldsV1")]


_STRING_KEYS = ("manager", "operation", "apiVersion", "time", "fieldsType", "subresource")
_PATH_PREFIXES = ("f:", "k:", "v:", "i:")


def _decodable(entry: Any) -> bool:
    """Whether an entry decodes: string metadata and a FieldsV1 trie (path elements -> tries)."""
    if not isinstance(entry, dict):
        return False
    if any(not isinstance(entry.get(key, ""), str) for key in _STRING_KEYS):
        return False
    return _valid_fields(entry.get("fieldsV1", {}))


def _valid_fields(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    for key, sub in node.items():
        if key == MEMBER:
            if sub != {}:
                return False
        elif not (isinstance(key, str) and key.startswith(_PATH_PREFIXES) and _valid_fields(sub)):
            return False
    return True


def requested_of(meta: Obj) -> Any:
    return meta.get("managedFields", _ABSENT)


# --------------------------------------------------------------------------------------- updates
def record_update(
    rt: ResourceType,
    old: Obj | None,
    new: Obj,
    entries: list[Entry],
    manager: str,
    subresource: str | None,
    now: str,
) -> list[Entry]:
    """The entries after `manager` wrote `new` over `old` (None: a create) with a non-apply write."""
    changed, removed = compare(old or {}, new, shape_of(rt, new), scope_of(rt, subresource))
    if changed is None and removed is None:
        return entries
    api_version = str(new.get("apiVersion", ""))
    mine_id = (manager, "Update", api_version, subresource or "")
    result: list[Entry] = []
    same = True  # every entry kept as it is: return the very same list
    mine_entry: Entry | None = None
    mine: FieldSet | None = None
    for entry in entries:
        fields = entry.get("fieldsV1")
        if mine_entry is None and _identity(entry) == mine_id:
            mine_entry, mine = entry, difference(fields, removed)
            continue
        left = difference(difference(fields, changed), removed)
        if left is fields:
            result.append(entry)
            continue
        same = False
        if left is not None:
            result.append(dict(entry, fieldsV1=left))
    if changed is not None and difference(changed, mine) is not None:
        mine = union(mine, changed)
    if mine is not None:
        if mine_entry is not None and mine is mine_entry.get("fieldsV1") and mine_entry.get("time") == now:
            result.append(mine_entry)
        else:
            same = False
            result.append(_entry(manager, "Update", api_version, now, mine, subresource))
    elif mine_entry is not None:
        same = False
    if same:
        return entries
    if len(result) > 1:
        result.sort(key=_sort_key)
    return result


# ----------------------------------------------------------------------------------------- apply
def apply(
    rt: ResourceType,
    live: Obj | None,
    config: Obj,
    manager: str,
    force: bool,
    subresource: str | None,
    now: str,
) -> tuple[Obj, list[Entry]]:
    """(the merged object, its entries) for `manager` applying `config` to `live` (None: absent).

    Raises ShapeError for a configuration that does not fit the schema, ApiError 409 on conflicts.
    """
    live_obj = live or {}
    shape = shape_of(rt, config)
    scope = scope_of(rt, subresource)
    entries: list[Entry] = list((live_obj.get("metadata") or {}).get("managedFields") or [])
    config_set = applied_set(config, shape, scope)
    mine_id = (manager, "Apply", "", subresource or "")
    last: FieldSet | None = None
    others: FieldSet | None = None
    for entry in entries:
        if _identity(entry) == mine_id:
            last = entry.get("fieldsV1")
        else:
            others = union(others, entry.get("fieldsV1"))
    merged = merge(live_obj, config, shape)
    if last is not None:
        stale = difference(last, config_set)
        if stale is not None:
            merged = prune(merged, stale, union(others, config_set), shape)
    changed, removed = compare(live_obj, merged, shape, scope)
    result: list[Entry] = []
    conflicts: list[tuple[Entry, FieldSet]] = []
    previous_time = None
    for entry in entries:
        fields = entry.get("fieldsV1")
        if _identity(entry) == mine_id:
            previous_time = entry.get("time")
            continue
        taken = intersection(fields, changed)
        if taken is not None:
            conflicts.append((entry, taken))
        left = difference(difference(fields, changed), removed)
        if left is fields:
            result.append(entry)
        elif left is not None:
            result.append(dict(entry, fieldsV1=left))
    if conflicts and not force:
        raise conflict_error(conflicts)
    if config_set is not None:
        time = now if changed is not None or removed is not None or previous_time is None else previous_time
        result.append(
            _entry(manager, "Apply", str(config.get("apiVersion", "")), time, config_set, subresource)
        )
    result.sort(key=_sort_key)
    return merged, result


def _manager_text(entry: Entry) -> str:
    """kube's printManager: `"name"`, ` with subresource "status"`, ` using v1` for Update entries."""
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def conflict_error(conflicts: list[tuple[Entry, FieldSet]]) -> apierrors.ApiError:
    """409 Conflict in kube's wording, one FieldManagerConflict cause per conflicting field."""
    pairs = sorted(
        ((_manager_text(entry), path) for entry, fields in conflicts for path in member_paths(fields)),
        key=lambda pair: pair[0],
    )
    causes = [
        {"type": "FieldManagerConflict", "message": f"conflict with {manager}", "field": path}
        for manager, path in pairs
    ]
    if len(pairs) == 1:
        message = f"Apply failed with 1 conflict: conflict with {pairs[0][0]}: {pairs[0][1]}"
    else:
        lines: list[str] = []
        for manager in dict.fromkeys(manager for manager, _ in pairs):
            lines.append(f"conflicts with {manager}:")
            lines.extend(f"- {path}" for m, path in pairs if m == manager)
        message = f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines)
    return apierrors.ApiError(409, "Conflict", message, {"causes": causes})
