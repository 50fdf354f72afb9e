"""`meta.k8s.io/v1` Tables, as kube-apiserver returns them for `Accept: ...;as=Table;v=v1;g=meta.k8s.io`.

Custom resources follow apiextensions' tableconvertor: a Name column, then the CRD's
`additionalPrinterColumns` (or a single Age column when it lists none); a cell is the *first*
JSONPath match; `date` cells are ages ("5m2s"), rendered by the server. Built-in kinds get the
columns of kube's internal printers (a faithful subset), other kinds the default convertor's
Name + "Created At".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
    "not guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. "
    "It is represented in RFC3339 form and is in UTC."
)
INCLUDE_OBJECT_CHOICES = ("None", "Metadata", "Object")

Obj = Mapping[str, Any]


# ------------------------------------------------------------------------------------ time helpers
def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: "45s", "5m2s", "3h10m", "2d4h", "3y12d"."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m" if whole % 60 == 0 else f"{minutes}m{whole % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any, now: datetime) -> str:
    """metatable.ConvertToHumanReadableDateType: "<unknown>" without a time, "<invalid>" if unparsable."""
    try:
        moment = _parse_time(timestamp)
    except ValueError:
        return "<invalid>"
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


# ------------------------------------------------------------------------------------------ JSONPath
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(\*|-?\d+)\s*\]|\.\*")


def jsonpath_find(obj: Any, path: str) -> list[Any]:
    """All matches of a simple kube JSONPath (`.a.b`, `.a[0]`, `.a[*].b`, `['x.y']`), missing keys allowed.

    Raises ValueError for syntax outside that subset (a CRD column kube would reject)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path in ("", "."):
        return [obj]
    matches = [obj]
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            raise ValueError(f"unrecognized column definition {path!r}")
        position = match.end()
        key = match.group(1) or match.group(2) or match.group(3)
        index = match.group(4)
        found: list[Any] = []
        for current in matches:
            if key is not None:
                if isinstance(current, Mapping) and key in current:
                    found.append(current[key])
            elif index == "*" or match.group(0) == ".*":
                if isinstance(current, list):
                    found.extend(current)
                elif isinstance(current, Mapping):
                    found.extend(current[k] for k in sorted(current))
            elif isinstance(current, list):
                i = int(index or 0)
                if -len(current) <= i < len(current):
                    found.append(current[i])
        matches = found
    return matches


def _text(value: Any) -> str:
    # kube's jsonpath prints strings raw and everything else as JSON.
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _custom_cell(column_type: str, value: Any, now: datetime) -> Any:
    """apiextensions tableconvertor's cellForJSONValue (strings go through the JSONPath printer)."""
    if value is None:
        return None
    if column_type == "string":
        return _text(value)
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        return _age(value, now)
    return None


