"""Pure builders for the Jobs a RecurringJob launches: deterministic names and manifests.

The Job name is derived only from the RecurringJob's name and the occurrence time, so a second
attempt to launch the same occurrence collides on AlreadyExists instead of running twice.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from recurringjob import GROUP, KIND, VERSION
from recurringjob.core.timeutil import format_rfc3339, from_epoch_seconds, to_epoch_seconds

NAME_LABEL = f"{GROUP}/name"
SCHEDULED_TIME_ANNOTATION = f"{GROUP}/scheduled-time"  # the nominal occurrence time
FIRE_TIME_ANNOTATION = f"{GROUP}/fire-time"  # when it was due to launch: nominal + jitter
TRIGGER_ID_ANNOTATION = f"{GROUP}/trigger-id"  # the trigger or backfill request that launched it
TRIGGER_KIND_ANNOTATION = f"{GROUP}/trigger-kind"  # schedule | trigger | backfill
TRIGGER_JOB_INFIX = "-t-"
# Held on every Job we create until its outcome is booked and no create of its name can still be
# in flight: while the Job object exists its name is taken, so a late or repeated create of the
# same occurrence gets AlreadyExists, and "claimed but missing" can only mean "never created".
OCCURRENCE_LOCK_FINALIZER = f"{GROUP}/occurrence-lock"
MAX_NAME_LENGTH = 63
MAX_LABEL_VALUE_LENGTH = 63
_HASH_LENGTH = 8
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def job_name(rj_name: str, t: datetime) -> str:
    """`<rj>-<unix seconds of t>`: a DNS label of at most 63 characters.

    A RecurringJob name that is too long, or is not itself a DNS label (it may contain dots),
    becomes a truncated, sanitised prefix plus an 8-character hash of the full name, so two
    different names never share Jobs.
    """
    return _with_suffix(rj_name, f"-{to_epoch_seconds(t)}")


def trigger_job_name(rj_name: str, request_id: str) -> str:
    """`<rj>-t-<id>` for a trigger request: a function of the id alone, so launching one request
    twice collides on AlreadyExists. Ids longer than 20 characters are hashed to keep room."""
    tail = request_id if len(request_id) <= 20 else hashlib.sha256(request_id.encode()).hexdigest()[:12]
    return _with_suffix(rj_name, f"{TRIGGER_JOB_INFIX}{tail}")


def _with_suffix(rj_name: str, suffix: str) -> str:
    if _DNS_LABEL.match(rj_name) and len(rj_name) + len(suffix) <= MAX_NAME_LENGTH:
        return rj_name + suffix
    digest = hashlib.sha256(rj_name.encode()).hexdigest()[:_HASH_LENGTH]
    room = MAX_NAME_LENGTH - len(suffix) - _HASH_LENGTH - 1
    prefix = re.sub(r"[^a-z0-9-]", "-", rj_name.lower())[:room].strip("-")
    return f"{prefix}-{digest}{suffix}" if prefix else f"{digest}{suffix}"


def name_label_value(rj_name: str) -> str:
    """The `recurringjob.dev/name` label value: the name itself when it is a valid label value
    (RecurringJob names may have up to 253 characters and dots), else a prefix plus a hash."""
    if len(rj_name) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE.match(rj_name):
        return rj_name
    digest = hashlib.sha256(rj_name.encode()).hexdigest()[:_HASH_LENGTH]
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", rj_name)[: MAX_LABEL_VALUE_LENGTH - _HASH_LENGTH - 1]
    prefix = prefix.rstrip("-_.")
    return f"{prefix}-{digest}" if prefix and prefix[0].isalnum() else digest


def scheduled_time_from_name(rj_name: str, name: str) -> datetime | None:
    """The occurrence time encoded in a Job name made by `job_name(rj_name, ...)`, else None."""
    _, _, digits = name.rpartition("-")
    if not digits.isdigit() or len(digits) > 12:
        return None
    t = from_epoch_seconds(int(digits))
    return t if job_name(rj_name, t) == name else None


def build_job(rj: Mapping[str, Any], t: datetime, *, fire_time: datetime | None = None,
              kind: str = "schedule", request_id: str | None = None) -> dict[str, Any]:
    """The batch/v1 Job for occurrence `t` of RecurringJob `rj` (the dict the API returns).

    `kind` schedule and backfill name the Job after `t` (a backfilled time collides with the same
    scheduled occurrence); a trigger's Job is named after its request id."""
    metadata = rj.get("metadata") or {}
    template = (rj.get("spec") or {}).get("jobTemplate") or {}
    template_metadata = template.get("metadata") or {}
    name = str(metadata.get("name", ""))
    labels = {str(k): str(v) for k, v in (template_metadata.get("labels") or {}).items()}
    labels[NAME_LABEL] = name_label_value(name)  # ours wins; ownership itself is the ownerReference
    annotations = {str(k): str(v) for k, v in (template_metadata.get("annotations") or {}).items()}
    annotations[SCHEDULED_TIME_ANNOTATION] = format_rfc3339(t)
    annotations[FIRE_TIME_ANNOTATION] = format_rfc3339(fire_time or t)
    annotations[TRIGGER_KIND_ANNOTATION] = kind
    if request_id is not None:
        annotations[TRIGGER_ID_ANNOTATION] = request_id
    job_metadata: dict[str, Any] = {
        "name": trigger_job_name(name, request_id) if kind == "trigger" and request_id else job_name(name, t),
        "labels": labels,
        "annotations": annotations,
        "finalizers": [OCCURRENCE_LOCK_FINALIZER],
        "ownerReferences": [
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "name": name,
                "uid": metadata.get("uid", ""),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if metadata.get("namespace"):
        job_metadata["namespace"] = metadata["namespace"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": job_metadata,
        "spec": copy.deepcopy(dict(template.get("spec") or {})),
    }