# ------------------------------------------------------------------------------- built-in printers
def _column(
    name: str, column_type: str = "string", description: str = "", priority: int = 0, fmt: str = ""
) -> dict:
    return {
        "name": name,
        "type": column_type,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


_NAME_COLUMN = _column("Name", "string", _NAME_DESCRIPTION, fmt="name")
_AGE_COLUMN = _column("Age", "string", _AGE_DESCRIPTION)
CellsFn = Callable[[Obj, datetime], list[Any]]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _has_condition(obj: Obj, condition_type: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == condition_type and c.get("status") == "True" for c in conditions)


def _job_cells(job: Obj, now: datetime) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    if _has_condition(job, "Complete"):
        state = "Complete"
    elif _has_condition(job, "Failed"):
        state = "Failed"
    elif _meta(job).get("deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(job, "Suspended"):
        state = "Suspended"
    elif _has_condition(job, "FailureTarget"):
        state = "FailureTarget"
    elif _has_condition(job, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    succeeded = status.get("succeeded") or 0
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(((end or now) - start).total_seconds())
    pod_spec = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(
        f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items())
    )
    return [
        state,
        completions,
        duration,
        _age(_meta(job).get("creationTimestamp"), now),
        ",".join(c.get("name", "") for c in pod_spec),
        ",".join(c.get("image", "") for c in pod_spec),
        selector or "<none>",
    ]


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = status.get("reason") or status.get("phase") or ""
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    for container in statuses:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated.get("reason"):
            reason = terminated["reason"]
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return [
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        str(restarts),
        _age(_meta(pod).get("creationTimestamp"), now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _event_cells(event: Obj, now: datetime) -> list[Any]:
    last = event.get("lastTimestamp") or event.get("eventTime") or _meta(event).get("creationTimestamp")
    count = event.get("count") or 1
    first = event.get("firstTimestamp") or last
    last_seen = _age(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {_age(first, now)})"
    involved = event.get("involvedObject") or event.get("regarding") or {}
    return [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        event.get("note") or event.get("message", ""),
    ]


def _age_of(obj: Obj, now: datetime) -> str:
    return _age(_meta(obj).get("creationTimestamp"), now)


_BUILTIN: dict[str, tuple[list[dict[str, Any]], CellsFn, bool]] = {
    # kind: (columns after Name, cells function, whether a Name column leads)
    "Job": (
        [
            _column("Status", description="Status of the job."),
            _column("Completions", description="The completion status of the job."),
            _column("Duration", description="Time required to complete the job."),
            _AGE_COLUMN,
            _column("Containers", description="Names of each container in the template.", priority=1),
            _column("Images", description="Images referenced by each container in the template.", priority=1),
            _column(
                "Selector", description="Query over pods that should match the replicas count.", priority=1
            ),
        ],
        _job_cells,
        True,
    ),
    "Pod": (
        [
            _column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
            _column("Status", description="The aggregate status of the containers in this pod."),
            _column(
                "Restarts", description="The number of times the containers in this pod have been restarted."
            ),
            _AGE_COLUMN,
            _column("IP", description="IP address assigned to the pod.", priority=1),
            _column("Node", description="Name of the node the pod is assigned to.", priority=1),
            _column("Nominated Node", description="Node nominated for preemption.", priority=1),
            _column("Readiness Gates", description="Readiness gates of the pod.", priority=1),
        ],
        _pod_cells,
        True,
    ),
    "Lease": (
        [_column("Holder", description="holderIdentity of the lease."), _AGE_COLUMN],
        lambda o, now: [(o.get("spec") or {}).get("holderIdentity") or "", _age_of(o, now)],
        True,
    ),
    "Namespace": (
        [_column("Status", description="The status of the namespace."), _AGE_COLUMN],
        lambda o, now: [(o.get("status") or {}).get("phase") or "", _age_of(o, now)],
        True,
    ),
    "ConfigMap": (
        [_column("Data", "integer", "Number of data in configmap."), _AGE_COLUMN],
        lambda o, now: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age_of(o, now)],
        True,
    ),
    "Secret": (
        [
            _column("Type", description="The type of the secret."),
            _column("Data", "integer", "The number of data in the secret."),
            _AGE_COLUMN,
        ],
        lambda o, now: [o.get("type") or "", len(o.get("data") or {}), _age_of(o, now)],
        True,
    ),
    "ServiceAccount": (
        [_column("Secrets", "integer", "Number of secrets."), _AGE_COLUMN],
        lambda o, now: [len(o.get("secrets") or []), _age_of(o, now)],
        True,
    ),
    "Event": (
        [
            _column("Last Seen", description="Time since the event was last seen."),
            _column("Type", description="Type of this event (Normal, Warning)."),
            _column("Reason", description="Why the action was taken."),
            _column("Object", description="The object this Event is about."),
            _column("Message", description="A human-readable description of the status of this operation."),
        ],
        _event_cells,
        False,
    ),
    "CustomResourceDefinition": (
        [_column("Created At", "date", _AGE_DESCRIPTION)],
        lambda o, now: [_meta(o).get("creationTimestamp") or ""],
        True,
    ),
}
# rest.DefaultTableConvertor: Name + "Created At" as an RFC3339 timestamp.
_DEFAULT: tuple[list[dict[str, Any]], CellsFn, bool] = (
    [_column("Created At", "date", _AGE_DESCRIPTION)],
    lambda o, now: [_meta(o).get("creationTimestamp") or ""],
    True,
)


# ------------------------------------------------------------------------------------------- table
def _row_object(obj: Obj, include_object: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": dict(_meta(obj))}


def _custom_columns(columns: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if not columns:  # apiextensions serves an Age column when a CRD declares none
        columns = [
            {
                "name": "Age",
                "type": "date",
                "jsonPath": ".metadata.creationTimestamp",
                "description": _AGE_DESCRIPTION,
            }
        ]
    return [
        {
            "name": c.get("name", ""),
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description")
            or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath', '')}",
            "priority": int(c.get("priority") or 0),
            "jsonPath": c.get("jsonPath", ""),
        }
        for c in columns
    ]


def build_table(
    objects: list[dict],
    columns: list[dict] | None,
    resource_version: str,
    kind: str,
    include_object: str = "Metadata",
    now: datetime | None = None,
    printer: tuple[list[dict[str, Any]], CellsFn, bool] | None = None,
) -> dict:
    """A Table of `objects`. `columns` are a CRD version's additionalPrinterColumns (`[]` = none
    declared), or None for a built-in kind's own printer (`printer`, else one of this module's).
    `include_object` is the request's `includeObject` (None|Metadata|Object; kubectl asks for Metadata)."""
    if include_object not in INCLUDE_OBJECT_CHOICES:
        raise ValueError(
            f"includeObject: Unsupported value: {include_object!r}: supported values: "
            + ", ".join(f'"{c}"' for c in INCLUDE_OBJECT_CHOICES)
        )
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    if columns is not None:
        custom = _custom_columns(columns)
        definitions = [_NAME_COLUMN, *({k: v for k, v in c.items() if k != "jsonPath"} for c in custom)]
        for obj in objects:
            cells: list[Any] = [_meta(obj).get("name", "")]
            for column in custom:
                try:
                    found = jsonpath_find(obj, column["jsonPath"])
                except ValueError:
                    found = []
                cells.append(_custom_cell(column["type"], found[0], now) if found else None)
            rows.append({"cells": cells, "object": _row_object(obj, include_object)})
    else:
        extra, cells_of, leading_name = printer or _BUILTIN.get(kind, _DEFAULT)
        definitions = [_NAME_COLUMN, *extra] if leading_name else [*extra, {**_NAME_COLUMN, "priority": 1}]
        for obj in objects:
            name = _meta(obj).get("name", "")
            values = cells_of(obj, now)
            cells = [name, *values] if leading_name else [*values, name]
            rows.append({"cells": cells, "object": _row_object(obj, include_object)})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
